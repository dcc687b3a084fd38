"""The agents' WebSocket hub: live inbox and conversation updates, and who-is-viewing (collision).

Every app process runs one hub. It listens to the event bus (so with Redis it hears events
from every process) and tells each connected agent of its tenant what changed; the browser
then fetches the fragments it shows, rendered for that agent's view, language and rights.
Viewing and typing are ephemeral: they travel over the bus as ``collision`` events and
expire unless refreshed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from helpline.accounts.service import Actor
from helpline.events import Event

if TYPE_CHECKING:
    from helpline.app import Runtime

log = logging.getLogger(__name__)
router = APIRouter()
VIEWER_TTL = 45.0
PROCESS = f"{os.getpid()}-{id(object())}"
CONVERSATION_EVENTS = {
    "conversation.created",
    "conversation.updated",
    "conversation.merged",
    "message.created",
}


@dataclass(eq=False)
class Connection:
    socket: WebSocket
    actor: Actor
    viewing: int | None = None
    typing: bool = False
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))


@dataclass
class Viewer:
    user_id: int
    name: str
    typing: bool
    expires: float


class Hub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.connections: dict[int, set[Connection]] = {}
        # (tenant, conversation) -> user -> viewer, from every process
        self.viewers: dict[tuple[int, int], dict[int, Viewer]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._subscription = self.runtime.bus.subscribe()
        self._task = asyncio.create_task(self._pump(), name="websocket-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._subscription.close()

    async def _pump(self) -> None:
        async for event in self._subscription:
            try:
                self._dispatch(event)
            except Exception:
                log.exception("hub failed to dispatch %s", event.type)

    def _dispatch(self, event: Event) -> None:
        connections = self.connections.get(event.tenant_id)
        if event.type == "collision":
            self._apply_collision(event)
            return
        if not connections:
            return
        if event.type in CONVERSATION_EVENTS:
            payload = json.dumps(
                {
                    "type": event.type,
                    "conversation_id": event.data.get("conversation_id"),
                    "message_id": event.data.get("message_id"),
                    "merged_id": event.data.get("merged_id"),
                }
            )
            for connection in connections:
                _offer(connection, payload)

    def _apply_collision(self, event: Event) -> None:
        data = event.data
        key = (event.tenant_id, int(data["conversation_id"]))
        viewers = self.viewers.setdefault(key, {})
        user_id = int(data["user_id"])
        if data.get("state") == "left":
            viewers.pop(user_id, None)
        else:
            viewers[user_id] = Viewer(
                user_id,
                str(data.get("name", "")),
                data.get("state") == "typing",
                time.monotonic() + VIEWER_TTL,
            )
        if not viewers:
            self.viewers.pop(key, None)
        self._send_viewers(*key)

    def viewers_of(self, tenant_id: int, conversation_id: int) -> list[Viewer]:
        now = time.monotonic()
        viewers = self.viewers.get((tenant_id, conversation_id), {})
        for user_id in [u for u, v in viewers.items() if v.expires < now]:
            viewers.pop(user_id)
        return sorted(viewers.values(), key=lambda v: v.name)

    def _send_viewers(self, tenant_id: int, conversation_id: int) -> None:
        viewers = [
            {"user_id": v.user_id, "name": v.name, "typing": v.typing}
            for v in self.viewers_of(tenant_id, conversation_id)
        ]
        payload = json.dumps({"type": "viewers", "conversation_id": conversation_id, "viewers": viewers})
        for connection in self.connections.get(tenant_id, ()):
            if connection.viewing == conversation_id:
                _offer(connection, payload)

    async def announce(self, connection: Connection, conversation_id: int, state: str) -> None:
        actor = connection.actor
        await self.runtime.bus.publish(
            Event(
                "collision",
                actor.tenant_id,
                {
                    "conversation_id": conversation_id,
                    "user_id": actor.user_id,
                    "name": actor.name,
                    "state": state,
                    "process": PROCESS,
                },
            )
        )

    def add(self, connection: Connection) -> None:
        self.connections.setdefault(connection.actor.tenant_id, set()).add(connection)

    def remove(self, connection: Connection) -> None:
        connections = self.connections.get(connection.actor.tenant_id)
        if connections is not None:
            connections.discard(connection)
            if not connections:
                self.connections.pop(connection.actor.tenant_id, None)


def _offer(connection: Connection, payload: str) -> None:
    try:
        connection.queue.put_nowait(payload)
    except asyncio.QueueFull:  # a stalled browser must not hold up the others
        log.warning("websocket queue full for user %s", connection.actor.user_id)


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: no cross-site risk
    host = websocket.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


@router.websocket("/ws")
async def agent_socket(websocket: WebSocket) -> None:
    from helpline.web.deps import _actor_from_cookie

    rt: Runtime = websocket.app.state.runtime
    found = await _actor_from_cookie(rt, websocket)
    # Accept, then close with a reason code: a browser never sees why a handshake failed.
    await websocket.accept()
    if found is None or not _same_origin(websocket):
        await websocket.close(code=4401, reason="log in first" if found is None else "cross-site connection refused")
        return
    connection = Connection(socket=websocket, actor=found[0])
    rt.hub.add(connection)
    sender = asyncio.create_task(_send_loop(connection))
    try:
        await websocket.send_text(json.dumps({"type": "hello", "user_id": connection.actor.user_id}))
        while True:
            raw = await websocket.receive_text()
            await _handle_frame(rt, connection, raw)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the browser left (RuntimeError: it left before our first frame went out)
    finally:
        sender.cancel()
        rt.hub.remove(connection)
        if connection.viewing is not None:
            with contextlib.suppress(Exception):
                await rt.hub.announce(connection, connection.viewing, "left")


async def _send_loop(connection: Connection) -> None:
    with contextlib.suppress(Exception):
        while True:
            await connection.socket.send_text(await connection.queue.get())


async def _handle_frame(rt: Runtime, connection: Connection, raw: str) -> None:
    if len(raw) > 4096:
        return
    try:
        frame: Any = json.loads(raw)
        kind = frame.get("type")
        conversation_id = frame.get("conversation_id")
        conversation_id = int(conversation_id) if conversation_id is not None else None
    except (ValueError, TypeError, AttributeError):
        _offer(connection, json.dumps({"type": "error", "detail": "malformed frame"}))
        return
    if kind == "view":
        if connection.viewing is not None and connection.viewing != conversation_id:
            await rt.hub.announce(connection, connection.viewing, "left")
        connection.viewing, connection.typing = conversation_id, False
        if conversation_id is not None and await _may_view(rt, connection.actor, conversation_id):
            await rt.hub.announce(connection, conversation_id, "viewing")
            rt.hub._send_viewers(connection.actor.tenant_id, conversation_id)
    elif kind == "typing" and connection.viewing is not None:
        connection.typing = bool(frame.get("typing"))
        await rt.hub.announce(connection, connection.viewing, "typing" if connection.typing else "viewing")
    elif kind == "ping":
        _offer(connection, json.dumps({"type": "pong"}))


async def _may_view(rt: Runtime, actor: Actor, conversation_id: int) -> bool:
    from helpline.conversations import service as conversations
    from helpline.errors import NotFound

    async with rt.db.read() as session:
        try:
            await conversations.get_conversation(
                session=session, actor=actor, conversation_id=conversation_id
            )
        except NotFound:
            return False
    return True
