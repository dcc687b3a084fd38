"""Read receipts in a live chat, both ways.

**Agent → visitor.** The conversation page tells the agent hub (``/ws``) the newest message it has
had on screen (``{"type": "read", "conversation_id": N, "message_id": M}``; ``seq`` works too).
:func:`agent_read` checks that the agent may see the conversation, turns that into the chat's
``seq`` and publishes ``chat.agent_read`` ``{"conversation_id", "seq"}``; every process's visitor
sockets of the conversation get ``{"type": "read", "seq": n}``, also after a (re)connect once the
replay is through, so "✓✓ Read" survives a reload.

**Visitor → agent.** The widget's ``read`` frame goes through :func:`visitor_read`, which finds the
last agent reply the visitor has seen and publishes ``chat.visitor_read``
``{"conversation_id", "seq", "message_id"}``; the hub shows "Seen" under that reply to the agents
who have the conversation open.

Read marks travel over the event bus like typing (published directly, there is no transaction to
wait for) and every process remembers the newest mark of each conversation in memory
(:class:`ReadMarks`). The process that published a mark also keeps it on the chat session, in one
transaction every ``SAVE_SECONDS`` for all its new marks; a process that has not heard of a
conversation's marks reads them there once, so a restart (or a process started later) still shows
"✓✓ Read" and "Seen". Marks only move forward; internal
notes never have a ``seq``, so they are never marked; a ``seq`` past the conversation's last message
is ignored. Each process publishes at most one mark per conversation and direction every
``COALESCE_SECONDS`` (the newest wins).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts.service import Actor
from helpline.channels.chat import service
from helpline.channels.chat.models import ChatMessage
from helpline.conversations import service as conversations
from helpline.errors import Invalid
from helpline.events import Event

if TYPE_CHECKING:
    from helpline.app import Runtime
    from helpline.db import Database

log = logging.getLogger(__name__)

AGENT_READ = "chat.agent_read"
VISITOR_READ = "chat.visitor_read"
EVENTS = (AGENT_READ, VISITOR_READ)
COALESCE_SECONDS = 0.25  # per conversation and direction: at most four marks a second from a process
MAX_REMEMBERED = 100_000  # conversations whose marks a process keeps (the least recently marked go first)
MAX_NUMBER = 2**63 - 1
SAVE_SECONDS = 1.0  # how often a process keeps the marks it published

Key = tuple[int, int]  # (tenant, conversation)


@dataclass(frozen=True)
class VisitorMark:
    """The visitor has seen the chat up to ``seq``; ``message_id`` is the last agent reply among it."""

    seq: int
    message_id: int


def _number(value: object, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_NUMBER:
        raise Invalid("must be a whole number", field=field)
    return value


class _Recent(OrderedDict[Key, Any]):
    """A dict that forgets its least recently changed entries beyond ``MAX_REMEMBERED``."""

    def remember(self, key: Key, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > MAX_REMEMBERED:
            self.popitem(last=False)


class ReadMarks:
    """This process's newest read marks per conversation, as heard on the bus from every process."""

    def __init__(self) -> None:
        self._agent: _Recent = _Recent()
        self._visitor: _Recent = _Recent()

    def agent_seq(self, tenant_id: int, conversation_id: int | None) -> int:
        if conversation_id is None:
            return 0
        return int(self._agent.get((tenant_id, conversation_id), 0))

    def visitor_mark(self, tenant_id: int, conversation_id: int) -> VisitorMark | None:
        mark: VisitorMark | None = self._visitor.get((tenant_id, conversation_id))
        return mark

    def learn(self, tenant_id: int, conversation_id: int, agent_seq: int, visitor: VisitorMark | None) -> None:
        """Marks read back from the chat session, where the memory has none newer."""
        key = (tenant_id, conversation_id)
        self._raise_agent(key, agent_seq)
        if visitor is not None:
            self._raise_visitor(key, visitor)

    def hear(self, event: Event) -> bool:
        """Take a mark from the bus; True when it moved a conversation's mark forward."""
        data = event.data
        conversation_id, seq = data.get("conversation_id"), data.get("seq")
        if not isinstance(conversation_id, int) or not isinstance(seq, int):
            return False
        key = (event.tenant_id, conversation_id)
        if event.type == AGENT_READ:
            return self._raise_agent(key, seq)
        message_id = data.get("message_id")
        if event.type != VISITOR_READ or not isinstance(message_id, int):
            return False
        return self._raise_visitor(key, VisitorMark(seq, message_id))

    def _raise_agent(self, key: Key, seq: int) -> bool:
        """Marks only move forward: True when ``seq`` did."""
        if seq <= self.agent_seq(*key):
            return False
        self._agent.remember(key, seq)
        return True

    def _raise_visitor(self, key: Key, mark: VisitorMark) -> bool:
        known = self.visitor_mark(*key)
        if known is not None and mark.seq <= known.seq:
            return False
        self._visitor.remember(key, mark)
        return True


