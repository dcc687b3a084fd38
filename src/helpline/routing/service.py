"""Routing as the rest of Helpline uses it: work items for new conversations, agent state, offers,
transfers, and what the workspace header and the wallboard show.

Writes that change the engine go through ``RoutingHost.execute`` (it runs them on the leading
process and persists them in a transaction of its own: call these with a *read* session, never
inside a write transaction); this module checks who may do what first, since the engine trusts its
caller. Reads come straight from the tables the host keeps current, so any process can answer them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts.models import TeamMembership, Tenant, User
from helpline.accounts.service import Actor
from helpline.contacts.models import Contact, Organisation
from helpline.conversations.models import PRIORITY_RANK, Conversation, Priority
from helpline.db import PENDING_EVENTS
from helpline.errors import Invalid, NotFound, PermissionDenied
from helpline.events import Event, on_commit
from helpline.routing import loading
from helpline.routing import models as m
from helpline.routing.config import Presence
from helpline.routing.rules import RoutingFacts, capacity_channel, choose_queue
from helpline.sqlite_inline import execute_now, inline_connection_flushed

if TYPE_CHECKING:
    from helpline.routing.host import RoutingHost

CHOOSABLE_STATES = (Presence.AVAILABLE, Presence.NOT_READY, Presence.OFFLINE)


# ---------------------------------------------------------------------- work items


async def _facts(session: AsyncSession, conversation: Conversation) -> RoutingFacts:
    contact = await session.get(Contact, conversation.contact_id)
    organisation = (
        await session.get(Organisation, contact.organisation_id) if contact and contact.organisation_id else None
    )
    return RoutingFacts(
        channel=conversation.channel,
        mailbox=conversation.recipient,
        subject=conversation.subject,
        priority=conversation.priority.value,
        language=conversation.language,
        tags=list(conversation.tags or ()),
        contact_fields=dict(contact.custom_fields or {}) if contact else {},
        organisation_fields=dict(organisation.custom_fields or {}) if organisation else {},
    )


def _contact_is_new(session: AsyncSession, contact_id: int) -> bool:
    """True when this transaction created the contact and no other conversation of theirs yet."""
    pending = session.info.get(PENDING_EVENTS, ())
    created = any(e.type == "contact.created" and e.data.get("contact_id") == contact_id for e in pending)
    return created and not any(
        e.type.startswith("conversation.") and e.data.get("contact_id") == contact_id for e in pending
    )


_LAST_AGENT_SQL = (
    "SELECT assignee_id FROM conversations WHERE tenant_id = ? AND contact_id = ? AND id != ? "
    "AND assignee_id IS NOT NULL ORDER BY last_activity_at DESC LIMIT 1"
)


async def _last_agent(session: AsyncSession, conversation: Conversation) -> int | None:
    """The agent who last had one of this contact's conversations (for the sticky-agent rule)."""
    if _contact_is_new(session, conversation.contact_id):
        return None  # a customer met just now had nobody before: no query for every new customer
    connection = await inline_connection_flushed(session)
    if connection is not None:  # the SQLite writer: one prebuilt statement (every returning customer asks)
        row = execute_now(
            connection, _LAST_AGENT_SQL, (conversation.tenant_id, conversation.contact_id, conversation.id)
        ).fetchone()
        return int(row[0]) if row is not None else None
    return (
        await session.scalars(
            select(Conversation.assignee_id)
            .where(
                Conversation.tenant_id == conversation.tenant_id,
                Conversation.contact_id == conversation.contact_id,
                Conversation.id != conversation.id,
                Conversation.assignee_id.is_not(None),
            )
            .order_by(Conversation.last_activity_at.desc())
            .limit(1)
        )
    ).first()


@dataclass(frozen=True)
class NewWorkItem:
    item: m.WorkItem
    # The priority the matching rule gives the conversation; the conversations domain applies it.
    priority: Priority | None


async def create_work_item(session: AsyncSession, conversation: Conversation) -> NewWorkItem | None:
    """A queued work item for the conversation, in the queue its rules pick; None if nothing routes."""
    choice = await choose_queue(session, conversation.tenant_id, await _facts(session, conversation))
    if choice is None:
        return None
    priority = Priority(choice.priority) if choice.priority is not None else None
    now = time.time()
    item = m.WorkItem(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        queue_id=choice.queue_id,
        channel=capacity_channel(conversation.channel),
        priority=PRIORITY_RANK.get(priority or conversation.priority, 1),
        status=m.WorkItemStatus.QUEUED,
        arrived_at=now,
        queue_entered_at=now,
        last_agent_id=await _last_agent(session, conversation),
        declined_by=[],
        attempts=0,
        version=0,
    )
    session.add(item)
    return NewWorkItem(item, priority)


