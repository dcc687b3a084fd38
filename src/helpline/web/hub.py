"""The agents' WebSocket hub: live inbox and conversation updates, who-is-viewing (collision),
offers and agent state, the wallboard, and agent presence.

Every app process runs one hub. It listens to the event bus (so with Redis it hears events
from every process) and tells each connected agent of its tenant what changed; the browser
then fetches the fragments it shows, rendered for that agent's view, language and rights.
Viewing and typing are ephemeral: they travel over the bus as ``collision`` events and
expire unless refreshed.

Routing events go only where they matter: an offer or a state change to the agent concerned
(``routing`` frames), and a debounced ``wallboard`` signal to supervisors. An agent's sockets are
their presence: the first one tells routing they are connected; when the last one in this process
closes and none comes back within ``disconnect_grace`` seconds (a page navigation reconnects at
once), routing hears they disconnected.

Frames that queue up for a socket while it is still sending go out together as one
``{"type": "batch", "frames": [...]}`` message (one write instead of one per event).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from helpline.accounts.service import Actor
from helpline.events import PROCESS_ID, Event

if TYPE_CHECKING:
    from helpline.app import Runtime

log = logging.getLogger(__name__)
router = APIRouter()
VIEWER_TTL = 45.0
CONVERSATION_EVENTS = {
    "conversation.created",
    "conversation.updated",
    "conversation.merged",
    "message.created",
    "message.updated",  # an outbound email's delivery status changed
}
# Sent to the agent the event is about (its data["agent_id"], a user id as a string).
AGENT_EVENTS = {
    "agent.state_changed",
    "offer.made",
    "offer.accepted",
    "offer.declined",
    "offer.timed_out",
    "offer.retracted",
    "work_item.assigned",
}
WALLBOARD_PREFIXES = ("agent.", "offer.", "work_item.")
WALLBOARD_EVENTS = {"routing.config_changed", "user.created", "user.updated"}
WALLBOARD_DEBOUNCE = 0.25  # seconds: a burst of routing events is one refresh
MAX_BATCH_FRAMES = 100  # frames per batch message when a socket's queue backs up
# Conversation signals wait this long for others to join them in one message. Every agent socket
# gets every conversation signal, so under load sending them one by one was most of the hub's cost;
# the browser waits 150 ms before it refreshes the list anyway. Offers and the like never wait.
COALESCE_SECONDS = 0.05
DISCONNECT_GRACE = 10.0  # seconds without a socket before routing hears the agent left


@dataclass(eq=False)
class Connection:
    socket: WebSocket
    actor: Actor
    viewing: int | None = None
    typing: bool = False
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    urgent: bool = False  # a frame that must not wait is queued
    hurry: asyncio.Future[None] | None = None  # resolved to end the sender's wait early


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
        self.disconnect_grace = DISCONNECT_GRACE
        self._wallboard_due: set[int] = set()  # tenants with a wallboard signal scheduled
        self._leaving: dict[tuple[int, int], asyncio.Task[None]] = {}  # (tenant, user) -> grace timer
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        self._subscription = self.runtime.bus.subscribe()
        self._task = asyncio.create_task(self._pump(), name="websocket-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._subscription.close()
        pending = [*self._tasks, *self._leaving.values()]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

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
        if event.type == "chat.visitor_typing":
            self._send_visitor_typing(event, connections)
            return
        if event.type == "chat.visitor_read":
            self._send_visitor_read(event.data, connections)
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
                _offer(connection, payload, urgent=False)
        if event.type in AGENT_EVENTS:
            self._send_to_agent(event, connections)
        if event.type.startswith(WALLBOARD_PREFIXES) or event.type in WALLBOARD_EVENTS:
            self._wallboard_soon(event.tenant_id)

    # ------------------------------------------------------------------ routing

    def _send_to_agent(self, event: Event, connections: set[Connection]) -> None:
        agent_id = str(event.data.get("agent_id") or "")
        if not agent_id:
            return
        payload = json.dumps(
            {"type": "routing", "event": event.type, "conversation_id": event.data.get("conversation_id")}
        )
        for connection in connections:
            if str(connection.actor.user_id) == agent_id:
                _offer(connection, payload)

    def _wallboard_soon(self, tenant_id: int) -> None:
        if tenant_id in self._wallboard_due:
            return
        self._wallboard_due.add(tenant_id)
        asyncio.get_running_loop().call_later(WALLBOARD_DEBOUNCE, self._send_wallboard, tenant_id)

    def _send_wallboard(self, tenant_id: int) -> None:
        self._wallboard_due.discard(tenant_id)
        payload = json.dumps({"type": "wallboard"})
        for connection in self.connections.get(tenant_id, ()):
            if connection.actor.is_supervisor:
                _offer(connection, payload)

    def _user_connections(self, tenant_id: int, user_id: int | None) -> list[Connection]:
        return [c for c in self.connections.get(tenant_id, ()) if c.actor.user_id == user_id]

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell_routing(self, tenant_id: int, op: str, user_id: int) -> None:
        try:
            await self.runtime.routing.execute(tenant_id, op, user_id=user_id, process=PROCESS_ID)
        except Exception:  # presence is best effort: the socket works without it
            log.warning("routing %s for user %s failed", op, user_id, exc_info=True)

    def agent_connected(self, connection: Connection) -> None:
        actor = connection.actor
        if actor.user_id is None:
            return
        leaving = self._leaving.pop((actor.tenant_id, actor.user_id), None)
        if leaving is not None:
            leaving.cancel()
        self._background(self._tell_routing(actor.tenant_id, "connected", actor.user_id))

    def agent_disconnected(self, connection: Connection) -> None:
        """Called after the connection was removed: if it was the user's last here, start the grace timer."""
        actor = connection.actor
        if actor.user_id is None or self._user_connections(actor.tenant_id, actor.user_id):
            return
        key = (actor.tenant_id, actor.user_id)
        if key not in self._leaving:
            self._leaving[key] = asyncio.ensure_future(self._leave_after_grace(*key))

    async def _leave_after_grace(self, tenant_id: int, user_id: int) -> None:
        try:
            await asyncio.sleep(self.disconnect_grace)
            if self._user_connections(tenant_id, user_id):
                return
        finally:
            if self._leaving.get((tenant_id, user_id)) is asyncio.current_task():
                self._leaving.pop((tenant_id, user_id), None)
        await self._tell_routing(tenant_id, "disconnected", user_id)

    # ------------------------------------------------------------------ collision

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

    def _send_visitor_typing(self, event: Event, connections: Iterable[Connection]) -> None:
        """A chat visitor types: agents who have that conversation open see it."""
        conversation_id = event.data.get("conversation_id")
        payload = json.dumps(
            {"type": "visitor_typing", "conversation_id": conversation_id, "typing": bool(event.data.get("typing"))}
        )
        for connection in connections:
            if connection.viewing == conversation_id:
                _offer(connection, payload)

    def _send_visitor_read(self, data: dict[str, Any], connections: Iterable[Connection]) -> None:
        """A chat visitor has seen the agents' replies up to one: "Seen" goes under it."""
        conversation_id = data.get("conversation_id")
        payload = json.dumps({"type": "visitor_read", "conversation_id": conversation_id, "seq": data.get("seq"),
                              "message_id": data.get("message_id")})
        for connection in connections:
            if connection.viewing == conversation_id:
                _offer(connection, payload)

    async def send_visitor_read_mark(self, connection: Connection, conversation_id: int) -> None:
        """On opening a chat: the visitor's read mark so far (kept on the chat session over restarts)."""
        receipts = self.runtime.chat.receipts
        await receipts.known(connection.actor.tenant_id, conversation_id)
        mark = receipts.marks.visitor_mark(connection.actor.tenant_id, conversation_id)
        if mark is not None:
            data = {"conversation_id": conversation_id, "seq": mark.seq, "message_id": mark.message_id}
            self._send_visitor_read(data, (connection,))

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
                    "process": PROCESS_ID,
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


