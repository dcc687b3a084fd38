"""Helpline's SMTP listener, against a real `helpline serve`: smtplib in, the API and the live inbox out."""

from __future__ import annotations

import asyncio
import smtplib
import time
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage as Mime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from helpline.channels.email import service as mailboxes
from helpline.config import Settings
from helpline.conversations.models import Conversation
from helpline.db import sync_url
from tests.conftest import Person, Server, free_port, new_database, start_server
from tests.web.live import AgentSocket, login_cookie, make_user

MAX_BYTES = 200_000
SUPPORT = "help@listener-acme.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    var_dir = tmp_path_factory.mktemp("smtp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HELPLINE_EMAIL_MAX_BYTES", str(MAX_BYTES))
        running = start_server(new_database(var_dir, "smtp"), var_dir)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def token(server: Server) -> str:
    token = make_user(server, "smtp-admin@acme.test", "admin")
    make_user(server, "smtp-agent@acme.test")
    response = httpx.post(
        server.url + "/api/v1/mailboxes", headers={"Authorization": f"Bearer {token}"}, json={"address": SUPPORT}
    )
    assert response.status_code == 201, response.text
    return token


def message(subject: str, body: str = "Hello from the outside.", message_id: str | None = None) -> Mime:
    msg = Mime()
    msg["From"] = "Carla Customer <carla@customer.com>"
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or f"<{time.time_ns()}@customer.com>"
    msg.set_content(body)
    return msg


def send(server: Server, msg: Mime, to: str = SUPPORT) -> None:
    send_to_port(server.smtp_port, msg, to)


def send_to_port(port: int, msg: Mime, to: str = SUPPORT) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(msg, to_addrs=[to])


