"""The visitor's WebSocket, ``/widget/v1/ws?channel=PUBLIC_KEY``, and this process's registry of them.

Protocol: ``docs/subsystems/chat.md``. In short: the socket's ``Origin`` must be one of the
channel's allowed origins (else close 4403); the first frame is ``hello`` with the visitor token
within ``HELLO_SECONDS`` (else close 4401); the server answers ``welcome``, replays the chat log
after ``after`` and then goes live.

**Delivery without gaps or duplicates.** Every frame with a ``seq`` is sent by one routine,
:meth:`VisitorRegistry.catch_up`: it loads the rows after the socket's last ``seq`` (one query)
and sends them in order, then remembers the last one sent. The hello replay and every live
``message.created`` (from this process or, over Redis, any other) run it; a run asked for while
one is under way makes that one go round again instead of running beside it. So the socket gets
every row once, in order, whatever interleaves.

Per socket the process keeps one small object; a conversation's sockets are found in a dict.
Nothing here raises out of the socket: bad input is an ``error`` frame or a close with a code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, WebSocket
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocketState

from helpline.channels.chat import ending, receipts, service, uploads
from helpline.channels.chat.availability import availability
from helpline.channels.chat.models import ChatChannel, ChatSession
from helpline.channels.chat.status import StatusWatch
from helpline.conversations.models import Conversation, Status
from helpline.errors import Conflict, DomainError, TooManyRequests
from helpline.events import Event

if TYPE_CHECKING:
    from helpline.app import Runtime

log = logging.getLogger(__name__)
router = APIRouter()

HELLO_SECONDS = 10.0
SEND_SECONDS = 10.0  # a socket that cannot take a frame for this long is closed (4408)
MESSAGES_PER_WINDOW = 10  # visitor messages per RATE_WINDOW per visitor session
FRAMES_PER_WINDOW = 40  # frames of any kind per RATE_WINDOW per socket
RATE_WINDOW = 10.0
FLOOD_STRIKES = 20  # refused frames within RATE_WINDOW before the socket is closed (4429)
MAX_FRAME_CHARS = 64 * 1024
ENDED = (Status.solved.value, Status.closed.value)


class Close(Exception):
    """End the socket with a close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(eq=False)
class VisitorSocket:
    websocket: WebSocket
    tenant_id: int
    channel: ChatChannel
    session_id: int
    conversation_id: int | None = None
    last_seq: int = 0
    assignee_id: int | None = None
    status: str | None = None
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    catching_up: bool = False
    again: bool = False
    frames: deque[float] = field(default_factory=deque)
    strikes: deque[float] = field(default_factory=deque)
    typing: bool = False
    closed: bool = False
    origin: str = ""
    online: bool | None = None  # what the socket was last told (welcome, status): see channels.chat.status
    open: bool | None = None
    read_sent: int = 0  # the agents' read mark this socket has had (a `read` frame)


