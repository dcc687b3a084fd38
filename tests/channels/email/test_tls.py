"""TLS against real peers: IMAP over SSL and STARTTLS (Dovecot), the SMTP relay over STARTTLS and
implicit TLS (aiosmtpd), certificate checks in "Test connection", and STARTTLS on our own listener.

Certificates come from a throwaway test CA (``certificates``): nothing here trusts them unless the
mailbox says so (its "Trusted CA certificate"), or verification is turned off.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import aiosmtplib
import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from helpline.channels.email import service as mailboxes
from helpline.channels.email.models import EmailMessage, Mailbox
from helpline.config import Settings
from helpline.conversations.models import Conversation
from helpline.crypto import encrypt_secret
from helpline.db import Database
from tests.channels.email.certificates import Certificates, ServerCert, certificates_fixture  # noqa: F401
from tests.channels.email.dovecot import Dovecot, dovecot_tls_server  # noqa: F401  (the `dovecot_tls` fixture)
from tests.channels.email.test_imap import connect_mailbox, conversations_of, german_qp, mailbox_row, wait_for
from tests.channels.email.test_sending_fixtures import (
    email_conversation,
    emails_of,
    make_mailbox,
    runtime_fixture,  # noqa: F401 (the fixture "runtime")
)
from tests.conftest import Person, free_port

API = "/api/v1/mailboxes"


# --- a relay that speaks TLS -----------------------------------------------------------------------------


@dataclass
class TlsHandler:
    received: list[tuple[bytes, bool]] = field(default_factory=list)  # (data, arrived over TLS)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.received.append((envelope.content, encrypted))
        return "250 2.0.0 OK queued"


class TlsRelay:
    """aiosmtpd with a certificate: STARTTLS (required before MAIL) or TLS from the first byte."""

    def __init__(self, cert: ServerCert, *, implicit: bool, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, free_port()
        self.handler = TlsHandler()
        context = cert.server_context()
        tls = {"ssl_context": context} if implicit else {"tls_context": context, "require_starttls": True}
        self._controller = Controller(self.handler, hostname=host, port=self.port, **tls)

    def __enter__(self) -> TlsRelay:
        self._controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._controller.stop()


def relay_mailbox(port: int, security: str, **values: Any) -> Mailbox:
    fields = {**mailboxes.DEFAULTS, "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": security}
    return Mailbox(tenant_id=1, address="support@acme.example", **{**fields, **values})


def imap_mailbox(settings: Settings, server: Dovecot, security: str, port: int, **values: Any) -> Mailbox:
    fields = {
        **mailboxes.DEFAULTS, "imap_enabled": True, "imap_host": server.host, "imap_port": port,
        "imap_security": security, "imap_user": server.user,
        "imap_password_encrypted": encrypt_secret(settings.secret_key, server.password),
    }
    return Mailbox(tenant_id=1, address=server.user, **{**fields, **values})


# --- IMAP: implicit TLS and STARTTLS against Dovecot ------------------------------------------------------


@pytest.mark.parametrize("security", ["ssl", "starttls"])
async def test_imap_over_tls_imports_mail_from_a_server_with_a_trusted_ca(
    app: Any, db: Database, admin: Person, settings: Settings, dovecot_tls: Dovecot, certificates: Certificates,
    security: str,
) -> None:
    dovecot_tls.append(german_qp())
    port = dovecot_tls.ssl_port if security == "ssl" else dovecot_tls.port
    mailbox_id = await connect_mailbox(app, admin, settings, dovecot_tls, imap_security=security, imap_port=port,
                                       tls_ca_pem=certificates.ca_pem)
    [conversation] = await wait_for(lambda: conversations_of(db, admin.tenant_id), "the mail over TLS")
    assert "Lieferverzögerung" in conversation.subject
    mailbox = await mailbox_row(db, mailbox_id)
    assert mailbox.imap_last_error == ""


async def test_imap_poller_reports_an_untrusted_certificate_and_imports_nothing(
    app: Any, db: Database, admin: Person, settings: Settings, dovecot_tls: Dovecot
) -> None:
    dovecot_tls.append(german_qp())
    mailbox_id = await connect_mailbox(app, admin, settings, dovecot_tls, imap_security="ssl",
                                       imap_port=dovecot_tls.ssl_port)

    async def error() -> str:
        return (await mailbox_row(db, mailbox_id)).imap_last_error

    message = await wait_for(error, "the poller to record the refused certificate")
    assert message.startswith(f"the TLS certificate of 127.0.0.1:{dovecot_tls.ssl_port} is not trusted"), message
    assert "add its CA certificate to the mailbox" in message
    assert await conversations_of(db, admin.tenant_id) == []


@pytest.mark.parametrize("security", ["ssl", "starttls"])
async def test_test_connection_refuses_an_untrusted_imap_certificate_with_a_clear_reason(
    settings: Settings, dovecot_tls: Dovecot, certificates: Certificates, security: str
) -> None:
    port = dovecot_tls.ssl_port if security == "ssl" else dovecot_tls.port
    untrusted = await mailboxes.check_imap(settings, imap_mailbox(settings, dovecot_tls, security, port))
    assert not untrusted.ok
    assert untrusted.message.startswith("the server's TLS certificate is not trusted (unable to get local issuer")
    assert "add its CA certificate to the mailbox" in untrusted.message

    trusted = await mailboxes.check_imap(
        settings, imap_mailbox(settings, dovecot_tls, security, port, tls_ca_pem=certificates.ca_pem)
    )
    assert trusted.ok, trusted.message
    unchecked = await mailboxes.check_imap(
        settings, imap_mailbox(settings, dovecot_tls, security, port, tls_verify=False)
    )
    assert unchecked.ok, unchecked.message


# --- SMTP relay: STARTTLS and implicit TLS against aiosmtpd ------------------------------------------------


@pytest.fixture
def starttls_relay(certificates: Certificates) -> Iterator[TlsRelay]:
    with TlsRelay(certificates.self_signed, implicit=False) as relay:
        yield relay


@pytest.fixture
def implicit_tls_relay(certificates: Certificates) -> Iterator[TlsRelay]:
    with TlsRelay(certificates.signed, implicit=True) as relay:
        yield relay


async def test_reply_leaves_over_starttls_to_a_relay_with_a_self_signed_certificate_pasted_as_trusted(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, runtime: Any,
    starttls_relay: TlsRelay, certificates: Certificates,
) -> None:
    await make_mailbox(db, tenant_id, starttls_relay.port, smtp_security="starttls",
                       tls_ca_pem=certificates.self_signed.pem)
    conversation = await email_conversation(client, agent)
    response = await client.post(f"/api/v1/conversations/{conversation['id']}/messages", headers=agent.headers,
                                 json={"body": "Over TLS, please."})
    assert response.status_code == 201, response.text
    assert await runtime.sweeper.run_due() == 1
    [(data, encrypted)] = starttls_relay.handler.received
    assert encrypted and b"Over TLS, please." in data
    [sent] = [e for e in await emails_of(client, agent, conversation["id"]) if e["direction"] == "outbound"]
    assert sent["send_status"] == "sent"


async def test_reply_leaves_over_implicit_tls_to_a_relay_signed_by_a_trusted_ca(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, runtime: Any,
    implicit_tls_relay: TlsRelay, certificates: Certificates,
) -> None:
    await make_mailbox(db, tenant_id, implicit_tls_relay.port, smtp_security="ssl", tls_ca_pem=certificates.ca_pem)
    conversation = await email_conversation(client, agent)
    await client.post(f"/api/v1/conversations/{conversation['id']}/messages", headers=agent.headers,
                      json={"body": "From the first byte."})
    assert await runtime.sweeper.run_due() == 1
    [(data, encrypted)] = implicit_tls_relay.handler.received
    assert encrypted and b"From the first byte." in data


async def test_reply_to_an_untrusted_relay_waits_with_the_reason_and_nothing_leaves(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, runtime: Any,
    implicit_tls_relay: TlsRelay,
) -> None:
    await make_mailbox(db, tenant_id, implicit_tls_relay.port, smtp_security="ssl")
    conversation = await email_conversation(client, agent)
    await client.post(f"/api/v1/conversations/{conversation['id']}/messages", headers=agent.headers,
                      json={"body": "Nobody should read this on the way."})
    await runtime.sweeper.run_due()
    assert implicit_tls_relay.handler.received == []
    [email] = [e for e in await emails_of(client, agent, conversation["id"]) if e["direction"] == "outbound"]
    # Retried: the admin may add the CA meanwhile; the reason shows on the reply until then.
    assert email["send_status"] == "queued" and "CERTIFICATE_VERIFY_FAILED" in email["send_error"]


@pytest.mark.parametrize("implicit", [False, True])
async def test_test_connection_refuses_an_untrusted_relay_certificate_unless_trusted_or_unchecked(
    settings: Settings, certificates: Certificates, implicit: bool
) -> None:
    security = "ssl" if implicit else "starttls"
    with TlsRelay(certificates.self_signed, implicit=implicit) as relay:
        untrusted = await mailboxes.check_smtp(settings, relay_mailbox(relay.port, security))
        trusted = await mailboxes.check_smtp(
            settings, relay_mailbox(relay.port, security, tls_ca_pem=certificates.self_signed.pem)
        )
        unchecked = await mailboxes.check_smtp(settings, relay_mailbox(relay.port, security, tls_verify=False))
        wrong_ca = await mailboxes.check_smtp(
            settings, relay_mailbox(relay.port, security, tls_ca_pem=certificates.ca_pem)
        )
    assert not untrusted.ok and untrusted.message.startswith("the server's TLS certificate is not trusted ("), (
        untrusted.message
    )
    assert "self-signed certificate" in untrusted.message
    assert trusted.ok and trusted.message == f"connected to 127.0.0.1:{relay.port} (no login set up)"
    assert unchecked.ok, unchecked.message
    assert not wrong_ca.ok and "not trusted" in wrong_ca.message


async def test_a_trusted_ca_does_not_excuse_a_wrong_host_name(settings: Settings, certificates: Certificates) -> None:
    # 127.0.0.2 is this machine too, but not a name on the certificate (127.0.0.1, localhost).
    with TlsRelay(certificates.signed, implicit=True, host="127.0.0.2") as relay:
        mailbox = relay_mailbox(relay.port, "ssl", smtp_host="127.0.0.2", tls_ca_pem=certificates.ca_pem)
        result = await mailboxes.check_smtp(settings, mailbox)
    assert not result.ok and "not trusted" in result.message and "127.0.0.2" in result.message, result.message


# --- the mailbox settings: API and admin page -------------------------------------------------------------


async def test_trusted_ca_and_verification_are_mailbox_settings_checked_by_the_api(
    client: httpx.AsyncClient, admin: Person, certificates: Certificates
) -> None:
    created = await client.post(API, headers=admin.headers, json={"address": "support@acme.example"})
    assert created.status_code == 201 and created.json()["tls_verify"] is True and created.json()["tls_ca_pem"] == ""
    url = f"{API}/{created.json()['id']}"
    for bad, says in (
        ("hello", "must be a certificate in PEM form"),
        (certificates.ca_key_pem, "never a private key"),
        ("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----", "not a readable PEM"),
        (certificates.ca_pem + "\x1b[31m", "must be a certificate in PEM form"),
        (certificates.ca_pem * 200, "is too long"),
    ):
        response = await client.patch(url, headers=admin.headers, json={"tls_ca_pem": bad})
        assert response.status_code == 422, response.text
        assert response.json()["field"].endswith("tls_ca_pem") and says in response.json()["detail"], response.text
    response = await client.patch(url, headers=admin.headers, json={"tls_verify": "sometimes"})
    assert response.status_code == 422 and response.json()["field"].endswith("tls_verify"), response.text

    both = certificates.ca_pem + "\r\n" + certificates.self_signed.pem  # a chain, with Windows line ends
    response = await client.patch(url, headers=admin.headers, json={"tls_ca_pem": both, "tls_verify": False})
    assert response.status_code == 200, response.text
    assert response.json()["tls_ca_pem"] == both.replace("\r\n", "\n").strip()
    assert response.json()["tls_verify"] is False


async def log_in(client: httpx.AsyncClient, person: Person) -> str:
    response = await client.post("/login", data={"email": person.email, "password": person.password})
    assert response.status_code == 303
    page = await client.get("/admin/mailboxes/new")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def page_form(csrf: str, **values: str) -> dict[str, str]:
    return {
        "csrf_token": csrf, "address": "support@acme.example", "display_name": "", "team_id": "", "signature": "",
        "sender_rate_limit_per_hour": "30", "is_active": "1", "imap_host": "", "imap_port": "993",
        "imap_security": "ssl", "imap_user": "", "imap_password": "", "imap_folder": "INBOX",
        "imap_processed_action": "flag", "imap_move_to": "", "smtp_host": "", "smtp_port": "587",
        "smtp_security": "starttls", "smtp_user": "", "smtp_password": "", "default_language": "en",
        "tls_ca_pem": "", **values,
    }


async def test_admin_page_sets_the_trusted_ca_and_tests_the_connection_with_it(
    client: httpx.AsyncClient, admin: Person, settings: Settings, certificates: Certificates,
    starttls_relay: TlsRelay,
) -> None:
    csrf = await log_in(client, admin)
    relay = {"smtp_host": "127.0.0.1", "smtp_port": str(starttls_relay.port), "smtp_security": "starttls"}
    refused = await client.post("/admin/mailboxes/new/check", headers={"HX-Request": "true"},
                                data=page_form(csrf, **relay))
    assert "the server&#39;s TLS certificate is not trusted" in refused.text
    trusted = await client.post("/admin/mailboxes/new/check", headers={"HX-Request": "true"},
                                data=page_form(csrf, tls_ca_pem=certificates.self_signed.pem, **relay))
    assert f"connected to 127.0.0.1:{starttls_relay.port}" in trusted.text, trusted.text

    hostile = await client.post("/admin/mailboxes/new",
                                data=page_form(csrf, tls_ca_pem="</textarea><script>x</script>"))
    assert hostile.status_code == 422
    assert "Trusted CA certificate (PEM): must be a certificate in PEM form" in hostile.text
    assert "<script>x</script>" not in hostile.text and "&lt;/textarea&gt;&lt;script&gt;" in hostile.text

    saved = await client.post("/admin/mailboxes/new", data=page_form(csrf, tls_ca_pem=certificates.ca_pem, **relay))
    assert saved.status_code == 303, saved.text
    [mailbox] = (await client.get(API, headers=admin.headers)).json()
    assert mailbox["tls_ca_pem"] == certificates.ca_pem.strip() and mailbox["tls_verify"] is True, (
        "a form without the tick keeps verification on"
    )
    edit = await client.get(f"/admin/mailboxes/{mailbox['id']}")
    assert certificates.ca_pem.strip().splitlines()[1] in edit.text
    assert 'name="tls_skip_verify" value="1" checked' not in edit.text

    off = await client.post(f"/admin/mailboxes/{mailbox['id']}", data=page_form(csrf, tls_skip_verify="1", **relay))
    assert off.status_code == 303
    assert (await client.get(f"{API}/{mailbox['id']}", headers=admin.headers)).json()["tls_verify"] is False
    assert 'name="tls_skip_verify" value="1" checked' in (await client.get(f"/admin/mailboxes/{mailbox['id']}")).text


# --- Helpline's own SMTP listener: STARTTLS with HELPLINE_SMTP_TLS_CERT / _KEY ----------------------------


@pytest.fixture
async def tls_listener_app(settings: Settings, certificates: Certificates) -> AsyncIterator[tuple[Any, int]]:
    from helpline.app import create_app

    port = free_port()
    tls = replace(settings, smtp_port=port, smtp_tls_cert=str(certificates.signed.cert),
                  smtp_tls_key=str(certificates.signed.key))
    application = create_app(tls)
    async with application.router.lifespan_context(application):
        yield application, port


async def test_listener_offers_starttls_and_takes_mail_over_it(
    tls_listener_app: tuple[Any, int], admin: Person, certificates: Certificates
) -> None:
    app, port = tls_listener_app
    async with app.state.runtime.db.transaction() as session:
        await mailboxes.create_mailbox(session=session, actor=admin.actor, secret_key="test-secret-key",
                                       values={"address": "help@acme.example"})
    raw = (b"From: Carla <carla@customer.example>\r\nTo: help@acme.example\r\nSubject: Sent over TLS\r\n"
           b"Message-ID: <tls-1@customer.example>\r\n\r\nConfidential.\r\n")
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=True,
                             tls_context=ssl.create_default_context(cadata=certificates.ca_pem))
    async with client:
        assert client.get_transport_info("ssl_object") is not None
        await client.sendmail("carla@customer.example", ["help@acme.example"], raw)

    # A sender without TLS is still served (a public MX must take plain mail too).
    def plain() -> bool:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.ehlo()
            offered = smtp.has_extn("starttls")
            smtp.sendmail("dora@customer.example", ["help@acme.example"],
                          raw.replace(b"tls-1", b"plain-1").replace(b"Sent over TLS", b"Sent in plain"))
            return offered

    assert await asyncio.to_thread(plain), "STARTTLS is advertised"
    async with app.state.runtime.db.read() as session:
        subjects = set(await session.scalars(select(Conversation.subject)))
        stored = list(await session.scalars(select(EmailMessage.rfc_message_id)))
    assert subjects == {"Sent over TLS", "Sent in plain"} and len(stored) == 2


async def test_listener_without_a_loadable_certificate_still_takes_mail(
    settings: Settings, admin: Person, tmp_path: Any
) -> None:
    from helpline.app import create_app

    port = free_port()
    broken = replace(settings, smtp_port=port, smtp_tls_cert=str(tmp_path / "missing.crt"),
                     smtp_tls_key=str(tmp_path / "missing.key"))
    application = create_app(broken)
    async with application.router.lifespan_context(application):
        def offered() -> bool:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp.ehlo()
                return smtp.has_extn("starttls")

        assert await asyncio.to_thread(offered) is False
