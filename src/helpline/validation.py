"""Checks the services share for values that come from forms and the API (a field-named error each)."""

from __future__ import annotations

import re

from helpline.errors import Invalid

# Control characters, and the Unicode line and paragraph separators: never in a one-line value
# (they would break a mail header or a log line).
CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
# In multi-line text (signatures, greetings) tabs and line breaks are fine; other control characters are not.
TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


def text_value(value: object, name: str) -> str:
    """A string, or "" for None; anything else is refused naming the field."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid("must be text", field=name)
    return value


def one_line(value: object, name: str, limit: int) -> str:
    """One line of text: no CR/LF or other control characters, at most ``limit`` characters."""
    text = text_value(value, name).strip()
    if CONTROL.search(text):
        raise Invalid("must be one line, without control characters", field=name)
    if len(text) > limit:
        raise Invalid("is too long (at most %(limit)s characters)", field=name, limit=limit)
    return text