class Coalescer:
    """Publishes read marks, at most one per conversation and direction every ``interval`` seconds.

    The first mark goes at once; marks that follow within the interval wait for its end and only
    the newest (highest ``seq``) is published. A mark not above the last one published is dropped.
    """

    def __init__(self, publish: Callable[[Event], Awaitable[None]], interval: float = COALESCE_SECONDS) -> None:
        self._publish = publish
        self.interval = interval
        self._sent: dict[tuple[str, int, int], tuple[float, int]] = {}  # key -> (when, seq) last published
        self._waiting: dict[tuple[str, int, int], Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def offer(self, event: Event) -> None:
        key = (event.type, event.tenant_id, int(event.data["conversation_id"]))
        seq = int(event.data["seq"])
        now = time.monotonic()
        when, sent = self._sent.get(key, (float("-inf"), 0))
        if seq <= sent:
            return
        waiting = self._waiting.get(key)
        if waiting is not None:
            if seq > int(waiting.data["seq"]):
                self._waiting[key] = event
            return
        if now - when >= self.interval:
            self._mark_sent(key, now, seq)
            await self._publish(event)
            return
        self._waiting[key] = event
        task = asyncio.ensure_future(self._later(key, when + self.interval - now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _later(self, key: tuple[str, int, int], delay: float) -> None:
        await asyncio.sleep(delay)
        event = self._waiting.pop(key)
        self._mark_sent(key, time.monotonic(), int(event.data["seq"]))
        await self._publish(event)

    def _mark_sent(self, key: tuple[str, int, int], now: float, seq: int) -> None:
        self._sent[key] = (now, seq)
        if len(self._sent) > MAX_REMEMBERED:  # only the last interval matters for the pace
            for old in [k for k, (when, _seq) in self._sent.items() if now - when > self.interval]:
                del self._sent[old]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


# --- agent → visitor ------------------------------------------------------------------------------


async def _agent_seq(
    session: AsyncSession, *, actor: Actor, conversation_id: int, message_id: object, seq: object
) -> int | None:
    """The chat ``seq`` the agent has read up to, from what their page shows; None if nothing to mark."""
    await conversations.get_conversation(session=session, actor=actor, conversation_id=conversation_id)
    rows = select(func.max(ChatMessage.seq)).where(
        ChatMessage.tenant_id == actor.tenant_id, ChatMessage.conversation_id == conversation_id
    )
    if message_id is not None:
        # Every chat message up to the newest the page shows: the thread shows them all, in order.
        # Internal notes have no chat row, so the newest visible message may be a note.
        rows = rows.where(ChatMessage.message_id <= _number(message_id, "message_id"))
        found = await session.scalar(rows)
        return int(found) if found else None
    wanted = _number(seq, "seq")
    last = await session.scalar(rows)
    return wanted if 0 < wanted <= int(last or 0) else None  # past the last message: ignored


async def agent_read(
    rt: Runtime, *, actor: Actor, conversation_id: int, message_id: object = None, seq: object = None
) -> int | None:
    """The agent has had the chat on screen up to ``message_id`` (or ``seq``): tell the visitor.

    Another tenant's conversation is not found (NotFound); a bad number is Invalid naming the field.
    Returns the ``seq`` now marked read, or None when there was nothing (new) to mark.
    """
    async with rt.db.read() as session:
        found = await _agent_seq(session, actor=actor, conversation_id=conversation_id, message_id=message_id,
                                 seq=seq)
    marks = rt.chat.receipts
    if found is None or found <= marks.marks.agent_seq(actor.tenant_id, conversation_id):
        return None
    await marks.publisher.offer(Event(AGENT_READ, actor.tenant_id, {"conversation_id": conversation_id, "seq": found}))
    return found


# --- visitor → agent ------------------------------------------------------------------------------


async def _visitor_mark(session: AsyncSession, *, tenant_id: int, conversation_id: int, seq: int) -> VisitorMark | None:
    """The last agent reply at or before ``seq``; None when there is none or ``seq`` is past the end."""
    in_chat = (ChatMessage.tenant_id == tenant_id, ChatMessage.conversation_id == conversation_id)
    last = await session.scalar(select(func.max(ChatMessage.seq)).where(*in_chat))
    if seq > int(last or 0):
        return None  # the visitor cannot have seen what does not exist
    row = (await session.execute(
        select(ChatMessage.seq, ChatMessage.message_id)
        .where(*in_chat, ChatMessage.kind == "agent", ChatMessage.seq <= seq, ChatMessage.message_id.is_not(None))
        .order_by(ChatMessage.seq.desc())
        .limit(1)
    )).first()
    if row is None or row[1] is None:
        return None
    return VisitorMark(int(row[0]), int(row[1]))


async def visitor_read(rt: Runtime, *, tenant_id: int, conversation_id: int, seq: object) -> None:
    """The widget has shown the visitor the chat up to ``seq``: agents see "Seen" under the last reply."""
    wanted = _number(seq, "seq")
    known = rt.chat.receipts.marks.visitor_mark(tenant_id, conversation_id)
    if known is not None and wanted <= known.seq:
        return  # nothing new: no query
    async with rt.db.read() as session:
        mark = await _visitor_mark(session, tenant_id=tenant_id, conversation_id=conversation_id, seq=wanted)
    if mark is None or (known is not None and mark.seq <= known.seq):
        return
    await rt.chat.receipts.publisher.offer(Event(
        VISITOR_READ, tenant_id, {"conversation_id": conversation_id, "seq": mark.seq, "message_id": mark.message_id}
    ))


class Receipts:
    """A process's read receipts: the marks it has heard, the pace it publishes its own at, and
    keeping them on the chat sessions."""

    def __init__(self, publish: Callable[[Event], Awaitable[None]], db: Database) -> None:
        self.marks = ReadMarks()
        self.db = db
        self._publish = publish
        self.publisher = Coalescer(self._publish_and_keep)
        self._unsaved: dict[tuple[str, int, int], Event] = {}
        self._loaded: _Recent = _Recent()  # conversations whose kept marks this process has read
        self._saver: asyncio.Task[None] | None = None

    async def _publish_and_keep(self, event: Event) -> None:
        self._unsaved[(event.type, event.tenant_id, int(event.data["conversation_id"]))] = event
        await self._publish(event)

    def start(self) -> None:
        self._saver = asyncio.create_task(self._keep(), name="chat-read-marks")

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(SAVE_SECONDS)
            try:
                await self.save()
            except Exception:  # kept on the next turn; the bus has them meanwhile
                log.warning("chat read marks could not be kept", exc_info=True)

    async def save(self) -> None:
        """Keep the marks this process published since the last time, in one transaction."""
        if not self._unsaved:
            return
        unsaved, self._unsaved = self._unsaved, {}
        agent = [(t, c, int(e.data["seq"])) for (kind, t, c), e in unsaved.items() if kind == AGENT_READ]
        visitor = [
            (t, c, int(e.data["seq"]), int(e.data["message_id"]))
            for (kind, t, c), e in unsaved.items()
            if kind == VISITOR_READ
        ]
        try:
            async with self.db.transaction() as session:
                await service.save_read_marks(session, agent=agent, visitor=visitor)
        except BaseException:
            for key, event in unsaved.items():  # tried again next time, unless a newer one came
                self._unsaved.setdefault(key, event)
            raise

    async def known(self, tenant_id: int, conversation_id: int) -> None:
        """Read the conversation's kept marks once, so this process knows them after a restart."""
        key = (tenant_id, conversation_id)
        if key in self._loaded:
            return
        async with self.db.read() as session:
            agent, seen = await service.read_marks(session, tenant_id=tenant_id, conversation_id=conversation_id)
        self._loaded.remember(key, True)
        self.marks.learn(tenant_id, conversation_id, agent, VisitorMark(*seen) if seen else None)

    async def close(self) -> None:
        if self._saver is not None:
            self._saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._saver
        await self.publisher.close()
        with contextlib.suppress(Exception):
            await self.save()