class VisitorRegistry:
    """This process's visitor sockets, fed by the event bus."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.by_conversation: dict[int, set[VisitorSocket]] = {}
        self.by_session: dict[int, set[VisitorSocket]] = {}
        self.sent_messages: dict[int, deque[float]] = {}  # session -> times of its recent messages
        self.agent_typing: dict[tuple[int, int], set[str]] = {}  # conversation -> names typing
        self.unattached = 0  # sockets whose session has no conversation yet
        self.receipts = receipts.Receipts(lambda event: runtime.bus.publish(event), runtime.db)
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.status = StatusWatch(runtime, send)  # the status frame when availability changes

    @property
    def count(self) -> int:
        return sum(len(s) for s in self.by_session.values())

    def start(self) -> None:
        self._subscription = self.runtime.bus.subscribe()
        self._task = asyncio.create_task(self._pump(), name="chat-visitor-sockets")
        self.receipts.start()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._subscription.close()
        await self.receipts.close()
        await self.status.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ membership

    def add(self, sock: VisitorSocket) -> None:
        self.by_session.setdefault(sock.session_id, set()).add(sock)
        if sock.conversation_id is not None:
            self.by_conversation.setdefault(sock.conversation_id, set()).add(sock)
        else:
            self.unattached += 1
        self.status.watch(sock)

    def remove(self, sock: VisitorSocket) -> None:
        if sock in self.by_session.get(sock.session_id, ()) and sock.conversation_id is None:
            self.unattached -= 1
        sock.closed = True
        self.status.forget(sock)
        for index, key in ((self.by_session, sock.session_id), (self.by_conversation, sock.conversation_id)):
            if key is None:
                continue
            found = index.get(key)
            if found is not None:
                found.discard(sock)
                if not found:
                    index.pop(key, None)
        if sock.session_id not in self.by_session:
            self.sent_messages.pop(sock.session_id, None)

    def attach(self, session_id: int, conversation_id: int) -> list[VisitorSocket]:
        """The session's conversation is now ``conversation_id``: its sockets follow it."""
        moved = []
        for sock in self.by_session.get(session_id, ()):
            if sock.conversation_id == conversation_id:
                continue
            if sock.conversation_id is not None:
                self.by_conversation.get(sock.conversation_id, set()).discard(sock)
            else:
                self.unattached -= 1
            sock.conversation_id, sock.last_seq, sock.read_sent = conversation_id, 0, 0
            self.by_conversation.setdefault(conversation_id, set()).add(sock)
            moved.append(sock)
        return moved

    # ------------------------------------------------------------------ events

    async def _pump(self) -> None:
        async for event in self._subscription:
            try:
                self._dispatch(event)
            except Exception:
                log.exception("chat sockets failed to dispatch %s", event.type)

    def _dispatch(self, event: Event) -> None:
        data = event.data
        self.status.hear(event)
        if event.type == "collision":
            self._agent_typing(event)
            return
        if event.type == service.CHANNELS_CHANGED:
            self._background(self._channel_changed(event))
            return
        if event.type in receipts.EVENTS:
            self._read_mark(event)
            return
        if event.type not in ("message.created", "conversation.updated", service.CHAT_MESSAGE):
            return
        conversation_id = data.get("conversation_id")
        if not isinstance(conversation_id, int):
            return
        sockets = [s for s in self.by_conversation.get(conversation_id, ()) if s.tenant_id == event.tenant_id]
        if event.type == service.CHAT_MESSAGE:
            if sockets:
                for sock in sockets:
                    self._deliver(sock, data)
            elif self.unattached > 0:
                # A conversation another process (or tab) started for a session of ours.
                self._background(self._adopt(event.tenant_id, conversation_id))
            return
        if event.type == "message.created":
            # The chat log's own messages come as chat.message; this is for a chat merged into a
            # conversation of another channel, whose log the socket then follows.
            if data.get("direction") != "note" and data.get("channel") != "chat":
                for sock in sockets:
                    self._background(self.catch_up(sock))
            return
        for sock in sockets:
            self._background(self._conversation_changed(sock, data))

    async def _channel_changed(self, event: Event) -> None:
        """An admin changed or deleted a channel: its sockets from no longer allowed origins close (4403)."""
        channel_id = event.data.get("channel_id")
        sockets = [s for group in self.by_session.values() for s in group
                   if s.channel.id == channel_id and s.tenant_id == event.tenant_id]
        if not sockets:
            return
        async with self.runtime.db.read() as session:
            channel = await session.get(ChatChannel, channel_id)
            if channel is not None:
                session.expunge(channel)
        for sock in sockets:
            if channel is None or not service.origin_allowed(channel, sock.origin):
                sock.closed = True
                with contextlib.suppress(Exception):
                    await sock.websocket.close(code=4403, reason="the chat channel was switched off")
            else:
                sock.channel = channel

    async def _adopt(self, tenant_id: int, conversation_id: int) -> None:
        async with self.runtime.db.read() as session:
            session_ids = list(
                await session.scalars(
                    select(ChatSession.id).where(
                        ChatSession.tenant_id == tenant_id, ChatSession.conversation_id == conversation_id
                    )
                )
            )
        for session_id in session_ids:
            for sock in self.attach(session_id, conversation_id):
                await self.catch_up(sock)

    async def _conversation_changed(self, sock: VisitorSocket, data: dict[str, Any]) -> None:
        assignee, status = data.get("assignee_id"), data.get("status")
        if assignee != sock.assignee_id:
            previous, sock.assignee_id = sock.assignee_id, assignee if isinstance(assignee, int) else None
            async with self.runtime.db.read() as session:
                if sock.assignee_id is not None:
                    name = await service.agent_name(session, sock.tenant_id, sock.assignee_id)
                    await send(sock, {"type": "agent_joined", "name": name})
                elif previous is not None:
                    name = await service.agent_name(session, sock.tenant_id, previous)
                    await send(sock, {"type": "agent_left", "name": name})
        if isinstance(status, str) and status != sock.status:
            was, sock.status = sock.status, status
            if status in ENDED and was not in ENDED:
                await send(sock, {"type": "ended"})

    def _read_mark(self, event: Event) -> None:
        """Remember a read mark; an agent's goes to the conversation's visitor sockets here."""
        if not self.receipts.marks.hear(event) or event.type != receipts.AGENT_READ:
            return
        for sock in self.by_conversation.get(event.data["conversation_id"], ()):
            if sock.tenant_id != event.tenant_id:
                continue
            if sock.catching_up:
                sock.again = True  # its catch-up sends the mark once the rows it covers are out
            else:
                self._background(self.send_read(sock))

    async def send_read(self, sock: VisitorSocket) -> None:
        """The agents' newest read mark, once the socket has every row up to it (the widget marks rows)."""
        if sock.conversation_id is None:
            return
        await self.receipts.known(sock.tenant_id, sock.conversation_id)  # kept marks, after a restart
        seq = self.receipts.marks.agent_seq(sock.tenant_id, sock.conversation_id)
        if sock.read_sent < seq <= sock.last_seq:
            sock.read_sent = seq
            await send(sock, {"type": "read", "seq": seq})

    def _agent_typing(self, event: Event) -> None:
        data = event.data
        conversation_id = data.get("conversation_id")
        if not isinstance(conversation_id, int) or conversation_id not in self.by_conversation:
            return
        key = (event.tenant_id, conversation_id)
        name = str(data.get("name", ""))
        typing_now = self.agent_typing.setdefault(key, set())
        was = name in typing_now
        if data.get("state") == "typing":
            typing_now.add(name)
        else:
            typing_now.discard(name)
        if not typing_now:
            self.agent_typing.pop(key, None)
        if was == (name in typing_now):
            return  # a refresh, not a change
        frame = {"type": "typing", "typing": name in typing_now, "name": name}
        for sock in self.by_conversation.get(conversation_id, ()):
            if sock.tenant_id == event.tenant_id:
                self._background(send(sock, frame))

    # ------------------------------------------------------------------ delivery

    def _deliver(self, sock: VisitorSocket, data: dict[str, Any]) -> None:
        """The next message of the log goes out as the event carries it; anything else (a gap, a
        replay running, file links to sign) is read back from the log by ``catch_up``."""
        frame, seq = data.get("frame"), data.get("seq")
        if isinstance(frame, dict) and isinstance(seq, int) and not sock.catching_up and sock.last_seq == seq - 1:
            sock.last_seq = seq
            self._background(send(sock, frame))
        else:
            self._background(self.catch_up(sock))

    async def catch_up(self, sock: VisitorSocket) -> None:
        """Send the chat log after the socket's last ``seq``; the one sender of numbered frames."""
        if sock.catching_up:
            sock.again = True
            return
        sock.catching_up = True
        try:
            while not sock.closed and sock.conversation_id is not None:
                sock.again = False
                async with self.runtime.db.read() as session:
                    rows = await service.messages_after(
                        session, tenant_id=sock.tenant_id, conversation_id=sock.conversation_id, after=sock.last_seq
                    )
                for row in rows:
                    await send(sock, row.frame(self.file_url))
                    sock.last_seq = row.seq
                await self.send_read(sock)
                if not sock.again and len(rows) < 500:
                    break
        except Exception:
            log.warning("chat delivery to a visitor socket failed", exc_info=True)
        finally:
            sock.catching_up = False

    def file_url(self, attachment_id: int) -> str:
        """The widget's signed link to a file of the chat (see ``uploads``)."""
        return uploads.file_url(self.runtime.settings.secret_key, attachment_id)

    # ------------------------------------------------------------------ limits

    def allow_message(self, sock: VisitorSocket) -> bool:
        return _within(self.sent_messages.setdefault(sock.session_id, deque()), MESSAGES_PER_WINDOW)


