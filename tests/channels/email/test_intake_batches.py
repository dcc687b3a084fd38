"""Mail arriving together is committed together (ADR 0010), and no sender can tell: each is
answered only after the commit that holds its mail, a mail that fails is refused alone, the
others are stored, and the same mail twice in one batch is still one conversation."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select, text

from helpline.channels.email import intake
from helpline.channels.email import service as mailboxes
from helpline.config import Settings
from helpline.conversations.models import Conversation
from helpline.db import Database, sync_url
from helpline.storage import AttachmentStore
from tests.channels.email.test_intake import SUPPORT, Services, mail, make_mailbox
from tests.channels.email.test_listener import message, send_to_port
from tests.conftest import Person, free_port

POISON = "poisoned subject"


@pytest.fixture
def services(db: Database, settings: Settings) -> Services:
    return Services(db, AttachmentStore(settings.attachment_dir, settings.attachment_max_bytes), settings)


@pytest.fixture
async def mailbox_id(db: Database, admin: Person) -> int:
    return await make_mailbox(db, admin)


@contextmanager
def refusing(settings: Settings, subject: str) -> Iterator[None]:
    """A real database failure for one mail: a trigger refuses conversations with this subject."""
    engine = create_engine(sync_url(settings.database_url))
    if engine.dialect.name == "sqlite":
        create = [
            "CREATE TRIGGER refuse_subject BEFORE INSERT ON conversations "
            f"WHEN NEW.subject = '{subject}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ]
        drop = ["DROP TRIGGER IF EXISTS refuse_subject"]
    else:
        create = [
            "CREATE FUNCTION refuse_subject() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.subject = '{subject}' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; "
            "END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_subject BEFORE INSERT ON conversations"
            " FOR EACH ROW EXECUTE FUNCTION refuse_subject()",
        ]
        drop = ["DROP TRIGGER IF EXISTS refuse_subject ON conversations", "DROP FUNCTION IF EXISTS refuse_subject()"]
    with engine.begin() as conn:
        for statement in create:
            conn.execute(text(statement))
    try:
        yield
    finally:
        with engine.begin() as conn:
            for statement in drop:
                conn.execute(text(statement))
        engine.dispose()


@pytest.fixture
def poisoned_subject(settings: Settings) -> Iterator[None]:
    with refusing(settings, POISON):
        yield


def counting_commits(db: Database) -> list[int]:
    commits: list[int] = []
    event.listen(db.writer.sync_engine, "commit", lambda _conn: commits.append(1))
    return commits


async def subjects(db: Database) -> list[str]:
    async with db.read() as session:
        return list(await session.scalars(select(Conversation.subject)))


async def test_mails_arriving_together_share_commits_and_each_returns_committed(
    services: Services, db: Database, mailbox_id: int
) -> None:
    await intake.ingest(services, mail(subject="the first of the day"), mailbox_id=mailbox_id)
    commits = counting_commits(db)
    seen_after_return: list[bool] = []

    async def receive(number: int) -> None:
        subject = f"printer {number} is on fire"
        result = await intake.ingest(services, mail(subject=subject), mailbox_id=mailbox_id)
        assert result.outcome == "created"
        # Returned: the mail is committed, visible to anyone through another connection.
        seen_after_return.append(subject in await subjects(db))

    await asyncio.gather(*(receive(n) for n in range(12)))
    assert seen_after_return == [True] * 12
    expected = ["the first of the day", *(f"printer {n} is on fire" for n in range(12))]
    assert sorted(await subjects(db)) == sorted(expected)
    assert len(commits) <= 4  # 12 mails, a handful of commits


async def test_a_mail_that_fails_in_a_batch_is_refused_alone(
    services: Services, db: Database, mailbox_id: int, poisoned_subject: None
) -> None:
    raws = [mail(subject=f"fine mail {n}") for n in range(7)]
    poison = mail(subject=POISON)
    raws.insert(3, poison)
    results = await asyncio.gather(
        *(intake.ingest(services, raw, mailbox_id=mailbox_id) for raw in raws), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1 and results[3] is refused[0]  # only the poisoned one
    assert sorted(await subjects(db)) == sorted(f"fine mail {n}" for n in range(7))


async def test_the_refused_mail_is_stored_when_the_sender_retries(
    services: Services, db: Database, mailbox_id: int, settings: Settings
) -> None:
    raw = mail(subject=POISON)
    with refusing(settings, POISON), pytest.raises(Exception, match="refused by the test"):
        await intake.ingest(services, raw, mailbox_id=mailbox_id)
    result = await intake.ingest(services, raw, mailbox_id=mailbox_id)  # the trigger is gone: it goes through
    assert result.outcome == "created" and await subjects(db) == [POISON]


async def test_the_same_mail_twice_in_one_batch_is_one_conversation(
    services: Services, db: Database, mailbox_id: int
) -> None:
    raw = mail(subject="sent twice at once", message_id="<twice-at-once@customer.com>")
    results = await asyncio.gather(*(intake.ingest(services, raw, mailbox_id=mailbox_id) for _ in range(3)))
    assert sorted(r.outcome for r in results) == ["created", "duplicate", "duplicate"]
    assert await subjects(db) == ["sent twice at once"]


async def test_a_flooding_sender_is_counted_within_one_batch(
    services: Services, db: Database, admin: Person
) -> None:
    mailbox_id = await make_mailbox(db, admin, "limited@acme.com", sender_rate_limit_per_hour=3)
    raws = [mail(subject=f"flood {n}", to="limited@acme.com") for n in range(6)]
    results = await asyncio.gather(*(intake.ingest(services, raw, mailbox_id=mailbox_id) for raw in raws))
    assert [r.outcome for r in results].count("created") == 3
    assert [r.outcome for r in results].count("suspended") == 3


def _send_all(port: int, raws: list[bytes]) -> list[int]:
    """Each mail on its own SMTP connection, all at once; the DATA reply code of each."""

    def one(raw: bytes) -> int:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.ehlo()
            smtp.mail("carla@customer.com")
            smtp.rcpt(SUPPORT)
            code, _text = smtp.data(raw)
            return code

    async def all_at_once() -> list[int]:
        return list(await asyncio.gather(*(asyncio.to_thread(one, raw) for raw in raws)))

    return asyncio.run(all_at_once())


async def test_listener_answers_451_only_to_the_failing_mail_of_a_batch(
    settings: Settings, admin: Person, poisoned_subject: None
) -> None:
    from helpline.app import create_app

    app = create_app(replace(settings, smtp_port=free_port()))
    async with app.router.lifespan_context(app):
        runtime: Any = app.state.runtime
        async with runtime.db.transaction() as session:
            await mailboxes.create_mailbox(
                session=session, actor=admin.actor, secret_key=settings.secret_key, values={"address": SUPPORT}
            )
        port = int(runtime.smtp.address.rsplit(":", 1)[1])
        raws = [mail(subject=f"over smtp {n}") for n in range(6)] + [mail(subject=POISON)]
        codes = await asyncio.to_thread(_send_all, port, raws)
        assert codes == [250] * 6 + [451]
        assert sorted(await subjects(runtime.db)) == sorted(f"over smtp {n}" for n in range(6))
        # The sender of the refused mail keeps it and tries again later; by then it goes through.
        await asyncio.to_thread(send_to_port, port, message(POISON + " again"), SUPPORT)
        assert POISON + " again" in await subjects(runtime.db)
