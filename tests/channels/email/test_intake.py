"""Email intake: raw bytes in, a conversation (or a held-back mail, or a bounce note) out."""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as Mime
from email.utils import format_datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from helpline.accounts import service as accounts
from helpline.channels.email import service as mailboxes
from helpline.channels.email.intake import ingest
from helpline.channels.email.models import EmailMessage, SendStatus, SuspendedEmail
from helpline.channels.email.workers import MailWorkers
from helpline.config import Settings
from helpline.conversations import service as conversations
from helpline.conversations.models import Attachment, Conversation, Direction, Message, Status
from helpline.db import Database
from helpline.storage import AttachmentStore
from tests.conftest import Person

SUPPORT = "support@acme.com"


@dataclass
class Services:
    db: Database
    store: AttachmentStore
    settings: Settings
    mail_workers: MailWorkers | None = None


@pytest.fixture
def services(db: Database, settings: Settings) -> Services:
    return Services(db, AttachmentStore(settings.attachment_dir, settings.attachment_max_bytes), settings)


async def make_mailbox(db: Database, admin: Person, address: str = SUPPORT, **values: Any) -> int:
    async with db.transaction() as session:
        mailbox = await mailboxes.create_mailbox(
            session=session, actor=admin.actor, secret_key="test-secret-key", values={"address": address, **values}
        )
        return mailbox.id


@pytest.fixture
async def mailbox_id(db: Database, admin: Person) -> int:
    return await make_mailbox(db, admin)


_counter = iter(range(1, 1_000_000))


def mail(
    *,
    subject: str = "The printer is on fire",
    sender: str = "Carla Customer <carla@customer.com>",
    to: str = SUPPORT,
    body: str = "Hello, please help.",
    message_id: str | None = "auto",
    date: datetime | None = None,
    **headers: str,
) -> bytes:
    msg = Mime()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if message_id == "auto":
        message_id = f"<m{next(_counter)}.{datetime.now().timestamp()}@customer.com>"
    if message_id:
        msg["Message-ID"] = message_id
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


async def one(db: Database, query: Any) -> Any:
    async with db.read() as session:
        return await session.scalar(query)


async def conversation_of(db: Database, conversation_id: int | None) -> Conversation:
    assert conversation_id is not None
    found = await one(db, select(Conversation).where(Conversation.id == conversation_id))
    assert found is not None
    return found


async def count(db: Database, model: Any) -> int:
    return int(await one(db, select(func.count()).select_from(model)))


# --- new mail -----------------------------------------------------------------------------------


async def test_new_mail_becomes_conversation_with_raw_kept(services: Services, db: Database, mailbox_id: int) -> None:
    raw = mail(message_id="<first@customer.com>")
    result = await ingest(services, raw, mailbox_id=mailbox_id, envelope_from="carla@customer.com")
    assert result.outcome == "created"
    conversation = await conversation_of(db, result.conversation_id)
    assert conversation.channel == "email"
    assert conversation.subject == "The printer is on fire"
    assert conversation.recipient == SUPPORT
    row = await one(db, select(EmailMessage).where(EmailMessage.message_id == result.message_id))
    assert row.rfc_message_id == "<first@customer.com>"
    assert row.from_address == "carla@customer.com" and row.to_addresses == [SUPPORT]
    assert row.direction == "inbound" and row.raw_size == len(raw)
    assert services.store.path(row.raw_key).read_bytes() == raw
    message = await one(db, select(Message).where(Message.id == result.message_id))
    assert "please help" in message.body_text and message.external_id == "<first@customer.com>"


async def test_new_mail_goes_to_the_mailboxs_team(
    services: Services, db: Database, admin: Person
) -> None:
    async with db.transaction() as session:
        team = await accounts.create_team(session=session, actor=admin.actor, name="Billing")
    mailbox_id = await make_mailbox(db, admin, "billing@acme.com", team_id=team.id)
    result = await ingest(services, mail(to="billing@acme.com"), mailbox_id=mailbox_id)
    assert (await conversation_of(db, result.conversation_id)).team_id == team.id


async def test_date_in_the_future_is_clamped_to_now(services: Services, db: Database, mailbox_id: int) -> None:
    future = datetime.now(UTC) + timedelta(days=30)
    result = await ingest(services, mail(date=future), mailbox_id=mailbox_id)
    conversation = await conversation_of(db, result.conversation_id)
    assert conversation.created_at <= datetime.now(UTC) + timedelta(seconds=5)


