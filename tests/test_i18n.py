"""Translations: every string in the source is translated into German and Hungarian, the catalogs are
sound, and the pages really speak the visitor's language.

A failure here after you added or changed a string: run

    python -m helpline.web.i18n_extract

then fill in the empty msgstr lines it lists in src/helpline/web/translations/{de,hu}/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import parse_mapping_cfg
from markupsafe import escape

from helpline.web import i18n_extract
from helpline.web.i18n import LANGUAGE_NAMES, gettext_for
from helpline.web.templating import i18n_context, make_environment

ROOT = Path(__file__).resolve().parent.parent
FIX = f"Run `{i18n_extract.COMMAND}` and translate the empty msgstr entries it lists."
LOCALES = i18n_extract.LOCALES
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")


@pytest.fixture(scope="module")
def template() -> Catalog:
    return i18n_extract.extract_catalog()


@pytest.fixture(scope="module")
def catalogs() -> dict[str, Catalog]:
    return {locale: i18n_extract.read_catalog(i18n_extract.po_path(locale), locale) for locale in LOCALES}


def _key(message: Message) -> str | tuple[str, str]:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return msgid if message.context is None else (msgid, message.context)


def _strings(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, (list, tuple)):
        return tuple(s or "" for s in message.string)
    return (message.string or "",)


def _ids(message: Message) -> tuple[str, ...]:
    return (message.id,) if isinstance(message.id, str) else tuple(message.id)


def _placeholders(text: str) -> list[str]:
    return sorted(p for p in PLACEHOLDER.findall(text) if p != "%%")


def _translated(catalogs: dict[str, Catalog]) -> Iterator[tuple[str, Message]]:
    for locale, catalog in catalogs.items():
        for message in catalog:
            if message.id and any(_strings(message)):
                yield locale, message


# --- the catalogs cover the source -----------------------------------------------------------


def test_babel_cfg_is_the_mapping_the_extractor_uses() -> None:
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh, "babel.cfg")
    assert method_map == i18n_extract.METHOD_MAP
    assert options_map == i18n_extract.OPTIONS_MAP


def test_extraction_finds_python_and_template_strings(template: Catalog) -> None:
    msgids = i18n_extract.extract_msgids()
    assert {"Send message", "Log in", "Please tell us your name.", "My conversations"} <= msgids
    files = {path for message in template for path, _line in message.locations}
    assert any(f.endswith(".py") for f in files) and any(f.endswith(".html") for f in files)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_msgid_in_the_source_is_translated(
    locale: str, template: Catalog, catalogs: dict[str, Catalog]
) -> None:
    catalog = catalogs[locale]
    missing = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)
        if found is None or found.fuzzy or not all(_strings(found)):
            where = ", ".join(sorted({path for path, _line in message.locations}))
            missing.append(f"  {_key(message)!r}  ({where})")
    assert not missing, (
        f"{len(missing)} string(s) have no {locale} translation in "
        f"{i18n_extract.po_path(locale).relative_to(ROOT)}:\n" + "\n".join(missing) + f"\n{FIX}"
    )


def test_no_translatable_text_is_built_at_run_time() -> None:
    """_(variable) or _(f"...") cannot be extracted, so it would stay English forever."""
    calls = i18n_extract.dynamic_calls()
    assert not calls, "gettext needs a literal text (use %(name)s placeholders instead):\n" + "\n".join(calls)


# --- the catalogs are sound ------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_parses_and_has_no_fuzzy_entries(locale: str) -> None:
    path = i18n_extract.po_path(locale)
    catalog = i18n_extract.read_catalog(path, locale)  # abort_invalid: a syntax error raises here
    assert str(catalog.locale) == locale
    assert not catalog.fuzzy, f"{path.relative_to(ROOT)}: the header is marked fuzzy"
    fuzzy = [_key(m) for m in catalog if m.id and m.fuzzy]
    assert not fuzzy, f"{path.relative_to(ROOT)}: fuzzy entries are ignored at run time; check them: {fuzzy}"
    assert "#, fuzzy" not in path.read_text(encoding="utf-8")
    problems = [f"{_key(m)!r}: {errors}" for m, errors in catalog.check()]
    assert not problems, "\n".join(problems)


def test_placeholders_in_translations_match_the_msgid(catalogs: dict[str, Catalog]) -> None:
    wrong = []
    for locale, message in _translated(catalogs):
        expected = _placeholders(_ids(message)[-1])
        for string in _strings(message):
            if string and _placeholders(string) != expected:
                wrong.append(f"  {locale}: {_key(message)!r} -> {string!r} (needs {expected or 'none'})")
    assert not wrong, "translations whose %(name)s placeholders differ from the msgid:\n" + "\n".join(wrong)


def test_translations_keep_the_msgids_edges(catalogs: dict[str, Catalog]) -> None:
    """No stray spaces around a translation, and an ellipsis (a field's hint, a progress label) stays."""
    wrong = []
    for locale, message in _translated(catalogs):
        msgid = _ids(message)[0]
        for string in _strings(message):
            if string != string.strip() or msgid.endswith("…") != string.endswith("…"):
                wrong.append(f"  {locale}: {msgid!r} -> {string!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_runtime_loads_the_catalog(locale: str) -> None:
    gettext = gettext_for(locale).gettext
    assert gettext("Send message") != "Send message"
    assert gettext("a string that is in no catalog") == "a string that is in no catalog"


# --- the pages speak the language ------------------------------------------------------------


def _t(language: str, msgid: str) -> str:
    text = gettext_for(language).gettext(msgid)
    assert text != msgid, f"{msgid!r} is not translated into {language}"
    return str(escape(text))


async def test_contact_form_follows_accept_language(client: httpx.AsyncClient, tenant_id: int) -> None:
    response = await client.get("/contact", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert response.status_code == 200
    assert '<html lang="de">' in response.text
    assert _t("de", "Send message") in response.text
    assert _t("de", "Contact us") in response.text
    assert "Send message" not in response.text


async def test_contact_form_follows_the_lang_parameter(client: httpx.AsyncClient, tenant_id: int) -> None:
    response = await client.get("/contact?lang=hu", headers={"Accept-Language": "de"})
    assert response.status_code == 200
    assert '<html lang="hu">' in response.text
    assert _t("hu", "Send message") in response.text
    assert _t("hu", "Attachment (optional)") in response.text
    assert "Send message" not in response.text


async def test_contact_form_is_english_by_default(client: httpx.AsyncClient, tenant_id: int) -> None:
    response = await client.get("/contact", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert response.status_code == 200
    assert "Send message" in response.text
    assert _t("de", "Send message") not in response.text and _t("hu", "Send message") not in response.text


async def test_contact_form_errors_come_from_python_in_the_visitors_language(
    client: httpx.AsyncClient, tenant_id: int
) -> None:
    response = await client.post(
        "/contact?lang=hu", data={"name": "", "email": "nope", "subject": "", "message": ""}
    )
    assert response.status_code == 422
    errors = ("Please tell us your name.", "Please enter a valid email address.", "Please add a subject.")
    for msgid in errors:
        assert _t("hu", msgid) in response.text


async def test_login_page_in_german(client: httpx.AsyncClient) -> None:
    response = await client.get("/login?lang=de")
    assert response.status_code == 200
    assert _t("de", "Log in") in response.text
    assert _t("de", "Password") in response.text
    assert ">Log in<" not in response.text


@pytest.mark.parametrize("language", LOCALES)
def test_thank_you_page_fills_the_email_placeholder(language: str) -> None:
    html = (
        make_environment()
        .get_template("webform/thanks.html")
        .render(
            **i18n_context(language),
            languages=LANGUAGE_NAMES,
            tenant=SimpleNamespace(name="Acme"),
            number=42,
            email="anna@example.hu",
        )
    )
    expected = gettext_for(language).gettext(
        "We will answer you at %(email)s. Please quote the reference number if you write to us again."
    ) % {"email": "anna@example.hu"}
    assert str(escape(expected)) in html
    assert "%(email)s" not in html
