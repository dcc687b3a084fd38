"""The ``status`` frame: a channel's connected visitors hear when it goes online or offline.

Availability (``channels.chat.availability``) changes when an agent's presence or load changes,
when routing is reconfigured, when an admin edits the channel, and when its business hours open or
close. Each process watches the channels of its own visitor sockets:

- routing events (``agent.state_changed``, ``offer.*``, ``work_item.*`` …) and ``chat.channels_changed``
  come over the event bus, from this process or (Redis) any other, after their commit;
- a timer per channel fires just after its next opening or closing time.

Either only *asks* for a check of the channel. Checks are coalesced: at most one per channel per
``COALESCE_SECONDS`` (a burst of offers on a busy floor costs one check), the first without delay.
A check computes availability once for the channel and sends ``{"type": "status", "online", "open",
"opens_at"}`` to each socket that was last told something else (in ``welcome`` or an earlier status).
A running chat is never cut: the widget keeps a conversation in progress whatever the status says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from helpline.channels.chat.availability import Availability, availability, now_of
from helpline.channels.chat.models import ChatChannel
from helpline.events import Event

if TYPE_CHECKING:
    from helpline.app import Runtime
    from helpline.channels.chat.socket import VisitorSocket

log = logging.getLogger(__name__)
COALESCE_SECONDS = 1.0
RACE_SECONDS = 2.0  # a socket that joins this soon after a change is checked again (its welcome may predate it)
AFTER_BOUNDARY = 0.25  # seconds past an opening/closing time, so the check sees the new state
MAX_TIMER = 3600.0  # long waits are re-planned hourly (a suspended host, a moved clock)
ROUTING_PREFIXES = ("agent.", "offer.", "work_item.")
ROUTING_EVENTS = {"routing.config_changed", "user.created", "user.updated"}
CHANNELS_CHANGED = "chat.channels_changed"  # = service.CHANNELS_CHANGED (not imported: no cycle)

Key = tuple[int, int]  # (tenant_id, channel_id)
Sender = Callable[["VisitorSocket", dict[str, Any]], Awaitable[None]]


def status_frame(state: Availability) -> dict[str, Any]:
    return {"type": "status", "online": state.online, "open": state.open,
            "opens_at": state.opens_at.isoformat() if state.opens_at else None}


def _relevant(event_type: str) -> bool:
    return event_type.startswith(ROUTING_PREFIXES) or event_type in ROUTING_EVENTS


class StatusWatch:
    """This process's channels with visitor sockets, and when to tell them their status."""

    def __init__(self, runtime: Runtime, send: Sender) -> None:
        self.runtime = runtime
        self.send = send
        self.sockets: dict[Key, set[VisitorSocket]] = {}
        self.by_tenant: dict[int, set[Key]] = {}
        self.pending: set[Key] = set()
        self.last_check: dict[Key, float] = {}
        self.timers: dict[Key, asyncio.TimerHandle] = {}
        self.heard_at: dict[int, float] = {}  # tenant -> when its availability last may have changed
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ membership

    def watch(self, sock: VisitorSocket) -> None:
        """A socket told its availability in ``welcome`` (``sock.online``, ``sock.open``) is now live."""
        key = (sock.tenant_id, sock.channel.id)
        group = self.sockets.setdefault(key, set())
        first = not group
        group.add(sock)
        self.by_tenant.setdefault(sock.tenant_id, set()).add(key)
        recent = time.monotonic() - self.heard_at.get(sock.tenant_id, float("-inf")) < RACE_SECONDS
        if first or recent:  # the first check also plans the channel's timer
            self.request(key)

    def forget(self, sock: VisitorSocket) -> None:
        key = (sock.tenant_id, sock.channel.id)
        group = self.sockets.get(key)
        if group is None:
            return
        group.discard(sock)
        if group:
            return
        self.sockets.pop(key, None)
        self.last_check.pop(key, None)
        timer = self.timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        keys = self.by_tenant.get(sock.tenant_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                self.by_tenant.pop(sock.tenant_id, None)
                self.heard_at.pop(sock.tenant_id, None)

    # ------------------------------------------------------------------ what may change it

    def hear(self, event: Event) -> None:
        """Every bus event passes here; only a few make a check."""
        keys = self.by_tenant.get(event.tenant_id)
        if not keys:
            return
        if event.type == CHANNELS_CHANGED:
            key = (event.tenant_id, event.data.get("channel_id"))
            if key in keys:
                self.request(key)  # hours, invitations, active: and its timer is planned again
            return
        if _relevant(event.type):
            self.heard_at[event.tenant_id] = time.monotonic()
            for key in list(keys):
                self.request(key)

    def request(self, key: Key) -> None:
        """Check the channel soon: now, or one ``COALESCE_SECONDS`` after its last check."""
        if key in self.pending or key not in self.sockets:
            return
        self.pending.add(key)
        wait = max(0.0, self.last_check.get(key, float("-inf")) + COALESCE_SECONDS - time.monotonic())
        task = asyncio.ensure_future(self._check_after(key, wait))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check_after(self, key: Key, wait: float) -> None:
        if wait:
            await asyncio.sleep(wait)
        # From here a new event asks for another check: it may have come after this one read the state.
        self.pending.discard(key)
        self.last_check[key] = time.monotonic()
        try:
            await self.check(key)
        except Exception:  # status is advice: a failed check waits for the next event or timer
            log.warning("chat status check failed", exc_info=True)

    # ------------------------------------------------------------------ the check

    async def check(self, key: Key) -> None:
        tenant_id, channel_id = key
        if not self.sockets.get(key):
            return
        async with self.runtime.db.read() as session:
            channel = await session.get(ChatChannel, channel_id)
            if channel is None or channel.tenant_id != tenant_id:
                return  # deleted: its sockets are being closed
            state = await availability(session, self.runtime.routing, channel)
        self._plan(key, state.changes_at)
        frame = status_frame(state)
        for sock in list(self.sockets.get(key, ())):
            if sock.closed or sock.online is None or (sock.online, sock.open) == (state.online, state.open):
                continue
            sock.online, sock.open = state.online, state.open
            task = asyncio.ensure_future(self.send(sock, frame))  # one slow visitor never holds up the rest
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _plan(self, key: Key, changes_at: datetime | None) -> None:
        """A timer for just after the channel's next opening or closing time."""
        timer = self.timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if changes_at is None or key not in self.sockets:
            return
        wait = (changes_at - now_of(self.runtime.routing)).total_seconds() + AFTER_BOUNDARY
        wait = min(max(wait, AFTER_BOUNDARY), MAX_TIMER)
        self.timers[key] = asyncio.get_running_loop().call_later(wait, self.request, key)

    async def stop(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