def _within(window: deque[float], limit: int) -> bool:
    """Count one more in a sliding window; False when it would pass the limit."""
    now = time.monotonic()
    while window and now - window[0] > RATE_WINDOW:
        window.popleft()
    if len(window) >= limit:
        return False
    window.append(now)
    return True


async def send(sock: VisitorSocket, frame: dict[str, Any]) -> None:
    """One frame, in order with the others; a visitor who stops reading is closed (4408)."""
    if sock.closed:
        return
    payload = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
    async with sock.send_lock:
        try:
            await asyncio.wait_for(sock.websocket.send_text(payload), SEND_SECONDS)
        except TimeoutError:
            sock.closed = True
            with contextlib.suppress(Exception):
                await sock.websocket.close(code=4408, reason="too slow to read")
        except Exception:  # gone already: the receive loop ends it
            sock.closed = True


def _error(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail, **extra}


# ---------------------------------------------------------------------- the socket


def _origin_ok(channel: ChatChannel | None, websocket: WebSocket) -> bool:
    return channel is not None and service.origin_allowed(channel, websocket.headers.get("origin"))


async def _receive(websocket: WebSocket) -> str | None:
    """The next text frame; None when the visitor left. Binary frames are refused as bad frames."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if text is None:
        return ""  # binary: not JSON text
    if len(text) > MAX_FRAME_CHARS:
        raise Close(1009, "frame too big")
    return str(text)


def _parse(raw: str) -> dict[str, Any] | None:
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return None
    return frame


@router.websocket("/widget/v1/ws")
async def visitor_socket(websocket: WebSocket) -> None:
    rt: Runtime = websocket.app.state.runtime
    public_key = websocket.query_params.get("channel", "")
    async with rt.db.read() as session:
        channel = await service.channel_by_key(session, public_key)
        if channel is not None:
            session.expunge(channel)
    # Accept, then close with a reason code: a browser never sees why a refused handshake failed.
    await websocket.accept()
    sock: VisitorSocket | None = None
    try:
        if channel is None or not _origin_ok(channel, websocket):
            raise Close(4403, "origin not allowed" if channel is not None else "no such chat channel")
        sock = await _hello(rt, websocket, channel)
        while True:
            raw = await _receive(websocket)
            if raw is None:
                break
            await _handle(rt, sock, raw)
    except Close as close:
        with contextlib.suppress(Exception):
            await websocket.close(code=close.code, reason=close.reason)
    except Exception as exc:  # the visitor left mid-send, or a bug: never more than a closed socket
        if not _gone(exc):
            log.warning("visitor socket failed", exc_info=True)
        if websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(code=1011, reason="server error")
    finally:
        if sock is not None:
            rt.chat.remove(sock)


def _gone(exc: Exception) -> bool:
    from starlette.websockets import WebSocketDisconnect

    return isinstance(exc, WebSocketDisconnect | RuntimeError)


async def _hello(rt: Runtime, websocket: WebSocket, channel: ChatChannel) -> VisitorSocket:
    try:
        async with asyncio.timeout(HELLO_SECONDS):
            raw = await _receive(websocket)
    except TimeoutError:
        raise Close(4401, "send hello with your token first") from None
    frame = _parse(raw or "")
    if frame is None or frame.get("type") != "hello":
        raise Close(4401, "send hello with your token first")
    after = frame.get("after", 0)
    after = after if isinstance(after, int) and not isinstance(after, bool) and 0 <= after < 2**31 else 0
    ip = websocket.client.host if websocket.client else ""
    async with rt.db.transaction() as session:
        chat = await service.session_for_token(session, channel, frame.get("token"))
        if chat is None:
            raise Close(4401, "unknown visitor token")
        service.note_hello(chat, page=frame.get("page"), language=frame.get("language"),
                           time_zone=frame.get("time_zone"), ip=ip, user_agent=websocket.headers.get("user-agent", ""))
        conversation = await session.get(Conversation, chat.conversation_id) if chat.conversation_id else None
        identity = {"name": chat.name, "email": chat.email, "identified": bool(chat.email)}
        session_id = chat.id
    sock = VisitorSocket(websocket=websocket, tenant_id=channel.tenant_id, channel=channel, session_id=session_id,
                         conversation_id=conversation.id if conversation else None, last_seq=after,
                         origin=websocket.headers.get("origin", ""))
    async with rt.db.read() as session:
        state = await availability(session, rt.routing, channel)
        sock.online, sock.open = state.online, state.open
        agent = await service.agent_name(session, channel.tenant_id, conversation.assignee_id) if conversation else ""
    if conversation is not None:
        sock.assignee_id, sock.status = conversation.assignee_id, conversation.status.value
    await send(sock, {
        "type": "welcome", "session": identity, "online": state.online, "open": state.open,
        "conversation": {"number": conversation.number, "status": conversation.status.value} if conversation else None,
    })
    rt.chat.add(sock)
    if agent:
        await send(sock, {"type": "agent_joined", "name": agent})
    await rt.chat.catch_up(sock)
    return sock


async def _handle(rt: Runtime, sock: VisitorSocket, raw: str) -> None:
    if not _within(sock.frames, FRAMES_PER_WINDOW):
        await _refuse(sock, "rate_limited", "too many frames; slow down")
        return
    frame = _parse(raw)
    if frame is None:
        await send(sock, _error("bad_frame", "frames are JSON objects with a type"))
        return
    kind = frame["type"]
    handler = HANDLERS.get(kind)
    if handler is None:
        await send(sock, _error("bad_frame", "unknown frame type"))
        return
    try:
        await handler(rt, sock, frame)
    except DomainError as exc:
        # The refused message's client_id lets the widget mark that very message "not sent".
        client_id = frame.get("client_id") if kind == "message" else None
        extra = {"client_id": client_id} if isinstance(client_id, str) else {}
        await send(sock, _error("invalid", exc.message, field=exc.field, **extra))


async def _refuse(sock: VisitorSocket, code: str, detail: str, **extra: Any) -> None:
    """A refused frame; many in a short time is a flood and ends the socket."""
    if not _within(sock.strikes, FLOOD_STRIKES):
        raise Close(4429, "flood")
    await send(sock, _error(code, detail, **extra))


async def _message(rt: Runtime, sock: VisitorSocket, frame: dict[str, Any]) -> None:
    client_id, text = frame.get("client_id"), frame.get("text")
    if isinstance(text, str) and len(text) > service.MAX_MESSAGE:
        await _refuse(sock, "too_large", f"a message has at most {service.MAX_MESSAGE} characters",
                      client_id=client_id)
        return
    if not rt.chat.allow_message(sock):
        await _refuse(sock, "rate_limited", "too many messages; wait a few seconds", client_id=client_id)
        return
    async with rt.db.transaction() as session:
        chat = await session.scalar(select(ChatSession).where(ChatSession.id == sock.session_id).with_for_update())
        if chat is None:
            raise Close(4401, "the visitor session ended")
        channel = await session.merge(sock.channel, load=False)
        row, _created = await service.visitor_message(
            session=session, channel=channel, chat=chat, client_id=client_id, text=text,
            attachment_ids=frame.get("attachment_ids"),
        )
        conversation_id, seq = row.conversation_id, row.seq
    await send(sock, {"type": "ack", "client_id": client_id, "seq": seq})
    if sock.conversation_id != conversation_id:
        for moved in rt.chat.attach(sock.session_id, conversation_id):
            rt.chat._background(rt.chat.catch_up(moved))


async def _identify(rt: Runtime, sock: VisitorSocket, frame: dict[str, Any]) -> None:
    async with rt.db.transaction() as session:
        chat = await session.get(ChatSession, sock.session_id)
        if chat is not None:
            await service.identify(session=session, chat=chat, name=frame.get("name"), email=frame.get("email"))


async def _typing(rt: Runtime, sock: VisitorSocket, frame: dict[str, Any]) -> None:
    typing = bool(frame.get("typing"))
    if typing == sock.typing or sock.conversation_id is None:
        return
    sock.typing = typing
    # For the agent's screen; the agent hub does not show it yet (see the report / docs).
    await rt.bus.publish(Event("chat.visitor_typing", sock.tenant_id,
                               {"conversation_id": sock.conversation_id, "typing": typing}))


async def _page(rt: Runtime, sock: VisitorSocket, frame: dict[str, Any]) -> None:
    async with rt.db.transaction() as session:
        chat = await session.get(ChatSession, sock.session_id)
        if chat is not None:
            service.note_page(chat, frame)


async def _ping(rt: Runtime, sock: VisitorSocket, frame: dict[str, Any]) -> None:
    await send(sock, {"type": "pong"})


async def _read(rt: Runtime, sock: VisitorSocket, frame: dict[str, Any]) -> None:
    if sock.conversation_id is not None:
        await receipts.visitor_read(rt, tenant_id=sock.tenant_id, conversation_id=sock.conversation_id,
                                    seq=frame.get("seq"))


async def _end(rt: Runtime, sock: VisitorSocket, frame: dict[str, Any]) -> None:
    """The visitor closes the chat: the conversation is solved (its ``ended`` frame follows from the event)."""
    if sock.conversation_id is None:
        await send(sock, {"type": "ended"})
        return
    async with rt.db.transaction() as session:
        await service.end_chat(session=session, tenant_id=sock.tenant_id, conversation_id=sock.conversation_id)


async def _locked_chat(session: AsyncSession, sock: VisitorSocket) -> ChatSession:
    """The socket's visitor session, locked first: the same lock order as every chat writer."""
    chat = await session.scalar(select(ChatSession).where(ChatSession.id == sock.session_id).with_for_update())
    if chat is None:
        raise Close(4401, "the visitor session ended")
    return chat


