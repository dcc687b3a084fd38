"""Agents' replies leave as proper email: to a real SMTP sink, parsed back and checked."""

from __future__ import annotations

import asyncio
import re

import httpx
from sqlalchemy import select

from helpline.channels.email import parse_message
from helpline.channels.email.sending import Outgoing, compose, reply_subject, wire_bytes
from helpline.conversations.models import Direction, Message
from helpline.db import Database
from tests.channels.email.test_sending_fixtures import (
    Sink,
    email_conversation,
    emails_of,
    jobs,
    make_due,
    make_mailbox,
    messages_of,
    record_inbound_email,
    runtime_fixture,  # noqa: F401 (the fixture "runtime")
    sink_fixture,  # noqa: F401 (the fixture "sink")
)
from tests.conftest import Person, free_port


async def reply(client: httpx.AsyncClient, person: Person, conversation_id: int, **body: object) -> httpx.Response:
    return await client.post(
        f"/api/v1/conversations/{conversation_id}/messages", headers=person.headers, json={"body": "x", **body}
    )


def header_lines(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    return head.split("\r\n")


async def test_reply_reaches_the_customer_threaded_with_signature_and_cc(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: object
):
    mailbox = await make_mailbox(db, tenant_id, sink.port)
    conversation = await email_conversation(client, agent)
    await record_inbound_email(db, tenant_id, conversation, mailbox.id, rfc_message_id="<first@kunde.example>",
                               references=["<root@kunde.example>"])

    response = await reply(client, agent, conversation["id"], body="Sorry, Klaus.\n\nA new kettle is on its way.",
                           cc=["Boss@Kunde.example"], bcc=["audit@acme.example"])
    assert response.status_code == 201, response.text
    assert response.json()["delivery_status"] == "queued"
    assert await runtime.sweeper.run_due() == 1  # type: ignore[attr-defined]

    assert len(sink.received) == 1
    mail = sink.received[0]
    assert mail.mail_from == "support@acme.example"
    assert sorted(mail.rcpt_tos) == ["audit@acme.example", "boss@kunde.example", "klaus@kunde.example"]
    parsed = parse_message(mail.data)
    assert parsed.from_ is not None
    assert (parsed.from_.name, parsed.from_.address) == ("Acme Support", "support@acme.example")
    assert [(a.name, a.address) for a in parsed.to] == [("Klaus Kunde", "klaus@kunde.example")]
    assert [a.address for a in parsed.cc] == ["boss@kunde.example"]
    assert b"audit@acme.example" not in mail.data  # BCC only in the envelope
    assert parsed.subject == f"Re: Kettle broken [#{conversation['number']}]"
    assert re.fullmatch(rf"<[0-9a-f]{{24}}\.{conversation['number']}@acme\.example>", parsed.message_id or "")
    assert parsed.in_reply_to == "<first@kunde.example>"
    assert list(parsed.references) == ["<root@kunde.example>", "<first@kunde.example>"]
    assert parsed.text.startswith("Sorry, Klaus.\n\nA new kettle is on its way.\n\n-- \nAcme Support\nhttps://acme.example")
    assert "<p>Sorry, Klaus.</p>" in parsed.html and "A new kettle is on its way." in parsed.html
    assert not parsed.is_auto_submitted

    message = (await messages_of(client, agent, conversation["id"]))[-1]
    assert message["delivery_status"] == "sent"
    sent = [e for e in await emails_of(client, agent, conversation["id"]) if e["direction"] == "outbound"]
    assert sent[0]["send_status"] == "sent" and sent[0]["sent_at"]
    assert sent[0]["rfc_message_id"] == parsed.message_id
    assert sent[0]["bcc_addresses"] == ["audit@acme.example"]
    async with db.read() as session:
        from helpline.channels.email.models import EmailMessage

        row = await session.get(EmailMessage, sent[0]["id"])
        assert row is not None and row.raw_key
    stored = runtime.store.path(row.raw_key).read_bytes()  # type: ignore[attr-defined]
    assert stored == mail.data  # the audit copy is exactly what the relay received


async def test_next_reply_continues_the_thread_without_stacking_re_or_the_token(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: object
):
    await make_mailbox(db, tenant_id, sink.port)
    conversation = await email_conversation(client, agent, subject="AW: Re: Kettle broken")
    number = conversation["number"]
    await client.patch(f"/api/v1/conversations/{conversation['id']}", headers=agent.headers,
                       json={"subject": f"Re: AW: Kettle broken [#{number}]"})
    for text in ("First answer.", "Second answer."):
        assert (await reply(client, agent, conversation["id"], body=text)).status_code == 201
        await runtime.sweeper.run_due()  # type: ignore[attr-defined]
    first, second = (parse_message(m.data) for m in sink.received)
    assert first.subject == second.subject == f"Re: Kettle broken [#{number}]"
    assert first.in_reply_to is None  # nothing to continue: the conversation had no email yet
    assert second.in_reply_to == first.message_id
    assert list(second.references) == [first.message_id]
    assert reply_subject("Re: Fwd: RE:  Kettle [#7] broken", 7) == "Re: Kettle broken [#7]"
    assert reply_subject("", 7) == "Re: [#7]"


async def test_reply_with_attachments_and_cc_from_the_upload_form(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: object
):
    await make_mailbox(db, tenant_id, sink.port)
    conversation = await email_conversation(client, agent)
    pdf = b"%PDF-1.4 invoice " + bytes(range(256)) * 40
    response = await client.post(
        f"/api/v1/conversations/{conversation['id']}/messages/upload", headers=agent.headers,
        data={"body": "The invoice is attached.", "cc": "boss@kunde.example; Anna <anna@kunde.example>"},
        files=[("files", ("számla 2026.pdf", pdf, "application/pdf")), ("files", ("notes.txt", b"hi", "text/plain"))],
    )
    assert response.status_code == 422 and response.json()["field"] == "cc"  # "Anna <...>" is not an address

    response = await client.post(
        f"/api/v1/conversations/{conversation['id']}/messages/upload", headers=agent.headers,
        data={"body": "The invoice is attached.", "cc": "boss@kunde.example; anna@kunde.example"},
        files=[("files", ("számla 2026.pdf", pdf, "application/pdf")), ("files", ("notes.txt", b"hi", "text/plain"))],
    )
    assert response.status_code == 201, response.text
    await runtime.sweeper.run_due()  # type: ignore[attr-defined]
    parsed = parse_message(sink.received[0].data)
    assert [a.address for a in parsed.cc] == ["boss@kunde.example", "anna@kunde.example"]
    files = {a.filename: a for a in parsed.attachments}
    assert files["számla 2026.pdf"].data == pdf and files["számla 2026.pdf"].content_type == "application/pdf"
    assert files["notes.txt"].data == b"hi"
    assert parsed.text.startswith("The invoice is attached.")


async def test_relay_refusing_with_550_marks_the_reply_failed_with_its_answer(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: object
):
    await make_mailbox(db, tenant_id, sink.port)
    sink.handler.answer = "550 5.1.1 <klaus@kunde.example>: mailbox unavailable"
    conversation = await email_conversation(client, agent)
    assert (await reply(client, agent, conversation["id"], body="Hello")).status_code == 201
    await runtime.sweeper.run_due()  # type: ignore[attr-defined]

    assert (await jobs(db))[0].status == "failed"  # no retry: 5xx is final
    message = (await messages_of(client, agent, conversation["id"]))[-1]
    assert message["delivery_status"] == "failed"
    email = (await emails_of(client, agent, conversation["id"]))[-1]
    assert email["send_status"] == "failed"
    assert "550" in email["send_error"] and "mailbox unavailable" in email["send_error"]


async def test_relay_down_is_retried_and_sent_once_it_is_back(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, runtime: object
):
    port = free_port()
    await make_mailbox(db, tenant_id, port)  # nothing listens there yet
    conversation = await email_conversation(client, agent)
    assert (await reply(client, agent, conversation["id"], body="Hello again")).status_code == 201
    await runtime.sweeper.run_due()  # type: ignore[attr-defined]

    job = (await jobs(db))[0]
    assert job.status == "pending" and job.attempts == 1 and job.run_at is not None
    email = (await emails_of(client, agent, conversation["id"]))[-1]
    assert email["send_status"] == "queued" and email["send_error"]  # why it has not left yet
    assert (await messages_of(client, agent, conversation["id"]))[-1]["delivery_status"] == "queued"

    relay = Sink(port).start()
    events = runtime.bus.subscribe()  # type: ignore[attr-defined]
    try:
        await make_due(db)
        assert await runtime.sweeper.run_due() == 1  # type: ignore[attr-defined]
        assert len(relay.received) == 1
        assert parse_message(relay.received[0].data).text.startswith("Hello again")
    finally:
        relay.stop()
    assert (await jobs(db))[0].status == "done"
    message = (await messages_of(client, agent, conversation["id"]))[-1]
    assert message["delivery_status"] == "sent"
    # The workspace hears it after the commit: the badge turns to "sent" live.
    event = await asyncio.wait_for(events.get(), 2)
    events.close()
    assert event.type == "message.updated"
    assert event.data["message_id"] == message["id"] and event.data["delivery_status"] == "sent"
    assert event.data["conversation_id"] == conversation["id"]


async def test_a_sent_email_is_never_sent_twice(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: object
):
    from helpline.jobs import enqueue

    await make_mailbox(db, tenant_id, sink.port)
    conversation = await email_conversation(client, agent)
    await reply(client, agent, conversation["id"], body="Once")
    await runtime.sweeper.run_due()  # type: ignore[attr-defined]
    email_id = (await emails_of(client, agent, conversation["id"]))[-1]["id"]
    async with db.transaction() as session:  # a redelivered job (a crash after sending, a duplicate)
        enqueue(session, "email.send", {"email_message_id": email_id}, tenant_id=tenant_id)
    assert await runtime.sweeper.run_due() == 1  # type: ignore[attr-defined]
    assert len(sink.received) == 1


async def test_hostile_header_input_never_becomes_a_header(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: object
):
    await make_mailbox(db, tenant_id, sink.port, display_name="Acme\r\nX-Injected: from-name",
                       signature="Thanks\r\nX-Injected: signature")
    conversation = await email_conversation(
        client, agent, name="Klaus\r\nBcc: victim@evil.example",
        subject="Hi\r\nX-Injected: subject\nBcc: v@evil.example",
    )
    for field in ("cc", "bcc"):
        response = await reply(client, agent, conversation["id"], **{field: ["a@kunde.example\r\nBcc: v@evil.example"]})
        assert response.status_code == 422 and response.json()["field"] == field
        response = await reply(client, agent, conversation["id"], **{field: ["<script>@evil"]})
        assert response.status_code == 422 and response.json()["field"] == field
    response = await reply(client, agent, conversation["id"], cc=[f"c{i}@kunde.example" for i in range(51)])
    assert response.status_code == 422 and "cc" in response.json()["field"]
    many = ",".join(f"c{i}@kunde.example" for i in range(51))
    response = await client.post(f"/api/v1/conversations/{conversation['id']}/messages/upload",
                                 headers=agent.headers, data={"body": "x", "bcc": many})
    assert response.status_code == 422 and response.json()["field"] == "bcc"
    assert await jobs(db) == []  # nothing refused was queued

    assert (await reply(client, agent, conversation["id"], body="Fine\r\nBcc: v@evil.example")).status_code == 201
    await runtime.sweeper.run_due()  # type: ignore[attr-defined]
    mail = sink.received[0]
    assert mail.rcpt_tos == ["klaus@kunde.example"]
    names = [line.split(":", 1)[0].lower() for line in header_lines(mail.data) if line and not line[0].isspace()]
    assert "x-injected" not in names and "bcc" not in names
    assert names.count("to") == 1 and names.count("from") == 1 and names.count("subject") == 1
    parsed = parse_message(mail.data)
    assert parsed.subject.startswith("Re: Hi X-Injected: subject Bcc: v@evil.example [#")
    assert parsed.from_ is not None and parsed.from_.name == "Acme X-Injected: from-name"

    # The composer itself, given raw hostile values.
    msg = compose(Outgoing(
        from_name="Evil\r\nBcc: x@evil.example", from_address="support@acme.example",
        to=[("Bob\nX-A: 1", "bob@kunde.example")], cc=(), subject="S\r\n\r\n<html>body",
        message_id="<a@b>\r\nX-B: 2", text="body", in_reply_to="<c@d>\nX-C: 3", references=["<e@f>\r\nX-D: 4"],
    ))
    lines = header_lines(wire_bytes(msg))
    assert not [line for line in lines if re.match(r"(?i)(bcc|x-[abcd]):", line)]


async def test_reply_without_a_mailbox_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, agent: Person, db: Database, runtime: object
):
    conversation = await email_conversation(client, agent)
    response = await reply(client, agent, conversation["id"], body="Anyone there?")
    assert response.status_code == 422
    assert response.json() == {"detail": "no mailbox is set up to send email from", "field": "mailbox"}
    async with db.read() as session:
        outbound = await session.scalar(select(Message.id).where(Message.direction == Direction.outbound))
    assert outbound is None


