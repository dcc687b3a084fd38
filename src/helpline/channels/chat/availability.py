"""Is anyone there? "Online" for a chat channel: within its business hours, and routing says an agent
could take a chat (ADR 0008: chat has no presence of its own).

Outside business hours (``channels.chat.hours``) the channel is offline whoever is available; the
time is the routing engine's clock, so tests that move the routing clock move the hours too.

Asks the routing engine (`RoutingEngine.could_take`, read-only: the queue's eligible agents, their
presence and chat capacity) when this process holds the engine (SQLite, or the PostgreSQL leader).
Elsewhere it falls back on the stored presence rows: an agent of the tenant who is available or
busy. It never changes routing state and takes no lock; a wrong answer for a moment only shows
the offline form or the chat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.channels.chat.hours import hours_of
from helpline.channels.chat.models import ChatChannel
from helpline.errors import Invalid
from helpline.routing import models as routing_models
from helpline.routing.config import Presence
from helpline.routing.loading import queue_key
from helpline.routing.rules import RoutingFacts, capacity_channel, choose_queue

if TYPE_CHECKING:
    from helpline.routing.host import RoutingHost

log = logging.getLogger(__name__)
CHAT = capacity_channel("chat")
READY = (Presence.AVAILABLE, Presence.BUSY)


@dataclass(frozen=True)
class Availability:
    online: bool  # open, and an agent could take a new chat now
    open: bool  # within business hours
    changes_at: datetime | None  # when the hours open (or close) next; None: never

    @property
    def opens_at(self) -> datetime | None:
        return None if self.open else self.changes_at


def now_of(routing: RoutingHost) -> datetime:
    return datetime.fromtimestamp(routing.clock.now(), UTC)


def business_hours(channel: ChatChannel, at: datetime) -> tuple[bool, datetime | None]:
    """(open now, when that changes next) for the channel's business hours."""
    try:
        hours = hours_of(channel)
    except Invalid:  # stored before a tzdata update dropped its zone: rather open than a broken widget
        log.warning("chat channel %s has unusable business hours", channel.id)
        return True, None
    return hours.is_open(at), hours.next_change(at)


async def availability(session: AsyncSession, routing: RoutingHost, channel: ChatChannel) -> Availability:
    """The channel's hours now and, within them, whether an agent could take a chat."""
    is_open, changes_at = business_hours(channel, now_of(routing))
    online = is_open and await _agent_ready(session, routing, channel)
    return Availability(online=online, open=is_open, changes_at=changes_at)


async def chat_online(session: AsyncSession, routing: RoutingHost, channel: ChatChannel) -> bool:
    """Could an agent take a new chat of this channel now (within business hours)?"""
    return (await availability(session, routing, channel)).online


async def _agent_ready(session: AsyncSession, routing: RoutingHost, channel: ChatChannel) -> bool:
    if not channel.is_active:
        return False
    try:
        choice = await choose_queue(
            session, channel.tenant_id, RoutingFacts(channel="chat", mailbox=channel.public_key)
        )
        engine = routing.engine(channel.tenant_id)
        if engine is not None:
            return engine.could_take(queue_key(choice.queue_id) if choice is not None else None, CHAT)
    except Exception:  # availability is advice: never fail the widget over it
        log.warning("chat availability from the routing engine failed", exc_info=True)
    presence = routing_models.AgentPresence
    found = await session.scalar(
        select(presence.user_id)
        .where(presence.tenant_id == channel.tenant_id, presence.shown_state.in_([p.value for p in READY]))
        .limit(1)
    )
    return found is not None
