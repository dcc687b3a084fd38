"""How a reply leaves Helpline: the conversation core hands it to its channel's adapter.

The core never knows which channel it is. When an outbound message is stored,
``conversations.service`` calls :func:`dispatch` inside the same transaction; the channel's
adapter records what it needs and enqueues its delivery job (the outbox), so the message is
sent if and only if it was committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from helpline.conversations.models import Conversation, Message

if TYPE_CHECKING:
    from helpline.conversations.service import NewMessage


@dataclass(frozen=True)
class Recipients:
    """Who else an agent's reply goes to, where the channel allows it (email: CC and BCC)."""

    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()


OutboundAdapter = Callable[[AsyncSession, Conversation, Message, "NewMessage"], Awaitable[None]]
_adapters: dict[str, OutboundAdapter] = {}


def outbound_adapter(*channels: str) -> Callable[[OutboundAdapter], OutboundAdapter]:
    """Register the function that queues delivery of replies on ``channels``."""

    def register(fn: OutboundAdapter) -> OutboundAdapter:
        for channel in channels:
            _adapters[channel] = fn
        return fn

    return register


def has_adapter(channel: str) -> bool:
    return channel in _adapters


async def dispatch(session: AsyncSession, conversation: Conversation, message: Message, new: NewMessage) -> None:
    """Queue delivery of an outbound message, in the caller's transaction (no adapter: kept in Helpline only)."""
    adapter = _adapters.get(conversation.channel)
    if adapter is not None:
        await adapter(session, conversation, message, new)
