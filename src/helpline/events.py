"""Events and the EventBus.

Services queue events with ``on_commit(session, event)``; ``Database.transaction`` publishes
them once the transaction has committed. The bus fans events out to subscribers in this
process (websocket hub, routing, ...). With ``HELPLINE_REDIS_URL`` set, events travel over
Redis pub/sub so that every app process hears every event.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from helpline.db import PENDING_EVENTS

log = logging.getLogger(__name__)
REDIS_CHANNEL = "helpline:events"
# Names this process on the bus (replies to forwarded commands, collision events from here).
PROCESS_ID = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Event:
    """Something that happened: ``type`` like ``conversation.created``, always within a tenant."""

    type: str
    tenant_id: int
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"type": self.type, "tenant_id": self.tenant_id, "data": self.data})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        obj = json.loads(raw)
        return cls(type=obj["type"], tenant_id=int(obj["tenant_id"]), data=obj.get("data") or {})


def on_commit(session: AsyncSession, event: Event) -> None:
    """Queue an event to be published after the session's transaction commits."""
    session.info.setdefault(PENDING_EVENTS, []).append(event)
    _tell_watchers(event)


# Caches of rows that rarely change (a tenant's routing rules, ...) hear of changes here: once when
# a transaction queues the event (so a process without a bus forgets too) and again when the event
# is delivered after the commit, in this process or, over Redis, in every other one.
_watchers: dict[str, list[Callable[[int], None]]] = {}


def watch(event_types: Iterable[str], forget: Callable[[int], None]) -> None:
    """Call ``forget(tenant_id)`` whenever an event of these types is queued or delivered."""
    for kind in event_types:
        _watchers.setdefault(kind, []).append(forget)


def _tell_watchers(event: Event) -> None:
    for forget in _watchers.get(event.type, ()):
        try:
            forget(event.tenant_id)
        except Exception:  # a cache must never break a write
            log.exception("cache watcher failed on %s", event.type)


def pending_event_types(session: AsyncSession) -> set[str]:
    """The types of the events this session's transaction will publish when it commits."""
    return {event.type for event in session.info.get(PENDING_EVENTS, ())}


class EventBus(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, event: Event) -> None: ...
    def subscribe(self) -> Subscription: ...


class Subscription:
    """A queue of events for one subscriber; iterate it, close it when done."""

    def __init__(self, fanout: _Fanout, maxsize: int = 10_000) -> None:
        self._fanout = fanout
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)

    def deliver(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:  # a stuck subscriber must not stall everyone else
            log.warning("event subscriber is full; dropping %s", event.type)

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._fanout.remove(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()


class _Fanout:
    def __init__(self) -> None:
        self.subscribers: set[Subscription] = set()

    def add(self) -> Subscription:
        sub = Subscription(self)
        self.subscribers.add(sub)
        return sub

    def remove(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    def deliver(self, event: Event) -> None:
        _tell_watchers(event)
        for sub in list(self.subscribers):
            sub.deliver(event)


class MemoryBus:
    """In-process fan-out: the embedded default, one app process."""

    def __init__(self) -> None:
        self._fanout = _Fanout()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, event: Event) -> None:
        self._fanout.deliver(event)

    def subscribe(self) -> Subscription:
        return self._fanout.add()


class RedisBus:
    """Redis pub/sub: every process publishes to one channel and fans out what it hears."""

    def __init__(self, url: str, channel: str = REDIS_CHANNEL) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self.channel = channel
        self._fanout = _Fanout()
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        await self._redis.ping()  # fail loudly at start-up, not at the first event
        self._listener = asyncio.create_task(self._listen(), name="redis-event-listener")
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        try:
                            self._fanout.deliver(Event.from_json(message["data"]))
                        except (ValueError, KeyError):
                            log.warning("ignoring malformed event on %s", self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # reconnect: the bus must outlive a Redis restart
                log.exception("redis event listener failed; reconnecting")
                await asyncio.sleep(1)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.aclose()

    async def publish(self, event: Event) -> None:
        await self._redis.publish(self.channel, event.to_json())

    def subscribe(self) -> Subscription:
        return self._fanout.add()


def bus_channel(database_url: str) -> str:
    """One channel per deployment: Redis pub/sub ignores the database number in the URL, so two
    deployments (or two test runs) sharing a Redis must not hear each other's events."""
    return f"{REDIS_CHANNEL}:{hashlib.sha256(database_url.encode()).hexdigest()[:16]}"


def make_bus(redis_url: str | None, database_url: str = "") -> EventBus:
    return RedisBus(redis_url, bus_channel(database_url)) if redis_url else MemoryBus()