def _offer(connection: Connection, payload: str, *, urgent: bool = True) -> None:
    """Queue a frame for the socket; ``urgent=False`` lets it wait briefly for company."""
    try:
        connection.queue.put_nowait(payload)
    except asyncio.QueueFull:  # a stalled browser must not hold up the others
        log.warning("websocket queue full for user %s", connection.actor.user_id)
        return
    if urgent:
        connection.urgent = True
        if connection.hurry is not None and not connection.hurry.done():
            connection.hurry.set_result(None)


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
    rt.hub.agent_connected(connection)
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
        rt.hub.agent_disconnected(connection)
        if connection.viewing is not None:
            with contextlib.suppress(Exception):
                await rt.hub.announce(connection, connection.viewing, "left")


async def _send_loop(connection: Connection) -> None:
    """Send the queued frames; frames that queued up while a send was under way go as one ``batch``.

    Under load this is one WebSocket message (one socket write) instead of one per event. Frames
    that must not wait (offers, viewers, pongs) go at once; conversation signals wait up to
    ``COALESCE_SECONDS`` for others. The browser handles a batch's frames one by one, in order.
    """
    queue = connection.queue
    loop = asyncio.get_running_loop()
    with contextlib.suppress(Exception):
        while True:
            payload = await queue.get()
            if not connection.urgent and COALESCE_SECONDS > 0:
                # Only conversation signals queued: let the ones that follow join them.
                connection.hurry = loop.create_future()
                await asyncio.wait((connection.hurry,), timeout=COALESCE_SECONDS)
                connection.hurry = None
            connection.urgent = False
            if not queue.empty():
                frames = [payload]
                while not queue.empty() and len(frames) < MAX_BATCH_FRAMES:
                    frames.append(queue.get_nowait())
                payload = '{"type": "batch", "frames": [' + ", ".join(frames) + "]}"
            await connection.socket.send_text(payload)


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
            await rt.hub.send_visitor_read_mark(connection, conversation_id)
    elif kind == "typing" and connection.viewing is not None:
        connection.typing = bool(frame.get("typing"))
        await rt.hub.announce(connection, connection.viewing, "typing" if connection.typing else "viewing")
    elif kind == "ping":
        _offer(connection, json.dumps({"type": "pong"}))
    elif kind == "read":
        await _read(rt, connection, conversation_id, frame)


async def _read(rt: Runtime, connection: Connection, conversation_id: int | None, frame: dict[str, Any]) -> None:
    """A live chat on the agent's screen up to a message: the visitor's widget shows "Read"."""
    from helpline.channels.chat import receipts
    from helpline.errors import DomainError, Invalid

    try:
        if conversation_id is None:
            raise Invalid("must be a whole number", field="conversation_id")
        await receipts.agent_read(rt, actor=connection.actor, conversation_id=conversation_id,
                                  message_id=frame.get("message_id"), seq=frame.get("seq"))
    except DomainError as exc:
        _offer(connection, json.dumps({"type": "error", "detail": exc.message, "field": exc.field}))


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