def subjects(server: Server, token: str) -> list[str]:
    response = httpx.get(
        server.url + "/api/v1/conversations",
        params={"view": "all", "limit": 200},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    items = body["items"] if isinstance(body, dict) else body
    return [c["subject"] for c in items]


def test_serve_says_where_it_listens_for_mail(server: Server) -> None:
    assert f"SMTP listener: smtp://127.0.0.1:{server.smtp_port}" in server.log.read_text()


async def test_accepted_mail_is_in_the_api_and_live_in_the_inbox(server: Server, token: str) -> None:
    async with AgentSocket(server, login_cookie(server, "smtp-agent@acme.test")) as agent:
        await agent.next_frame("hello")
        await asyncio.to_thread(send, server, message("Mein Drucker brennt"))
        frame = await agent.next_frame("conversation.created", timeout=2.0)
    assert frame["conversation_id"]
    assert "Mein Drucker brennt" in await asyncio.to_thread(subjects, server, token)


def test_plus_addressed_recipient_is_accepted(server: Server, token: str) -> None:
    send(server, message("plus addressed"), to=SUPPORT.replace("@", "+anything@"))
    assert "plus addressed" in subjects(server, token)


def test_unknown_recipient_gets_550(server: Server, token: str) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(server, message("nobody home"), to="nobody@listener-acme.com")
    code, text = refused.value.recipients["nobody@listener-acme.com"]
    assert code == 550 and b"5.1.1" in text and b"no such mailbox" in text


def test_size_is_advertised_and_oversize_gets_552_with_nothing_stored(server: Server, token: str) -> None:
    before = subjects(server, token)
    big = message("far too big", body="x" * (MAX_BYTES + 10_000))
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("size") and int(smtp.esmtp_features["size"]) == MAX_BYTES
        # Declared up front (MAIL FROM ... SIZE=): refused before any data.
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:
            smtp.send_message(big, to_addrs=[SUPPORT])
        assert declared.value.smtp_code == 552
        smtp.rset()
        # Not declared: refused after the data, which is thrown away.
        assert smtp.mail("carla@customer.com")[0] == 250
        assert smtp.rcpt(SUPPORT)[0] == 250
        code, _text = smtp.data(big.as_bytes())
        assert code == 552
    assert subjects(server, token) == before
    assert "refused an email over the 200000 byte limit" in server.log.read_text()


def test_the_same_message_sent_twice_is_one_conversation(server: Server, token: str) -> None:
    msg = message("sent twice", message_id="<twice-1@customer.com>")
    send(server, msg)
    send(server, msg)
    assert subjects(server, token).count("sent twice") == 1


async def test_the_same_message_delivered_concurrently_is_one_conversation(server: Server, token: str) -> None:
    msg = message("raced twice", message_id="<raced-1@customer.com>")
    await asyncio.gather(*(asyncio.to_thread(send, server, msg) for _ in range(4)))
    assert (await asyncio.to_thread(subjects, server, token)).count("raced twice") == 1


def test_utf8_headers_and_8bit_body_arrive_intact(server: Server, token: str) -> None:
    raw = (
        "From: Árvíztűrő Tükörfúrógép <tukor@customer.com>\r\n"
        f"To: {SUPPORT}\r\nSubject: Grüße aus Győr\r\nMessage-ID: <utf8-1@customer.com>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Szép napot kívánok!\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("smtputf8") and smtp.has_extn("8bitmime")
        smtp.sendmail("tukor@customer.com", [SUPPORT], raw, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    assert "Grüße aus Győr" in subjects(server, token)


def conversation_with(server: Server, token: str, subject: str) -> dict[str, Any]:
    response = httpx.get(
        server.url + "/api/v1/conversations",
        params={"view": "all", "limit": 200},
        headers={"Authorization": f"Bearer {token}"},
    )
    return next(c for c in response.json()["items"] if c["subject"] == subject)


def body_of(server: Server, token: str, conversation_id: int) -> str:
    response = httpx.get(
        f"{server.url}/api/v1/conversations/{conversation_id}/messages", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return str(response.json()[0]["body_text"])


def test_lines_with_dots_survive_the_transfer(server: Server, token: str) -> None:
    body = "first\n.\n..two dots\n.leading\nlast"
    send(server, message("dotted lines", body=body))  # smtplib doubles leading dots; we undo it
    text = body_of(server, token, conversation_with(server, token, "dotted lines")["id"])
    assert text.strip() == body


def test_message_with_a_big_attachment_arrives_whole(server: Server, token: str) -> None:
    msg = message("scan attached", message_id="<big-attach@customer.com>")
    data = bytes(range(256)) * 500  # 128 KB, well under the server's 200 KB test limit once encoded
    msg.add_attachment(data, maintype="application", subtype="pdf", filename="scan.pdf")
    send(server, msg)
    conversation = conversation_with(server, token, "scan attached")
    engine = create_engine(sync_url(server.database_url))
    try:
        with engine.connect() as conn:
            key, size = conn.execute(
                text(
                    "SELECT a.storage_key, a.size FROM attachments a JOIN messages m ON m.id = a.message_id "
                    "WHERE m.conversation_id = :c AND a.filename = 'scan.pdf'"
                ),
                {"c": conversation["id"]},
            ).one()
    finally:
        engine.dispose()
    assert size == len(data)
    assert (server.var_dir / "attachments" / key).read_bytes() == data


async def test_250_comes_only_after_the_commit(settings: Settings, admin: Person) -> None:
    """In-process app with a listener: when smtplib returns, the conversation is in the database."""
    from helpline.app import create_app

    app = create_app(replace(settings, smtp_port=free_port()))
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        async with runtime.db.transaction() as session:
            await mailboxes.create_mailbox(
                session=session, actor=admin.actor, secret_key=settings.secret_key, values={"address": SUPPORT}
            )
        port = int(runtime.smtp.address.rsplit(":", 1)[1])
        await asyncio.to_thread(send_to_port, port, message("committed first"))
        async with runtime.db.read() as session:
            found = await session.scalar(select(Conversation).where(Conversation.subject == "committed first"))
        assert found is not None and found.channel == "email"


async def test_listener_is_off_with_port_zero(app: Any) -> None:
    assert app.state.runtime.smtp.address is None  # the test settings turn it off


def test_message_without_headers_or_with_a_leading_dot_still_arrives(server: Server, token: str) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        for raw in (b"\r\nheadless body one\r\n", b".odd first line\r\n\r\nheadless body two\r\n"):
            assert smtp.mail("nohead@customer.com")[0] == 250
            assert smtp.rcpt(SUPPORT)[0] == 250
            assert smtp.data(raw)[0] == 250
    engine = create_engine(sync_url(server.database_url))
    try:
        with engine.connect() as conn:
            bodies = conn.execute(text("SELECT body_text FROM messages WHERE body_text LIKE '%headless body%'")).all()
    finally:
        engine.dispose()
    assert len(bodies) == 2


async def test_storage_failure_answers_451_so_the_sender_retries(
    settings: Settings, admin: Person, tmp_path: Path
) -> None:
    from helpline.app import create_app

    blocked = tmp_path / "not-a-directory"
    blocked.write_text("the disk is broken")  # the raw mail cannot be stored under a file
    app = create_app(replace(settings, smtp_port=free_port(), attachment_dir=blocked))
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        async with runtime.db.transaction() as session:
            await mailboxes.create_mailbox(
                session=session, actor=admin.actor, secret_key=settings.secret_key, values={"address": SUPPORT}
            )
        port = int(runtime.smtp.address.rsplit(":", 1)[1])
        with pytest.raises(smtplib.SMTPDataError) as refused:
            await asyncio.to_thread(send_to_port, port, message("cannot store"))
        assert refused.value.smtp_code == 451 and b"4.3.0" in refused.value.smtp_error
        async with runtime.db.read() as session:
            assert await session.scalar(select(Conversation.id)) is None
