"""IMAP intake against a real Dovecot: mail appended to the mailbox becomes conversations, is
flagged (or moved) only after it was committed, and is never imported twice."""

from __future__ import annotations

import asyncio
import quopri
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from email.message import EmailMessage as MimeMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from helpline.channels.email import intake
from helpline.channels.email import service as mailboxes
from helpline.channels.email.models import EmailMessage, Mailbox
from helpline.config import Settings
from helpline.conversations.models import Attachment, Conversation
from helpline.db import Database
from tests.channels.email.dovecot import Dovecot, dovecot_server  # noqa: F401  (the `dovecot` fixture)
from tests.conftest import Person

IMPORTED = "$HelplineImported"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A long poll interval: whatever arrives within seconds came by IDLE (or the first poll).
    return replace(settings, imap_poll_seconds=60)


def german_qp() -> bytes:
    body = (
        "Guten Tag,\r\n\r\nmeine Bestellung ist noch nicht angekommen. Könnten Sie bitte prüfen, "
        "wo das Paket ist?\r\n\r\nGrüße aus München\r\nJürgen Weiß\r\n"
    )
    qp = quopri.encodestring(body.encode("utf-8").replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    return (
        b"From: =?UTF-8?Q?J=C3=BCrgen_Wei=C3=9F?= <juergen@kunde.example>\r\n"
        b"To: support@example.test\r\n"
        b"Subject: =?UTF-8?Q?Bestellung_Nr=2E_4711_=E2=80=93_Lieferverz=C3=B6gerung?=\r\n"
        b"Date: Mon, 23 Nov 2026 09:15:00 +0100\r\n"
        b"Message-ID: <de-qp-1@kunde.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=UTF-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp
    )


def with_attachment() -> bytes:
    msg = MimeMessage()
    msg["Subject"] = "Invoice attached"
    msg["From"] = "Alice <alice@customer.example>"
    msg["To"] = "support@example.test"
    msg["Message-ID"] = "<att-1@customer.example>"
    msg.set_content("Please see the attached PDF.\n")
    msg.add_attachment(b"%PDF-1.4\n%fake pdf for tests\n", maintype="application", subtype="pdf",
                       filename="rechnung-März.pdf")
    return msg.as_bytes()


def broken() -> bytes:
    """No Date, no Message-ID, an unknown charset, bad base64 and a multipart that never ends."""
    return (
        b"From: Bob Broken <bob@kunde.example>\r\n"
        b"To: support@example.test\r\n"
        b"Subject: Kaputt =?utf-8?B?!!notbase64?=\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
        b"--XYZ\r\n"
        b"Content-Type: text/plain; charset=x-unknown-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"SGFsbG8sIGRhcyBHZXLDpHQgaXN0IGthcHV0dA==!!%%\r\n"
    )


async def wait_for(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


async def conversations_of(db: Database, tenant_id: int) -> list[Conversation]:
    async with db.read() as session:
        rows = await session.scalars(
            select(Conversation).where(Conversation.tenant_id == tenant_id).order_by(Conversation.id)
        )
        return list(rows)


async def mailbox_row(db: Database, mailbox_id: int) -> Mailbox:
    async with db.read() as session:
        mailbox = await session.get(Mailbox, mailbox_id)
        assert mailbox is not None
        return mailbox


async def connect_mailbox(app: Any, admin: Person, settings: Settings, server: Dovecot, **values: Any) -> int:
    """Set the mailbox up as an admin would: through the mailbox service, in a transaction of the
    app's database, whose change event (published after the commit) tells the pollers."""
    fields = {
        "address": server.user,
        "imap_enabled": True,
        "imap_host": server.host,
        "imap_port": server.port,
        "imap_security": "none",
        "imap_user": server.user,
        "imap_password": server.password,
        "imap_folder": "INBOX",
        **values,
    }
    async with app.state.runtime.db.transaction() as session:
        mailbox = await mailboxes.create_mailbox(
            session=session, actor=admin.actor, secret_key=settings.secret_key, values=fields
        )
        return mailbox.id


@pytest.fixture
async def running(app: Any) -> AsyncIterator[Any]:
    """The app is started (its pollers run) by the `app` fixture; this just names the intent."""
    yield app


def all_imported(server: Dovecot, count: int, folder: str = "INBOX") -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        flags = await asyncio.to_thread(server.flags, folder)
        return len(flags) == count and all({"\\Seen", IMPORTED} <= f for f in flags)

    return check


async def test_appended_mail_becomes_conversations_and_is_flagged(
    running: Any, db: Database, admin: Person, settings: Settings, dovecot: Dovecot
) -> None:
    for raw in (german_qp(), with_attachment(), broken()):
        dovecot.append(raw)
    mailbox_id = await connect_mailbox(running, admin, settings, dovecot)

    found = await wait_for(
        lambda: _at_least(conversations_of(db, admin.tenant_id), 3), "three conversations from IMAP"
    )
    subjects = sorted(c.subject for c in found)
    assert any("Lieferverzögerung" in s for s in subjects), subjects
    assert "Invoice attached" in subjects
    assert any(s.startswith("Kaputt") for s in subjects), subjects
    await wait_for(all_imported(dovecot, 3), "every message flagged \\Seen + $HelplineImported")

    async with db.read() as session:
        names = list(await session.scalars(select(Attachment.filename)))
        emails = list(await session.scalars(select(EmailMessage).order_by(EmailMessage.id)))
    assert any("rechnung" in n and n.endswith(".pdf") for n in names), names
    assert len(emails) == 3
    assert any(e.defects for e in emails if "Kaputt" in e.subject), "the broken mail keeps its defects"
    assert all(e.mailbox_id == mailbox_id for e in emails)

    mailbox = await mailbox_row(db, mailbox_id)
    assert mailbox.imap_last_checked_at is not None
    assert mailbox.imap_last_error == ""


async def _at_least(rows: Awaitable[list[Conversation]], count: int) -> list[Conversation] | None:
    found = await rows
    return found if len(found) >= count else None


async def test_new_mail_arrives_within_seconds_through_idle(
    running: Any, db: Database, admin: Person, settings: Settings, dovecot: Dovecot
) -> None:
    mailbox_id = await connect_mailbox(running, admin, settings, dovecot)
    await wait_for(
        lambda: _checked(db, mailbox_id), "the first (empty) poll to finish and the poller to idle"
    )
    await asyncio.sleep(0.3)  # let it enter IDLE
    started = time.monotonic()
    dovecot.append(german_qp())
    await wait_for(lambda: _at_least(conversations_of(db, admin.tenant_id), 1), "the mail pushed by IDLE", 8.0)
    assert time.monotonic() - started < 8.0 < settings.imap_poll_seconds


async def _checked(db: Database, mailbox_id: int) -> bool:
    return (await mailbox_row(db, mailbox_id)).imap_last_checked_at is not None


async def test_restarted_poller_imports_nothing_twice(
    db: Database, admin: Person, settings: Settings, dovecot: Dovecot
) -> None:
    from helpline.app import create_app

    for raw in (german_qp(), with_attachment(), broken()):
        dovecot.append(raw)
    first = create_app(settings)
    async with first.router.lifespan_context(first):
        await connect_mailbox(first, admin, settings, dovecot)
        await wait_for(all_imported(dovecot, 3), "the first run to import and flag everything")
    assert len(await conversations_of(db, admin.tenant_id)) == 3

    # As if the poller had been killed after each commit but before flagging: all unflagged again.
    dovecot.clear_flags()
    assert not any(IMPORTED in f for f in dovecot.flags())
    second = create_app(settings)
    async with second.router.lifespan_context(second):
        await wait_for(all_imported(dovecot, 3), "the restarted poller to flag the re-fetched mail")
    conversations = await conversations_of(db, admin.tenant_id)
    assert len(conversations) == 3, [c.subject for c in conversations]
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(EmailMessage)) == 3


async def test_crash_between_commit_and_flag_reimports_nothing(
    db: Database, admin: Person, settings: Settings, dovecot: Dovecot
) -> None:
    """The state a kill leaves behind: the mail is committed, but still unflagged on the server."""
    from helpline.app import create_app

    off = create_app(replace(settings, imap_poll_seconds=0))  # no pollers: commit without flagging
    async with off.router.lifespan_context(off):
        runtime = off.state.runtime
        mailbox_id = await connect_mailbox(off, admin, settings, dovecot)
        dovecot.append(german_qp())
        result = await intake.ingest(runtime, german_qp(), mailbox_id=mailbox_id, source="imap")
        assert result.outcome == "created"
    assert IMPORTED not in dovecot.flags()[0]

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await wait_for(all_imported(dovecot, 1), "the poller to flag the already-imported mail")
    conversations = await conversations_of(db, admin.tenant_id)
    assert [c.id for c in conversations] == [result.conversation_id]


async def test_move_mode_moves_processed_mail_to_the_folder(
    running: Any, db: Database, admin: Person, settings: Settings, dovecot: Dovecot
) -> None:
    dovecot.append(german_qp())
    dovecot.append(with_attachment())
    await connect_mailbox(
        running, admin, settings, dovecot, imap_processed_action="move", imap_move_to="Helpline/Erledigt"
    )
    await wait_for(all_imported(dovecot, 2, "Helpline/Erledigt"), "both mails moved to Helpline/Erledigt")
    assert dovecot.flags("INBOX") == []
    assert len(await conversations_of(db, admin.tenant_id)) == 2


async def test_wrong_password_records_a_clear_error_and_keeps_serving(
    running: Any, client: httpx.AsyncClient, db: Database, admin: Person, settings: Settings, dovecot: Dovecot
) -> None:
    dovecot.append(german_qp())
    mailbox_id = await connect_mailbox(running, admin, settings, dovecot, imap_password="not-the-password")

    async def error() -> str:
        return (await mailbox_row(db, mailbox_id)).imap_last_error

    message = await wait_for(error, "imap_last_error to be recorded")
    assert "wrong user name or password" in message
    assert dovecot.user in message and "not-the-password" not in message
    assert (await client.get("/healthz")).status_code == 200
    assert await conversations_of(db, admin.tenant_id) == []
    assert not dovecot.flags()[0] & {"\\Seen", IMPORTED}  # untouched on the server

    # Fixed by the admin: the service's change event restarts the poller, and the mail comes in.
    async with running.state.runtime.db.transaction() as session:
        await mailboxes.update_mailbox(
            session=session, actor=admin.actor, secret_key=settings.secret_key, mailbox_id=mailbox_id,
            changes={"imap_password": dovecot.password},
        )
    await wait_for(lambda: _at_least(conversations_of(db, admin.tenant_id), 1), "the mail after the fix")
    await wait_for(all_imported(dovecot, 1), "the mail flagged after the fix")
    assert (await mailbox_row(db, mailbox_id)).imap_last_error == ""


async def test_unreachable_server_records_error(
    running: Any, db: Database, admin: Person, settings: Settings, dovecot: Dovecot
) -> None:
    from tests.conftest import free_port

    mailbox_id = await connect_mailbox(running, admin, settings, dovecot, imap_port=free_port())

    async def error() -> str:
        return (await mailbox_row(db, mailbox_id)).imap_last_error

    assert "refused" in await wait_for(error, "imap_last_error for a closed port")
