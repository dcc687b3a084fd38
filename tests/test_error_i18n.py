"""Errors the services raise reach pages in the viewer's language, and the JSON API in English.

A DomainError carries an English msgid with %(name)s placeholders and the values for them:
`exc.message` is the English text (the API's `detail`), `exc.translated(gettext)` the page's text.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import httpx
import pytest
from markupsafe import escape

from helpline.accounts import service as accounts
from helpline.accounts.models import Role
from helpline.db import Database
from helpline.errors import Conflict, DomainError, Invalid, NotFound, TooLarge
from helpline.web import i18n_extract
from helpline.web.i18n import gettext_for
from tests.conftest import Person, make_person

PACKAGE = Path(i18n_extract.PACKAGE)
PLACEHOLDER = re.compile(r"%\((\w+)\)")


def german(exc: DomainError) -> str:
    """What a German page shows for `exc`, as it appears in the HTML."""
    text = exc.translated(gettext_for("de").gettext)
    assert text.lower() != exc.message.lower(), f"{exc.template!r} has no German translation"
    return str(escape(text))


async def log_in(client: httpx.AsyncClient, person: Person) -> None:
    response = await client.post("/login", data={"email": person.email, "password": person.password})
    assert response.status_code == 303, response.text


async def csrf_token(client: httpx.AsyncClient, page: str) -> str:
    response = await client.get(page)
    assert response.status_code == 200, response.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match, f"no csrf_token field on {page}"
    return match.group(1)


@pytest.fixture
async def german_agent(db: Database, tenant_id: int) -> Person:
    person = await make_person(db, tenant_id, "klara@acme.test", Role.agent, "Klara Kollegin")
    async with db.transaction() as session:
        await accounts.update_user(session=session, actor=person.actor, user_id=person.id, language="de")
    return person


# --- (a) the public contact form speaks the visitor's language ----------------------------------------


FORM = {"name": "Klaus Kunde", "email": "klaus@example.de", "subject": "Lieferung", "message": "Wo bleibt sie?"}


async def test_contact_form_shows_a_refused_attachment_in_german(
    client: httpx.AsyncClient, tenant_id: int
) -> None:
    response = await client.post(
        "/contact?lang=de", data=FORM, files={"attachment": ("rechnung.pdf", b"%PDF-1.4", "not/a/valid")}
    )
    assert response.status_code == 422
    assert '<html lang="de">' in response.text
    assert german(Invalid("not a valid content type")) in response.text
    assert "not a valid content type" not in response.text.lower()


async def test_contact_form_shows_an_oversize_attachment_in_german(
    client: httpx.AsyncClient, tenant_id: int, settings
) -> None:
    big = b"x" * (settings.attachment_max_bytes + 1)
    response = await client.post("/contact?lang=de", data=FORM, files={"attachment": ("gross.bin", big)})
    assert response.status_code == 422
    assert str(escape(gettext_for("de").gettext("The attachment is too large."))) in response.text
    assert "larger than" not in response.text and "too large" not in response.text


async def test_unknown_help_desk_error_page_is_in_the_visitors_language(
    client: httpx.AsyncClient, tenant_id: int
) -> None:
    response = await client.get("/contact?lang=de&brand=no-such-desk")
    assert response.status_code == 404
    assert '<html lang="de">' in response.text
    assert german(NotFound("there is no such help desk")) in response.text
    hungarian = await client.get("/contact?brand=no-such-desk", headers={"Accept-Language": "hu"})
    expected = NotFound("there is no such help desk").translated(gettext_for("hu").gettext)
    assert hungarian.status_code == 404 and str(escape(expected)) in hungarian.text


# --- (b) a logged-in agent sees errors in their own language ------------------------------------------


async def test_german_agent_sees_a_duplicate_contact_in_german(
    client: httpx.AsyncClient, german_agent: Person
) -> None:
    first = await client.post(
        "/api/v1/contacts",
        headers=german_agent.headers,
        json={"name": "Klaus", "email": "klaus@example.de"},
    )
    assert first.status_code == 201, first.text
    await log_in(client, german_agent)
    token = await csrf_token(client, "/contacts")
    response = await client.post(
        "/contacts", data={"name": "Klaus again", "email": "klaus@example.de", "csrf_token": token}
    )
    assert response.status_code == 409
    assert '<html lang="de">' in response.text
    expected = Conflict(
        "%(value)s belongs to another contact (#%(contact)s)",
        field="identities.email",
        value="klaus@example.de",
        contact=first.json()["id"],
    )
    assert german(expected) in response.text  # "klaus@example.de gehört zu einem anderen Kontakt (#1)"
    assert "belongs to another contact" not in response.text


async def test_german_agents_error_page_ignores_the_browsers_language(
    client: httpx.AsyncClient, german_agent: Person
) -> None:
    """The error page of a logged-in user follows their profile, not Accept-Language."""
    await log_in(client, german_agent)
    response = await client.get("/contacts/999999", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert german(NotFound("contact not found")) in response.text
    assert "contact not found" not in response.text.lower()


async def test_german_agents_htmx_toast_is_german(client: httpx.AsyncClient, german_agent: Person) -> None:
    await log_in(client, german_agent)
    token = await csrf_token(client, "/contacts")
    response = await client.post(
        "/conversations/1/merge", data={"number": "neun", "csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#toasts"
    assert german(Invalid("give the conversation's number, like #42")) in response.text


# --- (c) the JSON API keeps answering in English, with the field ---------------------------------------


async def test_api_answers_a_duplicate_user_in_english_with_the_field(
    client: httpx.AsyncClient, admin: Person, agent: Person
) -> None:
    response = await client.post(
        "/api/v1/users", headers={**admin.headers, "Accept-Language": "de"}, json={"email": agent.email}
    )
    assert response.status_code == 409
    assert response.json() == {"detail": f"a user with the email {agent.email} exists already", "field": "email"}


async def test_api_keeps_the_template_when_an_error_is_reraised_for_another_field(
    client: httpx.AsyncClient, admin: Person
) -> None:
    response = await client.get("/api/v1/contacts", params={"email": "no-at-sign"}, headers=admin.headers)
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "email" and body["detail"].startswith("not a valid email address: ")


# --- (d) every template formats, in every language -----------------------------------------------------


def _raised_templates() -> list[tuple[str, str, set[str]]]:
    """(where, template, keyword names) for every error built with a literal message under src/helpline."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            first = node.args[0]
            if name in i18n_extract.ERROR_KEYWORDS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                if any(k.arg is None for k in node.keywords):
                    continue  # **params: cannot be checked here
                names = {k.arg for k in node.keywords if k.arg and k.arg != "field"}
                found.append((f"{path.relative_to(PACKAGE)}:{node.lineno}", first.value, names))
    return found