async def test_same_message_id_twice_is_one_conversation(services: Services, db: Database, mailbox_id: int) -> None:
    raw = mail(message_id="<same@customer.com>")
    first = await ingest(services, raw, mailbox_id=mailbox_id)
    again = await ingest(services, raw, mailbox_id=mailbox_id)
    assert (first.outcome, again.outcome) == ("created", "duplicate")
    assert await count(db, Conversation) == 1 and await count(db, Message) == 1


async def test_mail_without_message_id_gets_one_from_its_bytes(
    services: Services, db: Database, mailbox_id: int
) -> None:
    raw = mail(message_id=None)
    first = await ingest(services, raw, mailbox_id=mailbox_id)
    again = await ingest(services, raw, mailbox_id=mailbox_id)
    assert (first.outcome, again.outcome) == ("created", "duplicate")
    row = await one(db, select(EmailMessage))
    assert row.rfc_message_id.endswith("@helpline.invalid>")


async def test_broken_mime_still_becomes_a_conversation_with_raw_kept(
    services: Services, db: Database, mailbox_id: int
) -> None:
    raw = (
        b"From: =?utf-8?B?broken <carla@customer.com>\r\nSubject: caf\xe9 \xff broken\r\n"
        b"Content-Type: multipart/mixed\r\n\r\n--nowhere\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@!!\r\n"
    )
    result = await ingest(services, raw, mailbox_id=mailbox_id)
    assert result.outcome == "created"
    row = await one(db, select(EmailMessage).where(EmailMessage.message_id == result.message_id))
    assert services.store.path(row.raw_key).read_bytes() == raw
    assert row.defects  # what was wrong is kept for agents


async def test_empty_mail_still_becomes_a_conversation(services: Services, db: Database, mailbox_id: int) -> None:
    result = await ingest(services, mail(body="   "), mailbox_id=mailbox_id)
    assert result.outcome == "created"


async def test_unknown_mailbox_is_ignored(services: Services, db: Database, mailbox_id: int) -> None:
    result = await ingest(services, mail(), mailbox_id=mailbox_id + 999)
    assert result.outcome == "ignored" and await count(db, Conversation) == 0


# --- threading ----------------------------------------------------------------------------------


async def test_reply_by_in_reply_to_threads_and_reopens_solved(
    services: Services, db: Database, mailbox_id: int, admin: Person
) -> None:
    first = await ingest(services, mail(message_id="<root@customer.com>"), mailbox_id=mailbox_id)
    async with db.transaction() as session:
        await conversations.update_conversation(
            session=session, actor=admin.actor, conversation_id=first.conversation_id, changes={"status": "solved"}
        )
    reply = mail(subject="Re: something else", In_Reply_To="<root@customer.com>", body="It burns again.")
    result = await ingest(services, reply, mailbox_id=mailbox_id)
    assert result.outcome == "threaded" and result.conversation_id == first.conversation_id
    conversation = await conversation_of(db, first.conversation_id)
    assert conversation.status == Status.open and conversation.message_count == 2


async def test_reply_by_references_threads(services: Services, db: Database, mailbox_id: int) -> None:
    first = await ingest(services, mail(message_id="<root2@customer.com>"), mailbox_id=mailbox_id)
    reply = mail(subject="no token", References="<unknown@x.com> <root2@customer.com>")
    result = await ingest(services, reply, mailbox_id=mailbox_id)
    assert (result.outcome, result.conversation_id) == ("threaded", first.conversation_id)


async def test_reply_into_merged_conversation_lands_in_the_survivor(
    services: Services, db: Database, mailbox_id: int, admin: Person
) -> None:
    merged = await ingest(services, mail(message_id="<m-a@customer.com>"), mailbox_id=mailbox_id)
    survivor = await ingest(services, mail(message_id="<m-b@customer.com>", subject="other"), mailbox_id=mailbox_id)
    assert merged.conversation_id and survivor.conversation_id
    async with db.transaction() as session:
        await conversations.merge_conversations(
            session=session, actor=admin.actor, survivor_id=survivor.conversation_id, merged_id=merged.conversation_id
        )
    result = await ingest(services, mail(In_Reply_To="<m-a@customer.com>"), mailbox_id=mailbox_id)
    assert result.conversation_id == survivor.conversation_id


