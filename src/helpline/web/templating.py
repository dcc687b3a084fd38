"""Jinja2 set-up: one environment for every domain's templates, with i18n and time filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_timedelta
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from helpline.web.i18n import gettext_for

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [
    ROOT / "web" / "templates",
    *sorted(p for p in ROOT.glob("*/templates")),
    *sorted(p for p in ROOT.glob("channels/*/templates")),
]


def _local(value: datetime | None, time_zone: str = "UTC", language: str = "en", fmt: str = "short") -> str:
    if value is None:
        return ""
    try:
        zone = ZoneInfo(time_zone)
    except Exception:
        zone = ZoneInfo("UTC")
    return format_datetime(value.astimezone(zone), format=fmt, locale=language)


def _ago(value: datetime | None, language: str = "en") -> str:
    """A short relative age in the viewer's language (5m, 5 Min., 5 p) — a date after a week."""
    if value is None:
        return ""
    age = max(timedelta(0), datetime.now(UTC) - value)
    if age < timedelta(days=7):
        return format_timedelta(max(age, timedelta(minutes=1)), format="narrow", threshold=1.0, locale=language)
    return format_datetime(value, format="d MMM", locale=language)


def _highlight(snippet: str, marks: tuple[tuple[int, int], ...]) -> Markup:
    out, pos = [], 0
    for start, end in marks:
        if start < pos:
            continue
        out.append(escape(snippet[pos:start]))
        out.append(Markup("<mark>") + escape(snippet[start:end]) + Markup("</mark>"))
        pos = end
    out.append(escape(snippet[pos:]))
    return Markup("").join(out)


def _text_to_html(text: str) -> Markup:
    return Markup("<br>").join(escape(line) for line in text.split("\n"))


def make_environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(d)) for d in TEMPLATE_DIRS]),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = _local
    env.filters["ago"] = _ago
    env.filters["highlight"] = _highlight
    env.filters["text_to_html"] = _text_to_html
    return env


def i18n_context(language: str) -> dict[str, Any]:
    catalog = gettext_for(language)
    return {"_": catalog.gettext, "gettext": catalog.gettext, "ngettext": catalog.ngettext, "lang": language}