RAISED = _raised_templates()


def test_the_scan_finds_the_raises() -> None:
    templates = {template for _where, template, _names in RAISED}
    assert len(RAISED) >= 80
    assert "a user with the email %(email)s exists already" in templates
    assert "not a valid content type" in templates


def test_every_placeholder_has_a_value_and_every_value_a_placeholder() -> None:
    wrong = [
        f"  {where}: {template!r} has {sorted(set(PLACEHOLDER.findall(template)))}, gets {sorted(names)}"
        for where, template, names in RAISED
        if set(PLACEHOLDER.findall(template)) != names
    ]
    assert not wrong, "errors whose %(name)s placeholders and keyword arguments differ:\n" + "\n".join(wrong)


@pytest.mark.parametrize("language", i18n_extract.LOCALES)
def test_every_translated_template_formats_with_its_values(language: str) -> None:
    gettext = gettext_for(language).gettext
    problems = []
    for where, template, names in RAISED:
        params: dict[str, object] = {name: f"<{name}>" for name in names}
        translation = gettext(template)
        if translation == template and not template.startswith("%("):
            problems.append(f"  {where}: {template!r} is not translated")
            continue
        try:
            text = translation % params if params else translation
        except (KeyError, ValueError, TypeError) as exc:
            problems.append(f"  {where}: {translation!r}: {exc!r}")
            continue
        assert all(f"<{name}>" in text for name in names), (where, text)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", i18n_extract.LOCALES)
def test_errors_with_params_translate_in_every_language(language: str) -> None:
    gettext = gettext_for(language).gettext
    errors = [
        Conflict("a user with the email %(email)s exists already", field="email", email="anna@example.hu"),
        Invalid("not a valid phone number: %(value)r", field="phone", value="0630 123"),
        Invalid("language must be one of %(languages)s", field="language", languages="en, de, hu"),
        TooLarge("the attachment is larger than %(megabytes)s MB", field="attachment", megabytes=25),
        Conflict("%(value)s belongs to another contact (#%(contact)s)", value="anna@example.hu", contact=7),
        Invalid("not a valid %(kind)s handle: %(value)r", field="value", kind="telegram", value="a b"),
    ]
    for exc in errors:
        text = exc.translated(gettext)
        assert text != exc.message and "%(" not in text
        for name, value in exc.params.items():
            assert (repr(value) if f"%({name})r" in exc.template else str(value)) in text
    assert errors[0].translated(gettext).startswith(("Ein Benutzer", "Már létezik"))
    assert errors[4].translated(gettext).startswith("anna@example.hu")  # a value is never capitalised


# --- the error class itself ------------------------------------------------------------------------------


def test_message_is_the_formatted_english_and_translated_is_capitalised() -> None:
    exc = Conflict("a user with the email %(email)s exists already", field="email", email="a@b.test")
    assert exc.message == str(exc) == "a user with the email a@b.test exists already"
    assert exc.field == "email" and exc.status_code == 409
    assert exc.template == "a user with the email %(email)s exists already"
    assert exc.params == {"email": "a@b.test"}
    assert exc.translated(gettext_for("en").gettext) == "A user with the email a@b.test exists already"
    assert exc.translated(gettext_for("en").gettext, capitalised=False) == exc.message


def test_a_plain_message_still_works() -> None:
    exc = Invalid("100% wrong", field="x")
    assert exc.message == "100% wrong" and exc.translated(lambda s: s) == "100% wrong"
    assert DomainError("plain").message == "plain"


def test_a_broken_translation_falls_back_to_english() -> None:
    exc = Invalid("not a valid tag: %(tag)r", field="tags", tag="<x>")
    assert exc.translated(lambda s: "kaputt: %(etikett)s") == "Not a valid tag: '<x>'"


def test_with_field_keeps_the_template_and_the_class() -> None:
    exc = Invalid("not a valid email address: %(reason)s", field="email", reason="no @")
    moved = exc.with_field("identities.email")
    assert type(moved) is Invalid and moved.field == "identities.email" and exc.field == "email"
    assert moved.template == exc.template and moved.params == exc.params and moved.message == exc.message
    assert moved.translated(gettext_for("de").gettext).startswith("Keine gültige E-Mail-Adresse")
