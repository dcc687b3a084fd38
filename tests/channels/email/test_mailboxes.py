"""Support mailboxes as admins and integrators set them up: the API, the service, the pages and
"Test connection" against a real SMTP server (aiosmtpd) and a closed port."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from helpline.accounts import service as accounts
from helpline.accounts.models import AuditEntry
from helpline.channels.email import service
from helpline.channels.email.models import Mailbox
from helpline.config import Settings
from helpline.db import Database
from helpline.events import Event
from tests.channels.email.dovecot import Dovecot, dovecot_server  # noqa: F401  (the `dovecot` fixture)
from tests.conftest import Person, free_port

API = "/api/v1/mailboxes"
IMAP_SECRET = "imap-Secret-4711"
SMTP_SECRET = "smtp-Secret-0815"


def refused(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["field"].split(".")[-1] == field, response.text


async def create(client: httpx.AsyncClient, who: Person, **body: Any) -> dict[str, Any]:
    body.setdefault("address", "support@acme.example")
    response = await client.post(API, headers=who.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def with_passwords(**body: Any) -> dict[str, Any]:
    return {
        "imap_enabled": True, "imap_host": "imap.acme.example", "imap_user": "support",
        "imap_password": IMAP_SECRET, "smtp_host": "smtp.acme.example", "smtp_user": "support",
        "smtp_password": SMTP_SECRET, **body,
    }


def assert_no_secret(text: str) -> None:
    assert IMAP_SECRET not in text and SMTP_SECRET not in text
    assert "password_encrypted" not in text and "gAAAA" not in text  # nor the Fernet tokens


async def log_in(client: httpx.AsyncClient, person: Person) -> str:
    response = await client.post("/login", data={"email": person.email, "password": person.password})
    assert response.status_code == 303
    page = await client.get("/admin/mailboxes/new")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


# --- the API -------------------------------------------------------------------------------------


async def test_admin_creates_a_mailbox_and_it_is_listed_lower_cased(client, admin):
    created = await create(client, admin, address="  Support@ACME.example ", display_name="Acme Support",
                           auto_acknowledge=True)
    assert created["address"] == "support@acme.example"
    assert created["inbound"] == "smtp" and created["auto_acknowledge"] is True and created["is_active"] is True
    listed = (await client.get(API, headers=admin.headers)).json()
    assert [m["address"] for m in listed] == ["support@acme.example"]
    got = await client.get(f"{API}/{created['id']}", headers=admin.headers)
    assert got.json()["display_name"] == "Acme Support"


async def test_patch_changes_only_what_is_sent_and_delete_removes(client, admin):
    mailbox = await create(client, admin, display_name="Acme", signature="Cheers")
    response = await client.patch(f"{API}/{mailbox['id']}", headers=admin.headers,
                                  json={"is_active": False, "smtp_host": "Relay.Acme.example", "smtp_port": 465,
                                        "smtp_security": "ssl"})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert (patched["is_active"], patched["smtp_host"], patched["smtp_port"]) == (False, "relay.acme.example", 465)
    assert (patched["display_name"], patched["signature"]) == ("Acme", "Cheers")

    assert (await client.delete(f"{API}/{mailbox['id']}", headers=admin.headers)).status_code == 204
    assert (await client.get(f"{API}/{mailbox['id']}", headers=admin.headers)).status_code == 404


async def test_an_address_is_unique_across_tenants(client, admin, other_tenant_admin):
    await create(client, admin, address="help@shared.example")
    response = await client.post(API, headers=other_tenant_admin.headers, json={"address": "HELP@shared.example"})
    refused(response, 409, "address")
    second = await create(client, admin, address="other@shared.example")
    refused(await client.patch(f"{API}/{second['id']}", headers=admin.headers,
                               json={"address": "help@shared.example"}), 409, "address")


async def test_other_tenants_mailboxes_are_not_found(client, admin, other_tenant_admin):
    mailbox = await create(client, admin)
    url = f"{API}/{mailbox['id']}"
    headers = other_tenant_admin.headers
    assert (await client.get(url, headers=headers)).status_code == 404
    assert (await client.patch(url, headers=headers, json={"display_name": "Mine"})).status_code == 404
    assert (await client.delete(url, headers=headers)).status_code == 404
    assert (await client.post(url + "/check", headers=headers)).status_code == 404
    assert (await client.get(API, headers=headers)).json() == []
    assert (await client.get(url, headers=admin.headers)).json()["display_name"] == ""


async def test_an_agent_may_not_see_or_change_mailboxes(client, admin, agent):
    mailbox = await create(client, admin)
    assert (await client.get(API, headers=agent.headers)).status_code == 403
    assert (await client.post(API, headers=agent.headers, json={"address": "x@acme.example"})).status_code == 403
    patch = await client.patch(f"{API}/{mailbox['id']}", headers=agent.headers, json={"is_active": False})
    assert patch.status_code == 403
    assert (await client.delete(f"{API}/{mailbox['id']}", headers=agent.headers)).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"address": "not an address"}, "address"),
        ({"address": "support@acme.example\r\nBcc: victim@evil.example"}, "address"),
        ({"display_name": "Acme\r\nBcc: victim@evil.example"}, "display_name"),
        ({"display_name": "<img src=x onerror=alert(1)>"}, "display_name"),
        ({"signature": "x" * 5001}, "signature"),
        ({"signature": "bell\x07"}, "signature"),
        ({"smtp_host": "smtp.acme.example\r\nRCPT TO:<x@evil.example>"}, "smtp_host"),
        ({"smtp_host": "smtp acme example"}, "smtp_host"),
        ({"smtp_port": 0}, "smtp_port"),
        ({"imap_port": 70000}, "imap_port"),
        ({"smtp_security": "tls"}, "smtp_security"),
        ({"imap_enabled": True}, "imap_host"),
        ({"imap_enabled": True, "imap_host": "imap.acme.example"}, "imap_user"),
        ({"imap_folder": "INBOX\r\nA1 DELETE INBOX"}, "imap_folder"),
        ({"imap_folder": "*"}, "imap_folder"),
        ({"imap_folder": ""}, "imap_folder"),
        ({"imap_processed_action": "move"}, "imap_move_to"),
        ({"imap_processed_action": "move", "imap_move_to": "INBOX"}, "imap_move_to"),
        ({"smtp_password": "line\r\nbreak"}, "smtp_password"),
        ({"default_language": "xx"}, "default_language"),
        ({"sender_rate_limit_per_hour": -1}, "sender_rate_limit_per_hour"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_values_are_refused_naming_the_field(client, admin, body, field):
    response = await client.post(API, headers=admin.headers, json={"address": "support@acme.example", **body})
    refused(response, 422, field)
    assert (await client.get(API, headers=admin.headers)).json() == []


async def test_another_tenants_team_is_refused(client, admin, other_tenant_admin, db):
    async with db.transaction() as session:
        theirs = await accounts.create_team(session=session, actor=other_tenant_admin.actor, name="Theirs")
        ours = await accounts.create_team(session=session, actor=admin.actor, name="Ours")
    refused(await client.post(API, headers=admin.headers, json={"address": "a@acme.example", "team_id": theirs.id}),
            422, "team_id")
    mailbox = await create(client, admin, team_id=ours.id)
    assert mailbox["team_id"] == ours.id
    cleared = await client.patch(f"{API}/{mailbox['id']}", headers=admin.headers, json={"team_id": None})
    assert cleared.json()["team_id"] is None


# --- passwords -------------------------------------------------------------------------------------


async def test_passwords_are_encrypted_at_rest_and_never_returned(client, admin, db, settings):
    created = await client.post(API, headers=admin.headers, json={"address": "support@acme.example",
                                                                  **with_passwords()})
    assert created.status_code == 201
    mailbox_id = created.json()["id"]
    responses = [
        created,
        await client.get(API, headers=admin.headers),
        await client.get(f"{API}/{mailbox_id}", headers=admin.headers),
        await client.patch(f"{API}/{mailbox_id}", headers=admin.headers, json={"display_name": "Acme"}),
        await client.get("/openapi.json"),
    ]
    for response in responses:
        assert_no_secret(response.text)
    read = responses[2].json()
    assert read["imap_password_set"] is True and read["smtp_password_set"] is True

    async with db.read() as session:
        mailbox = await session.get(Mailbox, mailbox_id)
        audit = list(await session.scalars(select(AuditEntry).where(AuditEntry.tenant_id == admin.tenant_id)))
    assert mailbox is not None
    assert IMAP_SECRET not in mailbox.imap_password_encrypted and SMTP_SECRET not in mailbox.smtp_password_encrypted
    assert service.imap_password(settings, mailbox) == IMAP_SECRET
    assert service.smtp_password(settings, mailbox) == SMTP_SECRET
    assert [a.action for a in audit if a.action.startswith("mailbox.")] == ["mailbox.created", "mailbox.updated"]
    for entry in audit:
        assert_no_secret(str(entry.details))


async def test_a_password_left_out_is_kept_and_an_empty_one_removed(client, admin, db, settings):
    mailbox = await create(client, admin, **with_passwords())
    url = f"{API}/{mailbox['id']}"
    kept = await client.patch(url, headers=admin.headers, json={"smtp_password": None, "smtp_port": 2525})
    assert kept.json()["smtp_password_set"] is True
    removed = await client.patch(url, headers=admin.headers, json={"smtp_password": ""})
    assert removed.json()["smtp_password_set"] is False and removed.json()["imap_password_set"] is True
    async with db.read() as session:
        stored = await session.get(Mailbox, mailbox["id"])
    assert stored is not None and service.smtp_password(settings, stored) == ""
    assert service.imap_password(settings, stored) == IMAP_SECRET


# --- look-ups for intake -----------------------------------------------------------------------------


async def test_mailbox_for_address_finds_active_mailboxes_in_any_tenant(client, admin, other_tenant_admin, db):
    ours = await create(client, admin, address="support@acme.example")
    theirs = await create(client, other_tenant_admin, address="help@globex.example")
    inactive = await create(client, admin, address="old@acme.example", is_active=False)
    tagged = await create(client, admin, address="billing+vip@acme.example")
    async with db.read() as session:
        found = {
            address: getattr(await service.mailbox_for_address(session, address), "id", None)
            for address in (
                "support@acme.example", "SUPPORT@Acme.Example", " <support@acme.example> ",
                "support+1234@acme.example", "help@globex.example", "old@acme.example",
                "nobody@acme.example", "billing+vip@acme.example", "billing@acme.example",
                "not an address", "", "@acme.example",
            )
        }
        own = await service.own_addresses(session, admin.tenant_id)
    assert found == {
        "support@acme.example": ours["id"],
        "SUPPORT@Acme.Example": ours["id"],
        " <support@acme.example> ": ours["id"],
        "support+1234@acme.example": ours["id"],
        "help@globex.example": theirs["id"],
        "old@acme.example": None,
        "nobody@acme.example": None,
        "billing+vip@acme.example": tagged["id"],
        "billing@acme.example": None,
        "not an address": None,
        "": None,
        "@acme.example": None,
    }
    assert own == {"support@acme.example", "old@acme.example", "billing+vip@acme.example"}
    assert inactive["is_active"] is False


async def test_changes_are_published_after_commit_for_the_imap_poller(app, client, admin):
    subscription = app.state.runtime.bus.subscribe()
    try:
        mailbox = await create(client, admin)
        event = await asyncio.wait_for(_next(subscription), 2)
        expected = {"what": "created", "mailbox_id": mailbox["id"]}
        assert event == Event(service.MAILBOXES_CHANGED, admin.tenant_id, expected)
        refused(await client.patch(f"{API}/{mailbox['id']}", headers=admin.headers, json={"smtp_port": 0}),
                422, "smtp_port")
        await client.delete(f"{API}/{mailbox['id']}", headers=admin.headers)
        event = await asyncio.wait_for(_next(subscription), 2)
        assert event.data == {"what": "deleted", "mailbox_id": mailbox["id"]}, "nothing was heard of the refusal"
    finally:
        subscription.close()


async def _next(subscription: Any) -> Event:
    while True:
        event = await subscription.get()
        if event.type == service.MAILBOXES_CHANGED:
            return event


# --- "Test connection" against real servers ----------------------------------------------------------


class Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


def _authenticator(server: object, session: object, envelope: object, mechanism: str, data: object) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"support", SMTP_SECRET.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 235 / 535 itself


@pytest.fixture
def smtp_server() -> Iterator[int]:
    """A real SMTP server (aiosmtpd) on a free port; AUTH with support / SMTP_SECRET, no TLS."""
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, authenticator=_authenticator,
                            auth_require_tls=False)
    controller.start()
    yield port
    controller.stop()


def _mailbox(**values: Any) -> Mailbox:
    return Mailbox(tenant_id=1, address="support@acme.example", **{**service.DEFAULTS, **values})


async def test_check_smtp_logs_in_to_a_real_server(settings: Settings, smtp_server: int):
    from helpline.crypto import encrypt_secret

    plain = await service.check_smtp(settings, _mailbox(smtp_host="127.0.0.1", smtp_port=smtp_server,
                                                        smtp_security="none"))
    assert plain.ok and plain.message == f"connected to 127.0.0.1:{smtp_server} (no login set up)"

    good = _mailbox(smtp_host="127.0.0.1", smtp_port=smtp_server, smtp_security="none", smtp_user="support",
                    smtp_password_encrypted=encrypt_secret(settings.secret_key, SMTP_SECRET))
    result = await service.check_smtp(settings, good)
    assert result.ok, result.message
    assert result.message == f"connected to 127.0.0.1:{smtp_server} and logged in as support"

    good.smtp_password_encrypted = encrypt_secret(settings.secret_key, "wrong")
    wrong = await service.check_smtp(settings, good)
    assert not wrong.ok and "refused the user name or password" in wrong.message


async def test_check_smtp_starttls_against_a_server_without_it_says_so(settings: Settings, smtp_server: int):
    result = await service.check_smtp(settings, _mailbox(smtp_host="127.0.0.1", smtp_port=smtp_server,
                                                         smtp_security="starttls"))
    assert not result.ok and "STARTTLS" in result.message.upper(), result.message


async def test_check_against_a_closed_port_is_a_clear_failure(settings: Settings):
    port = free_port()  # nothing listens there
    smtp = await service.check_smtp(settings, _mailbox(smtp_host="127.0.0.1", smtp_port=port, smtp_security="none"))
    assert not smtp.ok
    assert smtp.message == f"127.0.0.1:{port} refused the connection (nothing listens there?)"
    imap = await service.check_imap(settings, _mailbox(imap_enabled=True, imap_host="127.0.0.1", imap_port=port,
                                                       imap_security="none", imap_user="support"))
    assert not imap.ok
    assert imap.message == f"127.0.0.1:{port} refused the connection (nothing listens there?)"


async def test_check_imap_logs_in_to_a_real_dovecot_and_opens_the_folder(settings: Settings, dovecot: Dovecot):
    from helpline.crypto import encrypt_secret

    dovecot.append(b"From: a@customer.example\r\nSubject: hi\r\nMessage-ID: <c1@customer.example>\r\n\r\nHello\r\n")
    mailbox = _mailbox(imap_enabled=True, imap_host=dovecot.host, imap_port=dovecot.port, imap_security="none",
                       imap_user=dovecot.user,
                       imap_password_encrypted=encrypt_secret(settings.secret_key, dovecot.password))
    good = await service.check_imap(settings, mailbox)
    assert good.ok, good.message
    assert good.message == f"logged in to {dovecot.host}:{dovecot.port}; INBOX holds 1 messages"

    mailbox.imap_folder = "Nowhere"
    missing = await service.check_imap(settings, mailbox)
    assert not missing.ok and missing.message == "logged in, but the folder Nowhere cannot be opened"

    mailbox.imap_password_encrypted = encrypt_secret(settings.secret_key, "wrong")
    wrong = await service.check_imap(settings, mailbox)
    assert not wrong.ok and wrong.message == "the IMAP server refused the user name or password"


async def test_check_over_the_api_answers_for_both_directions(client, admin, smtp_server):
    port = free_port()
    mailbox = await create(client, admin, smtp_host="127.0.0.1", smtp_port=smtp_server, smtp_security="none",
                           imap_enabled=True, imap_host="127.0.0.1", imap_port=port, imap_security="none",
                           imap_user="support", imap_password=IMAP_SECRET)
    response = await client.post(f"{API}/{mailbox['id']}/check", headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["smtp"] == {"ok": True, "message": f"connected to 127.0.0.1:{smtp_server} (no login set up)"}
    assert body["imap"]["ok"] is False and "refused the connection" in body["imap"]["message"]
    assert_no_secret(response.text)


# --- the pages -----------------------------------------------------------------------------------------


def _form(csrf: str, **values: str) -> dict[str, str]:
    return {
        "csrf_token": csrf, "address": "support@acme.example", "display_name": "", "team_id": "", "signature": "",
        "sender_rate_limit_per_hour": "30", "is_active": "1", "imap_host": "", "imap_port": "993",
        "imap_security": "ssl", "imap_user": "", "imap_password": "", "imap_folder": "INBOX",
        "imap_processed_action": "flag", "imap_move_to": "", "smtp_host": "", "smtp_port": "587",
        "smtp_security": "starttls", "smtp_user": "", "smtp_password": "", "default_language": "en", **values,
    }


async def test_admin_pages_create_edit_and_never_show_a_password(client, admin):
    csrf = await log_in(client, admin)
    saved = await client.post("/admin/mailboxes/new", data=_form(
        csrf, display_name="Acme Support", smtp_host="smtp.acme.example", smtp_user="support",
        smtp_password=SMTP_SECRET, signature="Acme <script>alert(1)</script>\r\nSupport team"))
    assert saved.status_code == 303, saved.text
    listing = await client.get("/admin/mailboxes")
    assert "support@acme.example" in listing.text and "SMTP listener" in listing.text
    mailbox_id = int(re.search(r'href="/admin/mailboxes/(\d+)"', listing.text).group(1))  # type: ignore[union-attr]

    edit = await client.get(f"/admin/mailboxes/{mailbox_id}")
    assert_no_secret(edit.text)
    assert "set: leave blank to keep" in edit.text
    assert "<script>alert(1)</script>" not in edit.text and "&lt;script&gt;" in edit.text

    kept = await client.post(f"/admin/mailboxes/{mailbox_id}", data=_form(csrf, smtp_host="smtp.acme.example",
                                                                            smtp_user="support", display_name="Acme"))
    assert kept.status_code == 303
    api = (await client.get(f"{API}/{mailbox_id}", headers=admin.headers)).json()
    assert api["display_name"] == "Acme" and api["smtp_password_set"] is True, "a blank password field keeps it"


async def test_a_refused_save_shows_the_field_and_keeps_what_was_typed_but_the_password(client, admin):
    csrf = await log_in(client, admin)
    response = await client.post("/admin/mailboxes/new", data=_form(
        csrf, display_name="Acme Support", smtp_host="smtp acme", smtp_password=SMTP_SECRET))
    assert response.status_code == 422
    assert "SMTP server: must be a host name like mail.example.com (no spaces)" in response.text
    assert 'id="mb-smtp-host" name="smtp_host" type="text" maxlength="253" value="smtp acme"' in response.text
    assert 'aria-invalid="true"' in response.text and 'value="Acme Support"' in response.text
    assert_no_secret(response.text)


async def test_page_form_without_csrf_is_refused(client, admin):
    await log_in(client, admin)
    response = await client.post("/admin/mailboxes/new", data={"address": "support@acme.example"})
    assert response.status_code == 403
    assert (await client.get(API, headers=admin.headers)).json() == []


async def test_test_connection_button_answers_inline(client, admin, smtp_server):
    csrf = await log_in(client, admin)
    response = await client.post("/admin/mailboxes/new/check", headers={"HX-Request": "true"}, data=_form(
        csrf, smtp_host="127.0.0.1", smtp_port=str(smtp_server), smtp_security="none", smtp_user="support",
        smtp_password=SMTP_SECRET))
    assert response.status_code == 200
    assert 'id="check-result"' in response.text and "<form" not in response.text
    assert f"connected to 127.0.0.1:{smtp_server} and logged in as support" in response.text
    assert_no_secret(response.text)
    assert (await client.get(API, headers=admin.headers)).json() == [], "testing saves nothing"


async def test_delete_asks_first_then_deletes(client, admin, agent):
    mailbox = await create(client, admin)
    csrf = await log_in(client, admin)
    confirm = await client.get(f"/admin/mailboxes/{mailbox['id']}/delete")
    assert "Delete the mailbox support@acme.example?" in confirm.text
    done = await client.post(f"/admin/mailboxes/{mailbox['id']}/delete", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert (await client.get(API, headers=admin.headers)).json() == []


async def test_an_agent_cannot_open_the_mailbox_pages(client, agent):
    response = await client.post("/login", data={"email": agent.email, "password": agent.password})
    assert response.status_code == 303
    assert (await client.get("/admin/mailboxes")).status_code == 403


async def test_demo_mailbox_is_created_once(db: Database):
    from helpline.demo import DEMO_MAILBOX, _create_mailbox

    tenant = None
    async with db.transaction() as session:
        tenant = await accounts.create_tenant(session=session, slug="demo-mb", name="Demo")
    await _create_mailbox(db, tenant.id)
    await _create_mailbox(db, tenant.id)
    async with db.read() as session:
        rows = list(await session.scalars(select(Mailbox).where(Mailbox.tenant_id == tenant.id)))
        found = await service.mailbox_for_address(session, DEMO_MAILBOX.upper())
    assert [(m.address, m.auto_acknowledge, m.imap_enabled) for m in rows] == [(DEMO_MAILBOX, True, False)]
    assert found is not None and found.id == rows[0].id
