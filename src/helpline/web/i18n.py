"""Translations (en, de, hu) from the .po catalogs, and picking the viewer's language."""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.core import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("en", "de", "hu")
CATALOGS = Path(__file__).parent / "translations"
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "hu": "Magyar"}


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog for a language, read straight from its .po file (no compile step)."""
    po = CATALOGS / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def negotiate(accept_language: str | None, default: str = "en") -> str:
    """The best of our languages for an Accept-Language header."""
    if not accept_language:
        return default
    weighted: list[tuple[float, str]] = []
    for part in accept_language.split(",")[:20]:
        piece = part.strip().split(";")
        tag = piece[0].strip()
        quality = 1.0
        for param in piece[1:]:
            if param.strip().startswith("q="):
                try:
                    quality = float(param.strip()[2:])
                except ValueError:
                    quality = 0.0
        try:
            language = Locale.parse(tag.replace("-", "_")).language if tag and tag != "*" else ""
        except (UnknownLocaleError, ValueError):
            continue
        weighted.append((quality, language))
    for _quality, language in sorted(weighted, key=lambda w: -w[0]):
        if language in LANGUAGES:
            return language
    return default


def gettext_for(language: str) -> gettext.NullTranslations:
    return translations(language if language in LANGUAGES else "en")