async def test_token_in_subject_threads_for_the_contact(services: Services, db: Database, mailbox_id: int) -> None:
    first = await ingest(services, mail(), mailbox_id=mailbox_id)
    number = (await conversation_of(db, first.conversation_id)).number
    result = await ingest(services, mail(subject=f"Re: Your case [#{number}]"), mailbox_id=mailbox_id)
    assert (result.outcome, result.conversation_id) == ("threaded", first.conversation_id)


async def test_plus_address_threads_for_the_contact(services: Services, db: Database, mailbox_id: int) -> None:
    first = await ingest(services, mail(), mailbox_id=mailbox_id)
    number = (await conversation_of(db, first.conversation_id)).number
    result = await ingest(services, mail(subject="more", to=f"support+{number}@acme.com"), mailbox_id=mailbox_id)
    assert (result.outcome, result.conversation_id) == ("threaded", first.conversation_id)


async def test_stranger_with_a_token_gets_a_new_conversation(
    services: Services, db: Database, mailbox_id: int
) -> None:
    first = await ingest(services, mail(), mailbox_id=mailbox_id)
    number = (await conversation_of(db, first.conversation_id)).number
    for raw in (
        mail(sender="mallory@evil.com", subject=f"Re: [#{number}] let me in"),
        mail(sender="mallory@evil.com", to=f"support+{number}@acme.com"),
        mail(sender="mallory@evil.com", In_Reply_To=f"<{'a' * 24}.{number}@acme.com>"),
    ):
        result = await ingest(services, raw, mailbox_id=mailbox_id)
        assert result.outcome == "created" and result.conversation_id != first.conversation_id
    assert (await conversation_of(db, first.conversation_id)).message_count == 1


async def test_someone_in_cc_of_the_case_may_reply_with_the_token(
    services: Services, db: Database, mailbox_id: int
) -> None:
    first = await ingest(services, mail(to=f"{SUPPORT}, boss@customer.com"), mailbox_id=mailbox_id)
    number = (await conversation_of(db, first.conversation_id)).number
    result = await ingest(services, mail(sender="boss@customer.com", subject=f"[#{number}]"), mailbox_id=mailbox_id)
    assert result.conversation_id == first.conversation_id


async def test_known_sender_without_thread_starts_new_conversation_on_same_contact(
    services: Services, db: Database, mailbox_id: int
) -> None:
    first = await ingest(services, mail(subject="first"), mailbox_id=mailbox_id)
    second = await ingest(services, mail(subject="second"), mailbox_id=mailbox_id)
    assert second.outcome == "created" and second.conversation_id != first.conversation_id
    a, b = await conversation_of(db, first.conversation_id), await conversation_of(db, second.conversation_id)
    assert a.contact_id == b.contact_id


async def test_another_tenants_mailbox_cannot_receive_into_this_tenant(
    services: Services, db: Database, mailbox_id: int, other_tenant_admin: Person
) -> None:
    ours = await ingest(services, mail(message_id="<ours@customer.com>"), mailbox_id=mailbox_id)
    number = (await conversation_of(db, ours.conversation_id)).number
    theirs = await make_mailbox(db, other_tenant_admin, "help@globex.com")
    result = await ingest(
        services,
        mail(to="help@globex.com", subject=f"[#{number}]", In_Reply_To="<ours@customer.com>"),
        mailbox_id=theirs,
    )
    assert result.outcome == "created"
    conversation = await conversation_of(db, result.conversation_id)
    assert conversation.tenant_id == other_tenant_admin.tenant_id
    assert (await conversation_of(db, ours.conversation_id)).message_count == 1


# --- held back ----------------------------------------------------------------------------------


async def test_mail_from_our_own_mailbox_is_suspended(services: Services, db: Database, admin: Person) -> None:
    mailbox_id = await make_mailbox(db, admin)
    await make_mailbox(db, admin, "sales@acme.com")
    result = await ingest(services, mail(sender="sales@acme.com"), mailbox_id=mailbox_id)
    assert (result.outcome, result.reason) == ("suspended", "own_mailbox")
    assert await count(db, Conversation) == 0


