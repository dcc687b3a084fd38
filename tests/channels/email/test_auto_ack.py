"""A new conversation from email gets a localised automatic acknowledgement with its reference number."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from helpline.channels.email import parse_message
from helpline.channels.email.models import EmailMessage, Mailbox
from helpline.channels.email.sending import acknowledgement_text, queue_auto_acknowledgement
from helpline.conversations.models import Conversation
from helpline.db import Database
from helpline.web.i18n import gettext_for
from tests.channels.email.test_sending_fixtures import (
    Sink,
    email_conversation,
    jobs,
    make_mailbox,
    record_inbound_email,
    runtime_fixture,  # noqa: F401 (the fixture "runtime")
    sink_fixture,  # noqa: F401 (the fixture "sink")
)
from tests.conftest import Person


async def acknowledge(db: Database, mailbox_id: int, conversation_id: int, inbound_id: int) -> None:
    """What the intake does for a new conversation, in its transaction."""
    async with db.transaction() as session:
        await queue_auto_acknowledgement(
            session,
            mailbox=await session.get_one(Mailbox, mailbox_id),
            conversation=await session.get_one(Conversation, conversation_id),
            inbound=await session.get_one(EmailMessage, inbound_id),
        )


async def new_email_conversation(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, mailbox_id: int, **contact: Any
) -> tuple[dict[str, Any], EmailMessage]:
    conversation = await email_conversation(client, agent, **contact)
    inbound = await record_inbound_email(
        db, tenant_id, conversation, mailbox_id, rfc_message_id="<question@kunde.example>",
        references=["<older@kunde.example>"], from_address=contact.get("email", "klaus@kunde.example"),
    )
    return conversation, inbound


async def test_acknowledgement_in_the_contacts_language_threads_under_their_mail(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: Any
):
    mailbox = await make_mailbox(db, tenant_id, sink.port, default_language="hu")
    conversation, inbound = await new_email_conversation(client, agent, db, tenant_id, mailbox.id, language="de")
    await acknowledge(db, mailbox.id, conversation["id"], inbound.id)
    assert await runtime.sweeper.run_due() == 1

    mail = sink.received[0]
    assert mail.rcpt_tos == ["klaus@kunde.example"] and mail.mail_from == "support@acme.example"
    parsed = parse_message(mail.data)
    number = conversation["number"]
    assert parsed.subject == f"Re: Kettle broken [#{number}]"
    assert parsed.in_reply_to == "<question@kunde.example>"
    assert list(parsed.references) == ["<older@kunde.example>", "<question@kunde.example>"]
    assert parsed.is_auto_submitted  # our own intake will never answer it again
    assert b"Auto-Submitted: auto-replied" in mail.data
    assert b"Content-Language: de" in mail.data
    assert f"[#{number}]" in parsed.text
    assert parsed.text.startswith(acknowledgement_text("de", number))
    assert "-- \nAcme Support" in parsed.text
    german = gettext_for("de").gettext("This is an automatic reply.")
    assert german in parsed.text  # German once the catalog has it (the lead merges var/i18n/outbound.json)


async def test_acknowledgement_falls_back_to_the_mailbox_language(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: Any
):
    mailbox = await make_mailbox(db, tenant_id, sink.port, default_language="hu")
    conversation, inbound = await new_email_conversation(client, agent, db, tenant_id, mailbox.id)
    await acknowledge(db, mailbox.id, conversation["id"], inbound.id)
    await runtime.sweeper.run_due()
    assert b"Content-Language: hu" in sink.received[0].data
    assert parse_message(sink.received[0].data).text.startswith(acknowledgement_text("hu", conversation["number"]))


async def test_english_acknowledgement_says_we_received_it(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: Any
):
    mailbox = await make_mailbox(db, tenant_id, sink.port)
    conversation, inbound = await new_email_conversation(client, agent, db, tenant_id, mailbox.id, language="en")
    await acknowledge(db, mailbox.id, conversation["id"], inbound.id)
    await runtime.sweeper.run_due()
    text = parse_message(sink.received[0].data).text
    assert "We have received your message" in text
    assert f"Your reference number is [#{conversation['number']}]" in text


async def test_no_acknowledgement_to_our_own_mailboxes(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: Any
):
    mailbox = await make_mailbox(db, tenant_id, sink.port)
    await make_mailbox(db, tenant_id, sink.port, address="billing@acme.example")
    for sender in ("billing@acme.example", "Support+loop@ACME.example"):
        conversation, inbound = await new_email_conversation(
            client, agent, db, tenant_id, mailbox.id, email=sender.lower()
        )
        await acknowledge(db, mailbox.id, conversation["id"], inbound.id)
    assert await jobs(db) == []
    async with db.read() as session:
        assert await session.scalar(select(EmailMessage.id).where(EmailMessage.direction == "outbound")) is None
