"""A new conversation from email gets a localised automatic acknowledgement with its reference number."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from helpline.channels.email import intake, parse_message
from helpline.channels.email import service as mailboxes
from helpline.channels.email.models import EmailMessage, Mailbox
from helpline.channels.email.sending import acknowledgement_text, queue_auto_acknowledgement
from helpline.conversations.models import Conversation
from helpline.db import Database
from helpline.web.i18n import gettext_for
from tests.channels.email.test_sending_fixtures import (
    Sink,
    email_conversation,
    emails_of,
    jobs,
    make_mailbox,
    messages_of,
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


# --- the acknowledgement as a stored, visible, automatic message ---------------------------------------


def customer_mail(message_id: str = "<printer-1@customer.example>", **headers: str) -> bytes:
    head = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    return (
        "From: Carla Customer <carla@customer.example>\r\nTo: support@acme.example\r\n"
        f"Subject: The printer is on fire\r\nMessage-ID: {message_id}\r\n{head}"
        "Date: Tue, 24 Nov 2026 09:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hello, the printer on floor 3 is smoking.\r\n"
    ).encode()


async def received(runtime: Any, mailbox_id: int, raw: bytes) -> intake.IntakeResult:
    return await intake.ingest(runtime, raw, mailbox_id=mailbox_id, source="smtp")


async def acknowledged(db: Database, tenant_id: int, sink: Sink, runtime: Any) -> tuple[int, intake.IntakeResult]:
    """A mailbox with acknowledgements on receives a new mail; the outbox sends the acknowledgement."""
    mailbox = await make_mailbox(db, tenant_id, sink.port, auto_acknowledge=True)
    result = await received(runtime, mailbox.id, customer_mail())
    assert result.outcome == "created"
    assert await runtime.sweeper.run_due() == 1
    return mailbox.id, result


async def log_in(client: httpx.AsyncClient, person: Person) -> None:
    response = await client.post("/login", data={"email": person.email, "password": person.password})
    assert response.status_code == 303, response.text


async def test_acknowledgement_is_stored_as_the_email_that_was_sent(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: Any
):
    _mailbox_id, result = await acknowledged(db, tenant_id, sink, runtime)
    [mail] = sink.received
    parsed = parse_message(mail.data)
    emails = await emails_of(client, agent, result.conversation_id or 0)
    assert [(e["direction"], e["kind"]) for e in emails] == [("inbound", "message"), ("outbound", "auto_ack")]
    ack = emails[1]
    assert ack["rfc_message_id"] == parsed.message_id
    assert ack["to_addresses"] == ["carla@customer.example"] and ack["subject"] == parsed.subject
    assert ack["in_reply_to"] == "<printer-1@customer.example>"
    assert (ack["send_status"], ack["send_error"]) == ("sent", "") and ack["sent_at"]
    async with db.read() as session:
        row = await session.get_one(EmailMessage, ack["id"])
    assert runtime.store.path(row.raw_key).read_bytes() == mail.data  # the audit copy: exactly what left


async def test_acknowledgement_shows_as_automatic_and_is_not_a_first_response(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: Any
):
    _mailbox_id, result = await acknowledged(db, tenant_id, sink, runtime)
    conversation_id = result.conversation_id or 0
    conversation = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=agent.headers)).json()
    assert conversation["first_response_at"] is None and conversation["status"] == "new"
    assert conversation["preview"].startswith("Hello, the printer"), "the inbox still shows the customer's words"
    ack = (await messages_of(client, agent, conversation_id))[-1]
    assert (ack["direction"], ack["author_user_id"], ack["delivery_status"]) == ("outbound", None, "sent")

    await log_in(client, agent)
    page = (await client.get(f"/conversations/{conversation_id}")).text
    shown = re.search(rf'<article[^>]*id="message-{ack["id"]}".*?</article>', page, re.S)
    assert shown and "automatic" in shown.group(0).split(">", 1)[0]
    assert "Automatic acknowledgement" in shown.group(0) and "We have received your message" in shown.group(0)
    assert "Automatic acknowledgement sent to carla@customer.example" in page
    searched = await client.get("/api/v1/search", params={"q": "received your message"}, headers=agent.headers)
    assert searched.json()["conversations"] == [], "the same automatic text on every case must not match them all"

    # The agent's first reply is the first response, and it answers the customer's mail, not our acknowledgement.
    reply = await client.post(f"/api/v1/conversations/{conversation_id}/messages", headers=agent.headers,
                              json={"body": "A technician is on the way."})
    assert reply.status_code == 201, reply.text
    await runtime.sweeper.run_due()
    conversation = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=agent.headers)).json()
    assert conversation["first_response_at"] is not None and conversation["status"] == "open"
    answer = parse_message(sink.received[-1].data)
    assert answer.in_reply_to == "<printer-1@customer.example>" and not answer.is_auto_submitted


async def test_refused_acknowledgement_is_marked_not_delivered(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: Any
):
    sink.handler.answer = "550 5.1.1 <carla@customer.example>: no such user"
    _mailbox_id, result = await acknowledged(db, tenant_id, sink, runtime)
    [email] = [e for e in await emails_of(client, agent, result.conversation_id or 0) if e["kind"] == "auto_ack"]
    assert email["send_status"] == "failed" and "no such user" in email["send_error"]
    assert (await messages_of(client, agent, result.conversation_id or 0))[-1]["delivery_status"] == "failed"
    timeline = await client.get(f"/api/v1/conversations/{result.conversation_id}/timeline", headers=agent.headers)
    assert "auto_ack" not in [event["kind"] for event in timeline.json()], "nothing was sent"


async def test_out_of_office_answering_a_stored_acknowledgement_is_held_back_by_its_message_id(
    client: httpx.AsyncClient, agent: Person, admin: Person, db: Database, tenant_id: int, sink: Sink, runtime: Any
):
    mailbox_id, result = await acknowledged(db, tenant_id, sink, runtime)
    ack_id = parse_message(sink.received[0].data).message_id or ""
    # The support address moves to another domain: the id's format no longer looks like ours, the
    # stored Message-ID still says it was our acknowledgement.
    async with db.transaction() as session:
        await mailboxes.update_mailbox(session=session, actor=admin.actor, secret_key="test-secret-key",
                                       mailbox_id=mailbox_id, changes={"address": "help@acme-support.example"})
    out_of_office = await received(runtime, mailbox_id, customer_mail(
        "<ooo-1@customer.example>", In_Reply_To=ack_id, Auto_Submitted="auto-replied"))
    assert (out_of_office.outcome, out_of_office.reason) == ("suspended", "auto_reply_loop")
    assert len(sink.received) == 1 and await runtime.sweeper.run_due() == 0, "no acknowledgement of it"

    person = await received(runtime, mailbox_id, customer_mail("<thanks-1@customer.example>", In_Reply_To=ack_id))
    assert (person.outcome, person.conversation_id) == ("threaded", result.conversation_id)