async def test_spam_is_suspended_whole(services: Services, db: Database, mailbox_id: int) -> None:
    raw = mail(subject="Cheap pills", X_Spam_Flag="YES")
    result = await ingest(services, raw, mailbox_id=mailbox_id)
    assert (result.outcome, result.reason) == ("suspended", "spam")
    row = await one(db, select(SuspendedEmail))
    assert row.subject == "Cheap pills" and row.from_address == "carla@customer.com"
    assert services.store.path(row.raw_key).read_bytes() == raw
    assert (await ingest(services, raw, mailbox_id=mailbox_id)).outcome == "duplicate"


async def test_flooding_sender_is_rate_limited(services: Services, db: Database, admin: Person) -> None:
    mailbox_id = await make_mailbox(db, admin, sender_rate_limit_per_hour=2)
    outcomes = [(await ingest(services, mail(subject=f"n{i}"), mailbox_id=mailbox_id)).outcome for i in range(3)]
    assert outcomes == ["created", "created", "suspended"]
    assert (await one(db, select(SuspendedEmail))).reason.value == "rate_limited"
    other = await ingest(services, mail(sender="dora@customer.com"), mailbox_id=mailbox_id)
    assert other.outcome == "created"


async def test_automatic_answer_to_our_acknowledgement_is_suspended(
    services: Services, db: Database, mailbox_id: int
) -> None:
    first = await ingest(services, mail(), mailbox_id=mailbox_id)
    number = (await conversation_of(db, first.conversation_id)).number
    # An acknowledgement sent before they were stored: only its id's format (sending.new_message_id) says so.
    ack_id = f"<{'b' * 24}.{number}@acme.com>"
    out_of_office = mail(subject="Out of office", In_Reply_To=ack_id, Auto_Submitted="auto-replied")
    result = await ingest(services, out_of_office, mailbox_id=mailbox_id)
    assert (result.outcome, result.reason) == ("suspended", "auto_reply_loop")


async def test_customer_reply_to_our_acknowledgement_threads(services: Services, db: Database, mailbox_id: int) -> None:
    first = await ingest(services, mail(), mailbox_id=mailbox_id)
    number = (await conversation_of(db, first.conversation_id)).number
    result = await ingest(services, mail(In_Reply_To=f"<{'c' * 24}.{number}@acme.com>"), mailbox_id=mailbox_id)
    assert (result.outcome, result.conversation_id) == ("threaded", first.conversation_id)


# --- auto-acknowledgement -----------------------------------------------------------------------


async def acknowledgements(db: Database) -> list[EmailMessage]:
    async with db.read() as session:
        return list(await session.scalars(select(EmailMessage).where(EmailMessage.kind == "auto_ack")))


async def test_new_conversation_is_acknowledged_when_the_mailbox_says_so(
    services: Services, db: Database, admin: Person
) -> None:
    mailbox_id = await make_mailbox(db, admin, auto_acknowledge=True)
    await ingest(services, mail(), mailbox_id=mailbox_id)
    [ack] = await acknowledgements(db)
    assert ack.to_addresses == ["carla@customer.com"] and ack.send_status == SendStatus.queued
    await ingest(services, mail(subject="list mail", Precedence="bulk"), mailbox_id=mailbox_id)
    await ingest(services, mail(subject="vacation", Auto_Submitted="auto-replied"), mailbox_id=mailbox_id)
    assert len(await acknowledgements(db)) == 1


# --- bounces ------------------------------------------------------------------------------------


def bounce(original_id: str, *, to: str = SUPPORT) -> bytes:
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.customer.com>\r\nTo: {to}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-{original_id.strip('<>')}>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message to nobody@customer.com.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.com\r\n\r\n"
        "Final-Recipient: rfc822; nobody@customer.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <nobody@customer.com>: user unknown\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original_id}\r\nSubject: Re: help\r\n--B--\r\n"
    ).encode()


