"""The one way into Helpline for every channel: an InboundMessage becomes a conversation or a message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from helpline.accounts.service import Actor
from helpline.conversations import service as conversations
from helpline.conversations.models import Conversation, Direction
from helpline.db import Database
from helpline.storage import StoredFile


@dataclass(frozen=True)
class InboundMessage:
    tenant_id: int
    channel: str
    contact: conversations.ContactDetails
    subject: str
    body_text: str
    body_html: str = ""
    attachments: Sequence[StoredFile] = ()
    external_id: str | None = None
    # Set when the channel already knows the thread (an email reply, a chat session).
    conversation_id: int | None = None
    received_at: datetime | None = None


async def receive(db: Database, inbound: InboundMessage) -> Conversation:
    """Store an inbound message in one transaction; its events go out after the commit."""
    actor = Actor.system(inbound.tenant_id)
    message = conversations.NewMessage(
        body_text=inbound.body_text,
        body_html=inbound.body_html,
        attachments=inbound.attachments,
        external_id=inbound.external_id,
        created_at=inbound.received_at,
    )
    async with db.transaction() as session:
        if inbound.conversation_id is not None:
            await conversations.add_message(
                session=session,
                actor=actor,
                conversation_id=inbound.conversation_id,
                direction=Direction.inbound,
                message=message,
            )
            return await conversations.get_conversation(
                session=session, actor=actor, conversation_id=inbound.conversation_id
            )
        return await conversations.start_conversation(
            session=session,
            actor=actor,
            contact=inbound.contact,
            channel=inbound.channel,
            subject=inbound.subject,
            message=message,
            language=inbound.contact.language,
        )
