"""Forwarding a conversation to a third party by email: the transcript and its files, never the notes."""

from __future__ import annotations

from typing import Any

import httpx

from helpline.channels.email import parse_message
from helpline.db import Database
from tests.channels.email.test_sending_fixtures import (
    Sink,
    email_conversation,
    emails_of,
    jobs,
    make_mailbox,
    messages_of,
    runtime_fixture,  # noqa: F401 (the fixture "runtime")
    sink_fixture,  # noqa: F401 (the fixture "sink")
)
from tests.conftest import Person


async def forward(client: httpx.AsyncClient, person: Person, conversation_id: int, **body: Any) -> httpx.Response:
    return await client.post(f"/api/v1/conversations/{conversation_id}/forward", headers=person.headers, json=body)


async def test_forward_sends_the_transcript_and_attachments_but_not_internal_notes(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: Any
):
    await make_mailbox(db, tenant_id, sink.port)
    conversation = await email_conversation(client, agent, body="My kettle leaks since Monday.")
    cid = conversation["id"]
    photo = b"\x89PNG\r\n\x1a\n" + b"kettle" * 500
    response = await client.post(
        f"/api/v1/conversations/{cid}/messages/upload", headers=agent.headers,
        data={"body": "Here is a photo.", "direction": "inbound"},
        files=[("files", ("kettle.png", photo, "image/png"))],
    )
    assert response.status_code == 201, response.text
    await client.post(f"/api/v1/conversations/{cid}/notes", headers=agent.headers,
                      json={"body": "Secret: this customer is on the watch list"})

    response = await forward(client, agent, cid, to=["Repairs@Partner.example", "lead@partner.example"],
                             note="Could you have a look at this kettle?")
    assert response.status_code == 201, response.text
    note = response.json()
    assert note["direction"] == "note" and note["delivery_status"] == "queued"
    assert note["body_text"].startswith("Forwarded to repairs@partner.example, lead@partner.example")
    assert "Could you have a look" in note["body_text"]

    assert await runtime.sweeper.run_due() == 1
    mail = sink.received[0]
    assert sorted(mail.rcpt_tos) == ["lead@partner.example", "repairs@partner.example"]
    parsed = parse_message(mail.data)
    assert parsed.subject == f"Fwd: Kettle broken [#{conversation['number']}]"
    assert [a.address for a in parsed.to] == ["repairs@partner.example", "lead@partner.example"]
    assert parsed.text.startswith("Could you have a look at this kettle?")
    assert "My kettle leaks since Monday." in parsed.text and "Here is a photo." in parsed.text
    assert "watch list" not in parsed.text and b"watch list" not in mail.data
    assert "klaus@kunde.example" not in [a.address for a in (*parsed.to, *parsed.cc)]
    assert [(a.filename, a.data) for a in parsed.attachments] == [("kettle.png", photo)]

    messages = await messages_of(client, agent, cid)
    assert messages[-1]["id"] == note["id"] and messages[-1]["delivery_status"] == "sent"
    email = (await emails_of(client, agent, cid))[-1]
    assert email["to_addresses"] == ["repairs@partner.example", "lead@partner.example"]
    assert email["send_status"] == "sent" and email["message_id"] == note["id"]


async def test_other_tenants_conversations_cannot_be_forwarded(
    client: httpx.AsyncClient, agent: Person, other_tenant_admin: Person, db: Database, tenant_id: int,
    sink: Sink, runtime: Any
):
    await make_mailbox(db, tenant_id, sink.port)
    await make_mailbox(db, other_tenant_admin.tenant_id, sink.port, address="help@globex.example")
    conversation = await email_conversation(client, agent)
    response = await forward(client, other_tenant_admin, conversation["id"], to=["spy@globex.example"])
    assert response.status_code == 404
    response = await client.get(f"/api/v1/conversations/{conversation['id']}/emails",
                                headers=other_tenant_admin.headers)
    assert response.status_code == 404
    assert await jobs(db) == []


async def test_forward_refuses_bad_addresses_naming_the_field(
    client: httpx.AsyncClient, agent: Person, db: Database, tenant_id: int, sink: Sink, runtime: Any
):
    await make_mailbox(db, tenant_id, sink.port)
    conversation = await email_conversation(client, agent)
    for to in (["x@partner.example\r\nBcc: v@evil.example"], ["not an address"], ["   "]):
        response = await forward(client, agent, conversation["id"], to=to)
        assert response.status_code == 422 and response.json()["field"] == "to", response.text
    response = await forward(client, agent, conversation["id"], to=[])
    assert response.status_code == 422
    assert await jobs(db) == []


async def test_forward_without_a_mailbox_says_why(
    client: httpx.AsyncClient, agent: Person, db: Database, runtime: Any
):
    conversation = await email_conversation(client, agent)
    response = await forward(client, agent, conversation["id"], to=["repairs@partner.example"])
    assert response.status_code == 422 and response.json()["field"] == "mailbox"
