"""Is anyone there? "Online" for a chat channel, from routing (ADR 0008: chat has no presence of its own).

Asks the routing engine (`RoutingEngine.could_take`, read-only: the queue's eligible agents, their
presence and chat capacity) when this process holds the engine (SQLite, or the PostgreSQL leader).
Elsewhere it falls back on the stored presence rows: an agent of the tenant who is available or
busy. It never changes routing state and takes no lock; a wrong answer for a moment only shows
the offline form or the chat.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.channels.chat.models import ChatChannel
from helpline.routing import models as routing_models
from helpline.routing.config import Presence
from helpline.routing.loading import queue_key
from helpline.routing.rules import RoutingFacts, capacity_channel, choose_queue

if TYPE_CHECKING:
    from helpline.routing.host import RoutingHost

log = logging.getLogger(__name__)
CHAT = capacity_channel("chat")
READY = (Presence.AVAILABLE, Presence.BUSY)


async def chat_online(session: AsyncSession, routing: RoutingHost, channel: ChatChannel) -> bool:
    """Could an agent take a new chat of this channel now?"""
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