async def test_bounce_marks_the_outbound_reply_failed_and_notes_it(
    services: Services, db: Database, mailbox_id: int, agent: Person
) -> None:
    first = await ingest(services, mail(sender="nobody@customer.com"), mailbox_id=mailbox_id)
    assert first.conversation_id is not None
    async with db.transaction() as session:  # the real reply path writes the outbound email row
        reply = await conversations.add_message(
            session=session,
            actor=agent.actor,
            conversation_id=first.conversation_id,
            direction=Direction.outbound,
            message=conversations.NewMessage(body_text="We are on it."),
        )
    outbound = await one(db, select(EmailMessage).where(EmailMessage.message_id == reply.id))
    result = await ingest(services, bounce(outbound.rfc_message_id), mailbox_id=mailbox_id)
    assert (result.outcome, result.conversation_id) == ("bounce", first.conversation_id)
    assert "user unknown" in result.reason
    outbound = await one(db, select(EmailMessage).where(EmailMessage.message_id == reply.id))
    assert outbound.send_status == SendStatus.failed and "user unknown" in outbound.send_error
    assert (await one(db, select(Message).where(Message.id == reply.id))).delivery_status == "failed"
    note = await one(db, select(Message).where(Message.id == result.message_id))
    assert note.direction == Direction.note and "could not deliver" in note.body_text
    assert (await conversation_of(db, first.conversation_id)).message_count == 3


async def test_bounce_of_something_unknown_is_ignored_with_the_raw_kept(
    services: Services, db: Database, mailbox_id: int
) -> None:
    raw = bounce("<never-sent@acme.com>")
    result = await ingest(services, raw, mailbox_id=mailbox_id)
    assert result.outcome == "ignored" and "raw kept" in result.reason
    assert await count(db, Conversation) == 0
    key = result.reason.rsplit(" ", 1)[-1]
    assert services.store.path(key).read_bytes() == raw


# --- attachments --------------------------------------------------------------------------------


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def mail_with_files(extra: bytes = b"") -> bytes:
    msg = Mime()
    msg["From"] = "carla@customer.com"
    msg["To"] = SUPPORT
    msg["Subject"] = "Screenshot"
    msg["Message-ID"] = f"<files{next(_counter)}@customer.com>"
    msg.set_content("See the picture.")
    msg.add_alternative('<p>See <img src="cid:shot@customer.com" alt="shot"> here.</p>', subtype="html")
    msg.get_payload()[1].add_related(PNG, "image", "png", cid="<shot@customer.com>", filename="shot.png")
    msg.add_attachment(b"invoice data", maintype="application", subtype="pdf", filename="invoice.pdf")
    if extra:
        msg.add_attachment(extra, maintype="application", subtype="octet-stream", filename="huge.bin")
    return msg.as_bytes()


async def test_attachments_are_stored_and_inline_images_point_at_them(
    services: Services, db: Database, mailbox_id: int
) -> None:
    result = await ingest(services, mail_with_files(), mailbox_id=mailbox_id)
    async with db.read() as session:
        rows = list(await session.scalars(select(Attachment).where(Attachment.message_id == result.message_id)))
        message = await session.get(Message, result.message_id)
    by_name = {a.filename: a for a in rows}
    assert set(by_name) == {"shot.png", "invoice.pdf"}
    assert services.store.path(by_name["invoice.pdf"].storage_key).read_bytes() == b"invoice data"
    assert message is not None
    assert f'src="/attachments/{by_name["shot.png"].id}"' in message.body_html
    assert "cid:" not in message.body_html


async def test_oversized_attachment_is_dropped_but_the_mail_is_kept(
    services: Services, db: Database, mailbox_id: int, settings: Settings
) -> None:
    small = Services(db, AttachmentStore(settings.attachment_dir, 50_000), settings)
    result = await ingest(small, mail_with_files(b"x" * 60_000), mailbox_id=mailbox_id)
    assert result.outcome == "created"
    async with db.read() as session:
        query = select(Attachment.filename).where(Attachment.message_id == result.message_id)
        names = set(await session.scalars(query))
        row = await session.scalar(select(EmailMessage).where(EmailMessage.message_id == result.message_id))
    assert names == {"shot.png", "invoice.pdf"}
    assert row is not None and any("huge.bin" in d and "dropped" in d for d in row.defects)
    assert len(small.store.path(row.raw_key).read_bytes()) == row.raw_size > 60_000


async def test_raw_mail_larger_than_an_attachment_may_be_is_still_stored(
    services: Services, db: Database, mailbox_id: int, settings: Settings
) -> None:
    tight = Services(db, AttachmentStore(settings.attachment_dir, 1_000), replace(settings, email_max_bytes=10**6))
    result = await ingest(tight, mail(body="long " * 2_000), mailbox_id=mailbox_id)
    assert result.outcome == "created"