async def route_new_conversation(session: AsyncSession, conversation: Conversation) -> Priority | None:
    """Written with the conversation, in its transaction: a crash cannot leave it unrouted.

    The engine host hears ``work_item.created`` after the commit and offers it. Returns the
    priority the matching rule sets, for the conversations service to apply.
    """
    return await announce_work_item(session, conversation, await queue_new_conversation(session, conversation))


async def queue_new_conversation(session: AsyncSession, conversation: Conversation) -> NewWorkItem | None:
    """The first half of ``route_new_conversation``: the work item is added, not flushed yet.

    Intake adds it before the message, so one flush writes both (the ORM's flush is a large part
    of what a new conversation costs); ``announce_work_item`` completes the routing.
    """
    if conversation.assignee_id is not None:
        return None  # assigned by whoever created it; the reconcile on updates picks up later changes
    return await create_work_item(session, conversation)


def _work_item_event(conversation: Conversation, item: m.WorkItem) -> Event:
    return Event(
        "work_item.created",
        conversation.tenant_id,
        {
            "work_item_id": item.id,
            "conversation_id": conversation.id,
            "queue_id": item.queue_id,
            # The row as written, so the host need not read it back to enqueue it.
            "item": {
                "queue_id": item.queue_id,
                "channel": item.channel,
                "priority": item.priority,
                "arrived_at": item.arrived_at,
                "last_agent_id": item.last_agent_id,
                "version": item.version,
            },
        },
    )


async def announce_work_item(
    session: AsyncSession, conversation: Conversation, created: NewWorkItem | None
) -> Priority | None:
    """The second half: tell the host after the commit; returns the priority the rule sets."""
    if created is None:
        return None
    if created.item.id is None:  # not written by an earlier flush
        await session.flush()
    on_commit(session, _work_item_event(conversation, created.item))
    return created.priority


# ---------------------------------------------------------------------- agent state and offers