async def test_web_form_contact_without_email_cannot_be_emailed(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: object
):
    await make_mailbox(db, tenant_id, sink.port)
    response = await client.post(
        "/api/v1/conversations", headers=agent.headers,
        json={"contact": {"phone": "+36301234567"}, "channel": "webform", "subject": "Call me",
              "message": {"body": "Please call."}},
    )
    conversation = response.json()
    response = await reply(client, agent, conversation["id"], body="We'll call.")
    assert response.status_code == 422 and response.json()["field"] == "contact"


async def test_reply_goes_out_through_the_mailbox_the_customer_wrote_to(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: object
):
    await make_mailbox(db, tenant_id, sink.port)
    billing = await make_mailbox(db, tenant_id, sink.port, address="billing@acme.example", display_name="Acme Billing",
                                 signature="Billing team")
    conversation = await email_conversation(client, agent)
    await record_inbound_email(db, tenant_id, conversation, billing.id, rfc_message_id="<q@kunde.example>")
    await reply(client, agent, conversation["id"], body="About your invoice")
    await runtime.sweeper.run_due()  # type: ignore[attr-defined]
    parsed = parse_message(sink.received[0].data)
    assert parsed.from_ is not None and parsed.from_.address == "billing@acme.example"
    assert sink.received[0].mail_from == "billing@acme.example"
    assert parsed.text.endswith("-- \nBilling team\n") or "-- \nBilling team" in parsed.text
    assert parsed.message_id is not None and parsed.message_id.endswith(f".{conversation['number']}@acme.example>")


