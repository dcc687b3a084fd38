"""Transfer a conversation to another queue or to an agent, with a note for whoever takes it next.

A queue transfer goes through the engine host (the item keeps its age in the new queue); a transfer
to an agent is an assignment (the host follows the conversation's assignee). Either way the note
lands on the conversation as an internal note, and the timeline says who transferred it where, so
the next agent reads why before answering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts.models import User
from helpline.accounts.service import Actor
from helpline.conversations import service as conversations
from helpline.conversations.models import Direction
from helpline.db import Database
from helpline.errors import Invalid, NotFound
from helpline.routing import models as m
from helpline.validation import TEXT_CONTROL, text_value

if TYPE_CHECKING:
    from helpline.routing.host import RoutingHost

MAX_NOTE = 1000


@dataclass(frozen=True)
class TransferTarget:
    kind: str  # "queue" | "agent"
    id: int
    name: str


@dataclass(frozen=True)
class Transferred:
    target: TransferTarget
    work_item_id: int | None  # the routed item a queue transfer moved (None for an agent)


def clean_note(value: object) -> str | None:
    note = text_value(value, "note").strip()
    if TEXT_CONTROL.search(note):
        raise Invalid("must not contain control characters", field="note")
    if len(note) > MAX_NOTE:
        raise Invalid("the note is too long (at most %(n)s characters)", field="note", n=MAX_NOTE)
    return note or None


async def agents_for_transfer(session: AsyncSession, actor: Actor) -> list[tuple[int, str, str]]:
    """Active agents of the tenant but the actor: (id, name, shown presence state)."""
    rows = await session.execute(
        select(User.id, User.name, m.AgentPresence.shown_state)
        .outerjoin(m.AgentPresence, m.AgentPresence.user_id == User.id)
        .where(User.tenant_id == actor.tenant_id, User.is_active.is_(True), User.id != actor.user_id)
        .order_by(User.name)
    )
    return [(uid, name, state or "offline") for uid, name, state in rows.all()]


async def _target(session: AsyncSession, actor: Actor, queue_id: int | None, agent_id: int | None) -> TransferTarget:
    if (queue_id is None) == (agent_id is None):
        raise Invalid("choose a queue or an agent", field="queue_id" if queue_id is None else "agent_id")
    if queue_id is not None:
        queue = await session.get(m.Queue, queue_id)
        if queue is None or queue.tenant_id != actor.tenant_id:
            raise NotFound("no such queue", field="queue_id")
        return TransferTarget("queue", queue.id, queue.name)
    user = await session.get(User, agent_id)
    if user is None or user.tenant_id != actor.tenant_id:
        raise NotFound("no such agent", field="agent_id")
    if not user.is_active:
        raise Invalid("that user is deactivated", field="agent_id")
    return TransferTarget("agent", user.id, user.name)


async def transfer(
    *,
    db: Database,
    host: RoutingHost,
    actor: Actor,
    conversation_id: int,
    queue_id: int | None = None,
    agent_id: int | None = None,
    note: object = None,
) -> Transferred:
    text = clean_note(note)
    async with db.read() as session:
        await conversations.get_conversation(session=session, actor=actor, conversation_id=conversation_id)
        target = await _target(session, actor, queue_id, agent_id)
    routed: Any = None
    if target.kind == "queue":
        # The host writes in a transaction of its own: never inside ours.
        routed = await host.execute(
            actor.tenant_id, "transfer", conversation_id=conversation_id, queue_id=target.id, note=text
        )
    async with db.transaction() as session:
        if target.kind == "agent":
            await conversations.update_conversation(
                session=session, actor=actor, conversation_id=conversation_id, changes={"assignee_id": target.id}
            )
        await conversations.record_timeline(
            session=session, actor=actor, conversation_id=conversation_id, kind="transfer",
            to=target.kind, target_id=target.id, name=target.name, note=bool(text),
        )
        if text:
            await conversations.add_message(
                session=session, actor=actor, conversation_id=conversation_id, direction=Direction.note,
                message=conversations.NewMessage(body_text=text),
            )
    work_item_id = routed.get("work_item_id") if isinstance(routed, dict) else None
    return Transferred(target, work_item_id)