async def _may_manage(session: AsyncSession, actor: Actor, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None or user.tenant_id != actor.tenant_id or not user.is_active:
        raise NotFound("no such agent", field="user_id")
    if user_id == actor.user_id or actor.is_admin:
        return user
    if actor.is_supervisor:
        shared = await session.scalar(
            select(func.count())
            .select_from(TeamMembership)
            .where(TeamMembership.user_id == user_id, TeamMembership.team_id.in_(actor.team_ids or {-1}))
        )
        if shared:
            return user
    raise PermissionDenied("you may only change your own state or that of your team's agents", field="user_id")


async def reason_codes(session: AsyncSession, tenant_id: int) -> list[str]:
    rows = await session.scalars(
        select(m.ReasonCode.name)
        .where(m.ReasonCode.tenant_id == tenant_id, m.ReasonCode.is_active.is_(True))
        .order_by(m.ReasonCode.name)
    )
    return list(rows.all())


async def set_agent_state(
    *, session: AsyncSession, host: RoutingHost, actor: Actor, user_id: int, state: str, reason: str | None = None
) -> AgentStatus:
    await _may_manage(session, actor, user_id)
    try:
        presence = Presence(state)
    except ValueError:
        presence = None
    if presence not in CHOOSABLE_STATES:
        raise Invalid("choose available, not ready or offline (busy and wrap-up follow from the work)", field="state")
    if presence is Presence.NOT_READY:
        if not reason or reason not in await reason_codes(session, actor.tenant_id):
            raise Invalid("choose one of the reason codes for not ready", field="reason")
    else:
        reason = None
    await host.execute(
        actor.tenant_id,
        "set_state",
        user_id=user_id,
        state=presence.value,
        reason=reason,
        changed_by=actor.user_id if actor.user_id != user_id else None,
    )
    return await agent_status(session=session, actor=actor, user_id=user_id, fresh=True)


def _own(actor: Actor) -> int:
    if actor.user_id is None:
        raise PermissionDenied("only an agent can do this", field="user_id")
    return actor.user_id


async def accept_offer(*, host: RoutingHost, actor: Actor, conversation_id: int, attempt: int | None = None) -> Any:
    return await host.execute(
        actor.tenant_id, "accept", conversation_id=conversation_id, user_id=_own(actor), attempt=attempt
    )


async def decline_offer(*, host: RoutingHost, actor: Actor, conversation_id: int, attempt: int | None = None) -> Any:
    return await host.execute(
        actor.tenant_id, "decline", conversation_id=conversation_id, user_id=_own(actor), attempt=attempt
    )


async def next_item(*, host: RoutingHost, actor: Actor) -> dict[str, Any] | None:
    """Pull mode: the best waiting item over the agent's queues, assigned to them at once."""
    result: dict[str, Any] | None = await host.execute(actor.tenant_id, "next_item", user_id=_own(actor))
    return result


async def end_wrap_up(*, host: RoutingHost, actor: Actor) -> None:
    await host.execute(actor.tenant_id, "end_wrap_up", user_id=_own(actor))


# ---------------------------------------------------------------------- what the header shows


@dataclass(frozen=True)
class PendingOffer:
    conversation_id: int
    number: int
    subject: str
    channel: str
    queue: str
    attempt: int
    expires_at: float


@dataclass(frozen=True)
class AgentStatus:
    user_id: int
    state: str
    reason: str | None
    since: float
    wrap_up_until: float | None
    offers: list[PendingOffer] = field(default_factory=list)
    items: int = 0
    reason_codes: list[str] = field(default_factory=list)


async def agent_status(*, session: AsyncSession, actor: Actor, user_id: int, fresh: bool = False) -> AgentStatus:
    if user_id != actor.user_id:
        await _may_manage(session, actor, user_id)
    if fresh:  # end the read snapshot taken before the change, so the change shows
        await session.rollback()
    row = await session.get(m.AgentPresence, user_id)
    offers = (
        await session.execute(
            select(
                m.OfferRecord.attempt,
                m.OfferRecord.expires_at,
                Conversation.id,
                Conversation.number,
                Conversation.subject,
                Conversation.channel,
                m.Queue.name,
            )
            .join(m.WorkItem, m.WorkItem.id == m.OfferRecord.work_item_id)
            .join(Conversation, Conversation.id == m.WorkItem.conversation_id)
            .outerjoin(m.Queue, m.Queue.id == m.OfferRecord.queue_id)
            .where(
                m.OfferRecord.tenant_id == actor.tenant_id,
                m.OfferRecord.agent_id == user_id,
                m.OfferRecord.outcome == "pending",
            )
            .order_by(m.OfferRecord.id)
        )
    ).all()
    items = await session.scalar(
        select(func.count())
        .select_from(m.WorkItem)
        .where(
            m.WorkItem.tenant_id == actor.tenant_id,
            m.WorkItem.agent_id == user_id,
            m.WorkItem.status == m.WorkItemStatus.ASSIGNED,
        )
    )
    return AgentStatus(
        user_id=user_id,
        state=row.shown_state if row else Presence.OFFLINE.value,
        reason=row.reason if row and row.shown_state == Presence.NOT_READY.value else None,
        since=row.state_since if row else 0.0,
        wrap_up_until=row.wrap_up_until if row else None,
        offers=[
            PendingOffer(cid, number, subject, channel, queue or "", attempt, expires)
            for attempt, expires, cid, number, subject, channel, queue in offers
        ],
        items=int(items or 0),
        reason_codes=await reason_codes(session, actor.tenant_id),
    )


# ---------------------------------------------------------------------- the wallboard


@dataclass(frozen=True)
class QueueBoard:
    id: int
    name: str
    waiting: int
    longest_wait_seconds: float
    offered_today: int
    answered_today: int
    abandoned_today: int
    agents: dict[str, int]  # shown state -> agents who can take this queue's work


@dataclass(frozen=True)
class AgentBoard:
    user_id: int
    name: str
    state: str
    reason: str | None
    seconds_in_state: float
    items: list[int]  # conversation numbers being worked
    offers: list[int]  # conversation numbers being offered


@dataclass(frozen=True)
class Wallboard:
    queues: list[QueueBoard]
    agents: list[AgentBoard]
    taken_at: float


def start_of_day(tz_name: str, now: float) -> float:
    try:
        tz = ZoneInfo(tz_name)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    today = datetime.fromtimestamp(now, tz).date()
    return datetime.combine(today, dtime.min, tz).timestamp()


async def wallboard(*, session: AsyncSession, actor: Actor, now: float | None = None) -> Wallboard:
    """Per queue: waiting, longest wait, offered/answered/abandoned today, agents by state; per agent:
    state, time in it, current items. Supervisors and admins only."""
    if not actor.is_supervisor:
        raise PermissionDenied("the wallboard is for supervisors", field=None)
    now = time.time() if now is None else now
    tenant = await session.get(Tenant, actor.tenant_id)
    midnight = start_of_day(tenant.time_zone if tenant else "UTC", now)
    tid = actor.tenant_id
    queues = await loading.load_queues(session, tid)
    W = m.WorkItem
    waiting = {
        qid: (n, oldest)
        for qid, n, oldest in (
            await session.execute(
                select(W.queue_id, func.count(), func.min(W.arrived_at))
                .where(W.tenant_id == tid, W.status.in_((m.WorkItemStatus.QUEUED, m.WorkItemStatus.OFFERED)))
                .group_by(W.queue_id)
            )
        ).all()
    }
    offered = dict(
        (
            await session.execute(
                select(W.queue_id, func.count())
                .where(W.tenant_id == tid, W.arrived_at >= midnight)
                .group_by(W.queue_id)
            )
        ).all()
    )
    answered = dict(
        (
            await session.execute(
                select(W.queue_id, func.count())
                .where(W.tenant_id == tid, W.answered_at >= midnight)
                .group_by(W.queue_id)
            )
        ).all()
    )
    abandoned = dict(
        (
            await session.execute(
                select(W.queue_id, func.count())
                .where(
                    W.tenant_id == tid,
                    W.status == m.WorkItemStatus.WITHDRAWN,
                    W.ended_at >= midnight,
                    W.answered_at.is_(None),
                )
                .group_by(W.queue_id)
            )
        ).all()
    )
    profiles = await loading.load_profiles(session, tid)
    presence = {
        p.user_id: p
        for p in (await session.scalars(select(m.AgentPresence).where(m.AgentPresence.tenant_id == tid))).all()
    }
    boards: list[QueueBoard] = []
    for queue in queues:
        stages = loading.queue_config(queue).requirements()
        counts: dict[str, int] = {}
        for uid, profile in profiles.items():
            if any(stage.met_by(profile) for stage in stages):
                state = presence[uid].shown_state if uid in presence else Presence.OFFLINE.value
                counts[state] = counts.get(state, 0) + 1
        n, oldest = waiting.get(queue.id, (0, None))
        boards.append(
            QueueBoard(
                id=queue.id,
                name=queue.name,
                waiting=int(n),
                longest_wait_seconds=max(0.0, now - oldest) if oldest is not None else 0.0,
                offered_today=int(offered.get(queue.id, 0)),
                answered_today=int(answered.get(queue.id, 0)),
                abandoned_today=int(abandoned.get(queue.id, 0)),
                agents=counts,
            )
        )
    return Wallboard(queues=boards, agents=await _agent_boards(session, tid, presence, now), taken_at=now)


async def _agent_boards(
    session: AsyncSession, tenant_id: int, presence: dict[int, m.AgentPresence], now: float
) -> list[AgentBoard]:
    users = (
        await session.execute(
            select(User.id, User.name).where(User.tenant_id == tenant_id, User.is_active.is_(True)).order_by(User.name)
        )
    ).all()
    work: dict[int, tuple[list[int], list[int]]] = {}
    rows = await session.execute(
        select(m.WorkItem.agent_id, m.WorkItem.status, Conversation.number)
        .join(Conversation, Conversation.id == m.WorkItem.conversation_id)
        .where(
            m.WorkItem.tenant_id == tenant_id,
            m.WorkItem.status.in_((m.WorkItemStatus.ASSIGNED, m.WorkItemStatus.OFFERED)),
        )
        .order_by(Conversation.number)
    )
    for agent_id, status, number in rows.all():
        if agent_id is None:
            continue
        items, offers = work.setdefault(agent_id, ([], []))
        (items if status == m.WorkItemStatus.ASSIGNED else offers).append(number)
    boards = []
    for uid, name in users:
        row = presence.get(uid)
        items, offers = work.get(uid, ([], []))
        boards.append(
            AgentBoard(
                user_id=uid,
                name=name,
                state=row.shown_state if row else Presence.OFFLINE.value,
                reason=row.reason if row and row.shown_state == Presence.NOT_READY.value else None,
                seconds_in_state=max(0.0, now - row.state_since) if row and row.state_since else 0.0,
                items=items,
                offers=offers,
            )
        )
    return boards


async def queues_for_transfer(session: AsyncSession, actor: Actor) -> Sequence[tuple[int, str]]:
    rows = await session.execute(
        select(m.Queue.id, m.Queue.name).where(m.Queue.tenant_id == actor.tenant_id).order_by(m.Queue.name)
    )
    return [(qid, name) for qid, name in rows.all()]