async def test_other_channels_are_not_emailed(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: object
):
    await make_mailbox(db, tenant_id, sink.port)
    conversation = await email_conversation(client, agent, channel="chat")
    assert (await reply(client, agent, conversation["id"], body="Hi")).status_code == 201
    assert await jobs(db) == []


async def test_mailbox_without_a_relay_fails_the_reply_and_says_why(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, runtime: object
):
    await make_mailbox(db, tenant_id, 0, smtp_host="")  # receives mail only (the demo mailbox is like this)
    conversation = await email_conversation(client, agent)
    assert (await reply(client, agent, conversation["id"], body="Hello")).status_code == 201
    await runtime.sweeper.run_due()  # type: ignore[attr-defined]
    assert (await messages_of(client, agent, conversation["id"]))[-1]["delivery_status"] == "failed"
    email = (await emails_of(client, agent, conversation["id"]))[-1]
    assert email["send_error"] == "the mailbox support@acme.example has no SMTP relay set up"
    assert (await jobs(db))[0].status == "failed"


async def test_web_form_replies_of_a_tenant_without_email_stay_in_helpline(
    client: httpx.AsyncClient, agent: Person, db: Database, runtime: object
):
    conversation = await email_conversation(client, agent, channel="webform")
    response = await reply(client, agent, conversation["id"], body="Thanks, we'll look into it.")
    assert response.status_code == 201 and response.json()["delivery_status"] is None
    assert await jobs(db) == []


async def test_web_form_reply_is_emailed_once_a_mailbox_exists(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: object
):
    await make_mailbox(db, tenant_id, sink.port)
    conversation = await email_conversation(client, agent, channel="webform", subject="Contact form: kettle")
    assert (await reply(client, agent, conversation["id"], body="We'll send a new one.")).status_code == 201
    await runtime.sweeper.run_due()  # type: ignore[attr-defined]
    parsed = parse_message(sink.received[0].data)
    assert parsed.subject == f"Re: Contact form: kettle [#{conversation['number']}]"
    assert [a.address for a in parsed.to] == ["klaus@kunde.example"]
