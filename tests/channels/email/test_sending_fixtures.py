"""Shared by the outbound email tests: a real SMTP sink (aiosmtpd on a free port), mailboxes and
conversations to reply on, and driving the outbox by hand. No tests here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from helpline.channels.email.models import EmailMessage, Mailbox, Security
from helpline.conversations.models import Direction, Message
from helpline.db import Database, utcnow
from helpline.jobs import Job
from tests.conftest import Person, free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    answer: str | None = None  # e.g. "550 5.1.1 mailbox unavailable": refuse the DATA

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answer:
            return self.answer
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 OK queued"


class Sink:
    """An SMTP relay that keeps what it is given (a real SMTP conversation over TCP)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = SinkHandler()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> Sink:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture(name="sink")
def sink_fixture() -> Iterator[Sink]:
    relay = Sink().start()
    yield relay
    relay.stop()


@pytest.fixture(name="runtime")
async def runtime_fixture(app: Any) -> AsyncIterator[Any]:
    """The app's runtime with its background sweeper stopped: tests run the outbox themselves."""
    rt = app.state.runtime
    await rt.sweeper.stop()
    yield rt


async def make_mailbox(db: Database, tenant_id: int, port: int, **values: Any) -> Mailbox:
    defaults: dict[str, Any] = {
        "address": "support@acme.example",
        "display_name": "Acme Support",
        "signature": "Acme Support\nhttps://acme.example",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": Security.none,
    }
    async with db.transaction() as session:
        mailbox = Mailbox(tenant_id=tenant_id, **{**defaults, **values})
        session.add(mailbox)
    return mailbox


async def email_conversation(
    client: httpx.AsyncClient, person: Person, *, subject: str = "Kettle broken", email: str = "klaus@kunde.example",
    name: str = "Klaus Kunde", language: str | None = None, channel: str = "email", body: str = "It leaks.",
) -> dict[str, Any]:
    contact: dict[str, Any] = {"email": email, "name": name}
    if language:
        contact["language"] = language
    response = await client.post(
        "/api/v1/conversations", headers=person.headers,
        json={"contact": contact, "channel": channel, "subject": subject, "message": {"body": body}},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def record_inbound_email(
    db: Database, tenant_id: int, conversation: dict[str, Any], mailbox_id: int | None, *, rfc_message_id: str,
    references: list[str] | None = None, from_address: str = "klaus@kunde.example", subject: str = "Kettle broken",
) -> EmailMessage:
    """The email side of the customer's first message, as the intake records it."""
    async with db.transaction() as session:
        message_id = await session.scalar(
            select(Message.id).where(
                Message.conversation_id == conversation["id"], Message.direction == Direction.inbound
            ).order_by(Message.id.desc()).limit(1)
        )
        row = EmailMessage(
            tenant_id=tenant_id, message_id=message_id, conversation_id=conversation["id"],
            mailbox_id=mailbox_id, direction="inbound", rfc_message_id=rfc_message_id, references=references or [],
            from_address=from_address, from_name="Klaus Kunde", to_addresses=["support@acme.example"],
            subject=subject,
        )
        session.add(row)
    return row


async def make_due(db: Database) -> None:
    """Bring retries forward: the back-off is real, the test does not wait for it."""
    async with db.transaction() as session:
        await session.execute(update(Job).where(Job.status == "pending").values(run_at=utcnow()))


async def jobs(db: Database) -> list[Job]:
    async with db.read() as session:
        return list(await session.scalars(select(Job).order_by(Job.id)))


async def emails_of(client: httpx.AsyncClient, person: Person, conversation_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/conversations/{conversation_id}/emails", headers=person.headers)
    assert response.status_code == 200, response.text
    return list(response.json())


async def messages_of(client: httpx.AsyncClient, person: Person, conversation_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=person.headers)
    assert response.status_code == 200, response.text
    return list(response.json())