async def _rate(rt: Runtime, sock: VisitorSocket, frame: dict[str, Any]) -> None:
    """End-of-chat satisfaction: ``rated`` {score}, or ``invalid`` naming ``score``, ``comment`` or ``conversation``."""
    try:
        async with rt.db.transaction() as session:
            chat = await _locked_chat(session, sock)
            rated = await ending.rate(session=session, chat=chat, score=frame.get("score"),
                                      comment=frame.get("comment"))
            score = rated.satisfaction_score
    except DomainError as exc:  # ``frame`` tells the widget which of its forms was refused
        await send(sock, _error("invalid", exc.message, field=exc.field, frame="rate"))
        return
    await send(sock, {"type": "rated", "score": score})


async def _transcript(rt: Runtime, sock: VisitorSocket, frame: dict[str, Any]) -> None:
    """The chat's transcript by email: ``transcript_queued`` {email}, or an error with ``frame: "transcript"``."""
    try:
        async with rt.db.transaction() as session:
            chat = await _locked_chat(session, sock)
            channel = await session.merge(sock.channel, load=False)
            address = await ending.send_transcript(session=session, channel=channel, chat=chat,
                                                   email=frame.get("email"))
    except TooManyRequests as exc:
        await _refuse(sock, "rate_limited", exc.message, frame="transcript")
        return
    except Conflict as exc:  # no mailbox to send from
        await send(sock, _error("not_available", exc.message, field=exc.field, frame="transcript"))
        return
    except DomainError as exc:
        await send(sock, _error("invalid", exc.message, field=exc.field, frame="transcript"))
        return
    await send(sock, {"type": "transcript_queued", "email": address})


async def _not_yet(rt: Runtime, sock: VisitorSocket, frame: dict[str, Any]) -> None:
    await send(sock, _error("not_supported", "not available yet"))


HANDLERS = {
    "message": _message,
    "identify": _identify,
    "typing": _typing,
    "page": _page,
    "read": _read,
    "ping": _ping,
    "rate": _rate,
    "transcript": _transcript,
    "end": _end,
    "hello": _not_yet,
}
