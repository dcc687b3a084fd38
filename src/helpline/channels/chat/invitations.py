"""Proactive invitations: "after N seconds on a page like this, open the chat and say this".

A channel has an ordered list of rules (at most ``MAX_RULES``), each ``{"url", "seconds", "greeting"}``.
The widget takes the first rule whose ``url`` matches the page and, once the visitor has spent
``seconds`` on it (visible time), opens the panel with the ``greeting``. The server only checks and
stores the rules; matching happens in the browser (``static/widget.js``).

``url`` syntax (case ignored; the address without its ``#fragment``):

- with ``*``: a pattern for the whole address, ``*`` standing for any characters:
  ``*/pricing*`` matches ``https://shop.example/pricing?plan=pro``, ``*.example/de/*`` any German page;
- starting with ``/``: the start of the page's path: ``/pricing`` matches ``/pricing``, ``/pricing/team``
  (and ``/pricing-old``; write ``/pricing/`` for the folder only);
- starting with ``http://`` or ``https://``: the start of the whole address.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from helpline.errors import Invalid
from helpline.validation import TEXT_CONTROL
from helpline.validation import text_value as _string

MAX_RULES = 20
MAX_SECONDS = 3600
MAX_GREETING = 500
MAX_PATTERN = 500
RULE_FIELDS = ("url", "seconds", "greeting")
# No spaces, quotes or angle brackets: none belongs in an address, and they only ever come from a slip or an attack.
UNSAFE = re.compile(r"[\s<>\"'`\\\x00-\x1f\x7f]")


def _pattern(value: object, field: str) -> str:
    text = _string(value, field).strip()
    if not text:
        raise Invalid("enter the page: a path like /pricing, or a pattern like */pricing*", field=field)
    if len(text) > MAX_PATTERN:
        raise Invalid("is too long (at most %(limit)s characters)", field=field, limit=MAX_PATTERN)
    starts = text.startswith(("/", "*")) or text.lower().startswith(("http://", "https://"))
    if UNSAFE.search(text) or not starts:
        raise Invalid("must be a path like /pricing, an address starting with https://, or a pattern like "
                      "*/pricing*", field=field)
    return text


def _seconds(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SECONDS:
        raise Invalid("must be a whole number of seconds from 0 to %(limit)s", field=field, limit=MAX_SECONDS)
    return value


def _greeting(value: object, field: str) -> str:
    text = _string(value, field).replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise Invalid("write the greeting the visitor sees", field=field)
    if TEXT_CONTROL.search(text):
        raise Invalid("must be plain text, without control characters", field=field)
    if len(text) > MAX_GREETING:
        raise Invalid("is too long (at most %(limit)s characters)", field=field, limit=MAX_GREETING)
    return text


def check_invitations(value: object) -> list[dict[str, Any]]:
    """The rules as stored, in the order given; each error names ``invitations.<index>.<part>``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid("must be a list of invitation rules", field="invitations")
    if len(value) > MAX_RULES:
        raise Invalid("at most %(limit)s invitations", field="invitations", limit=MAX_RULES)
    rules: list[dict[str, Any]] = []
    for index, rule in enumerate(value):
        where = f"invitations.{index}"
        if not isinstance(rule, Mapping):
            raise Invalid('must be a rule like {"url": "/pricing", "seconds": 10, "greeting": "…"}', field=where)
        if set(rule) - set(RULE_FIELDS):
            raise Invalid("unknown field; a rule has url, seconds and greeting", field=where)
        rules.append({
            "url": _pattern(rule.get("url"), f"{where}.url"),
            "seconds": _seconds(rule.get("seconds", 0), f"{where}.seconds"),
            "greeting": _greeting(rule.get("greeting"), f"{where}.greeting"),
        })
    return rules
