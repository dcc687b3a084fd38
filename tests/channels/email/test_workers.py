"""Mail workers (ADR 0013): a received mail's file and parse work in a worker process, the same
result as in the server, and no mail lost when a worker dies."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from helpline.channels.email.intake import ingest
from helpline.channels.email.models import EmailMessage
from helpline.channels.email.preparing import prepare_now
from helpline.channels.email.workers import MailWorkers
from helpline.config import Settings
from helpline.conversations.models import Attachment, Message
from helpline.db import Database
from helpline.storage import AttachmentStore
from tests.channels.email.test_intake import Services, mail, mail_with_files
from tests.channels.email.test_intake import mailbox_id as mailbox_id  # a fixture


@pytest.fixture
async def workers() -> object:
    pool = MailWorkers(1)
    yield pool
    pool.close()


async def test_a_worker_prepares_the_mail_as_the_server_would(workers: MailWorkers, tmp_path: Path) -> None:
    raw = mail_with_files()
    in_worker = await workers.prepare(tmp_path / "w", 10**6, 10**7, raw, 1)
    here = prepare_now(tmp_path / "h", 10**6, 10**7, raw, 1)
    assert in_worker is not None
    assert workers.pids() and os.getpid() not in workers.pids()
    assert in_worker.parsed.html == here.parsed.html and "cid:shot@customer.com" in in_worker.parsed.html
    assert in_worker.parsed.text == here.parsed.text and in_worker.rfc_message_id == here.rfc_message_id
    assert [stored for _part, stored in in_worker.attachments] == [stored for _part, stored in here.attachments]
    # The files are on disk when the worker answers; their bytes need not travel back.
    assert (tmp_path / "w" / in_worker.raw.key).read_bytes() == raw
    for part, stored in in_worker.attachments:
        assert part.data == b"" and (tmp_path / "w" / stored.key).stat().st_size == stored.size > 0


async def test_mail_through_workers_lands_with_its_files(
    workers: MailWorkers, db: Database, settings: Settings, mailbox_id: int
) -> None:
    services = Services(db, AttachmentStore(settings.attachment_dir, settings.attachment_max_bytes), settings, workers)
    result = await ingest(services, mail_with_files(), mailbox_id=mailbox_id)
    assert result.outcome == "created" and workers.pids()
    async with db.read() as session:
        names = set(
            await session.scalars(select(Attachment.filename).where(Attachment.message_id == result.message_id))
        )
        message = await session.get(Message, result.message_id)
    assert names == {"shot.png", "invoice.pdf"}
    assert message is not None and "See the picture." in message.body_text and "cid:" not in message.body_html


async def test_a_killed_worker_loses_no_mail(
    workers: MailWorkers, db: Database, settings: Settings, mailbox_id: int
) -> None:
    services = Services(db, AttachmentStore(settings.attachment_dir, settings.attachment_max_bytes), settings, workers)
    assert (await ingest(services, mail(), mailbox_id=mailbox_id)).outcome == "created"
    killed = workers.pids()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    raw = mail(subject="sent while the worker was dead")
    result = await ingest(services, raw, mailbox_id=mailbox_id)
    assert result.outcome == "created"  # prepared in the server instead
    async with db.read() as session:
        row = await session.scalar(select(EmailMessage).where(EmailMessage.message_id == result.message_id))
    assert row is not None and services.store.path(row.raw_key).read_bytes() == raw
    # The next mail gets a fresh worker.
    assert (await ingest(services, mail(), mailbox_id=mailbox_id)).outcome == "created"
    assert workers.pids() and not set(workers.pids()) & set(killed)
