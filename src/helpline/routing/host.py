"""The engine host: runs one routing engine per tenant in the leading process and persists it.

The core (``RoutingEngine``) decides; the host gives it a home (ADR 0007):

- **One leader.** On SQLite (one process) this process leads. On PostgreSQL the process holding a
  session advisory lock leads; the others forward their commands to it over the event bus and wait
  for its reply, so callers never know where the engine runs.
- **One transaction per batch.** Calls and bus events queue per tenant; one worker task runs
  everything queued in one transaction (each caller gets its own result or DomainError), turns
  the events it drained into rows (agent presence and its history, offers, work items, the
  conversation's assignee) and publishes them after the commit. Work item writes are conditional
  on the row version the host last wrote, so even two processes that both believe they lead
  cannot both claim an item. If anything fails after the engine changed, the host drops that
  tenant's engine and rebuilds it from the rows on the next call: the database is the truth, the
  engine a fast copy of it.
- **It listens.** New work items (written with their conversation), conversation changes (solved,
  reassigned, reopened), configuration and user changes arrive as bus events.
- **It drives time.** A loop sleeps until the earliest deadline of any engine and ticks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import psycopg
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts.models import User
from helpline.accounts.service import Actor
from helpline.conversations.models import PRIORITY_RANK, Conversation, Status
from helpline.db import Database
from helpline.errors import Conflict, DomainError, Invalid, NotFound, PermissionDenied
from helpline.events import PROCESS_ID, Event, EventBus, on_commit
from helpline.routing import events as ev
from helpline.routing import loading
from helpline.routing import models as m
from helpline.routing.clock import Clock, SystemClock
from helpline.routing.config import Presence
from helpline.routing.engine import RoutingEngine
from helpline.routing.errors import QueueFull, UnknownAgent
from helpline.routing.records import ItemStatus
from helpline.routing.records import WorkItem as EngineItem

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x48_4C_52_54  # "HLRT": one routing leader per deployment
FORWARD_TIMEOUT = 5.0
MAX_SLEEP = 1.0
MAX_BATCH = 200  # operations per host transaction
RELOAD_EVENTS = {"routing.config_changed", "user.created", "user.updated"}
RECONCILE_EVENTS = {"conversation.updated", "conversation.merged"}
ERROR_CLASSES: dict[int, type[DomainError]] = {
    400: DomainError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: Invalid,
}


OFFERS = cast(Table, m.OfferRecord.__table__)
PRESENCE = cast(Table, m.AgentPresence.__table__)
STATE_CHANGES = cast(Table, m.AgentStateChange.__table__)
WORK_ITEMS = cast(Table, m.WorkItem.__table__)
# Conditional on the row version the host last wrote; the SET clause comes from the parameters.
WORK_ITEM_UPDATE = update(WORK_ITEMS).where(
    WORK_ITEMS.c.id == bindparam("b_id"), WORK_ITEMS.c.version == bindparam("b_version")
)
PRESENCE_UPDATE = update(PRESENCE).where(PRESENCE.c.user_id == bindparam("b_user"))
OFFER_ANSWERED = (
    update(OFFERS)
    .where(OFFERS.c.work_item_id == bindparam("b_item"), OFFERS.c.attempt == bindparam("b_attempt"))
    .values(outcome=bindparam("b_outcome"), answered_at=bindparam("b_at"))
)


class ClaimLost(Exception):
    """A work item row changed under us: another process wrote it. The engine is rebuilt."""


class NotLeader(Conflict):
    status_code = 503


@dataclass
class TenantState:
    engine: RoutingEngine
    clock: Clock  # the engine's clock: rows are stamped with the time the engine sees
    versions: dict[str, int] = field(default_factory=dict)  # item id -> row version last written
    conversation_of: dict[str, int] = field(default_factory=dict)  # item id -> conversation id
    item_of: dict[int, str] = field(default_factory=dict)  # conversation id -> active item id
    connected: dict[str, set[str]] = field(default_factory=dict)  # agent -> processes with a socket

    def track(self, item_id: str, conversation_id: int, version: int) -> None:
        self.versions[item_id] = version
        self.conversation_of[item_id] = conversation_id
        self.item_of[conversation_id] = item_id

    def forget(self, item_id: str) -> None:
        self.versions.pop(item_id, None)
        conversation_id = self.conversation_of.pop(item_id, None)
        if conversation_id is not None and self.item_of.get(conversation_id) == item_id:
            del self.item_of[conversation_id]


Operation = Callable[["RoutingHost", TenantState, AsyncSession, dict[str, Any]], Awaitable[Any]]
OPERATIONS: dict[str, Operation] = {}


def operation(name: str) -> Callable[[Operation], Operation]:
    def register(fn: Operation) -> Operation:
        OPERATIONS[name] = fn
        return fn

    return register


class RoutingHost:
    def __init__(self, db: Database, bus: EventBus, *, clock: Clock | None = None, database_url: str = "") -> None:
        self.db = db
        self.bus = bus
        self.clock: Clock = clock or SystemClock()
        self._database_url = database_url
        self._tenants: dict[int, TenantState] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        # tenant -> operations waiting for the tenant's worker: (op, args, the caller's future)
        self._pending: dict[int, list[tuple[str, dict[str, Any], asyncio.Future[Any]]]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # (tenant, conversation) -> (assignee,) for updates the host made: their events need no reconcile
        self._own_updates: dict[tuple[int, int], tuple[int | None, frozenset[str]]] = {}
        self._pending_own: dict[tuple[int, int], tuple[int | None, frozenset[str]]] = {}  # until commit
        self._wake = asyncio.Event()
        self._leader = db.is_sqlite
        self._leader_conn: psycopg.AsyncConnection[Any] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self.drive_time = isinstance(self.clock, SystemClock)  # tests with a ManualClock tick by hand

    @property
    def is_leader(self) -> bool:
        return self._leader

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._subscription = self.bus.subscribe()
        self._loops.append(asyncio.create_task(self._listen(), name="routing-listen"))
        if not self.db.is_sqlite:
            await self._try_lead()  # a lone process leads from its first request on
            self._loops.append(asyncio.create_task(self._elect(), name="routing-election"))
        if self.drive_time:
            self._loops.append(asyncio.create_task(self._drive(), name="routing-timers"))
        if self._leader:
            self._spawn(self._load_all())

    async def stop(self) -> None:
        tasks = [*self._loops, *self._tasks, *self._workers.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._subscription.close()
        await self._resign()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ commands

    async def execute(self, tenant_id: int, op: str, **args: Any) -> Any:
        """Run an operation on the tenant's engine, here if this process leads, else on the leader."""
        if self._leader:
            return await self._run(tenant_id, op, args)
        return await self._forward(tenant_id, op, args)

    async def tick(self, tenant_id: int | None = None) -> None:
        """Run due timers now (the timer loop does this by itself on a real clock)."""
        for tid in [tenant_id] if tenant_id is not None else list(self._tenants):
            await self._run(tid, "tick", {})

    async def idle(self, within: float = 5.0) -> None:
        """Wait until every event heard so far is handled (tests and benchmarks use this)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            await asyncio.sleep(0.005)
            if self._subscription.queue.empty() and not self._tasks and not self._busy():
                await asyncio.sleep(0.005)
                if self._subscription.queue.empty() and not self._tasks and not self._busy():
                    return
        raise TimeoutError("routing did not settle")

    def _busy(self) -> bool:
        return any(not w.done() for w in self._workers.values()) or any(lock.locked() for lock in self._locks.values())

    def engine(self, tenant_id: int) -> RoutingEngine | None:
        """The loaded engine, for tests' consistency checks and the simulator; None if not loaded."""
        state = self._tenants.get(tenant_id)
        return state.engine if state else None

    async def _run(self, tenant_id: int, op: str, args: dict[str, Any]) -> Any:
        """Run an operation; an agent created where no event reached us (another process without
        Redis, e.g. `helpline user create` beside an embedded server) is loaded on first use."""
        try:
            return await self._queue_op(tenant_id, op, args)
        except UnknownAgent:
            if not await self._is_active_user(tenant_id, args.get("user_id")):
                raise
            await self._queue_op(tenant_id, "reload", {})
            return await self._queue_op(tenant_id, op, args)

    async def _is_active_user(self, tenant_id: int, user_id: Any) -> bool:
        if not isinstance(user_id, int | str) or not str(user_id).isdigit():
            return False
        async with self.db.read() as session:
            found = await session.scalar(
                select(User.id).where(User.id == int(user_id), User.tenant_id == tenant_id, User.is_active.is_(True))
            )
        return found is not None

    async def _queue_op(self, tenant_id: int, op: str, args: dict[str, Any]) -> Any:
        """Queue an operation for the tenant's worker and wait for its own result (or DomainError)."""
        if op not in OPERATIONS:
            raise KeyError(f"unknown routing operation {op!r}")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(tenant_id, []).append((op, args, future))
        worker = self._workers.get(tenant_id)
        if worker is None or worker.done():
            self._workers[tenant_id] = asyncio.create_task(self._work(tenant_id), name=f"routing-{tenant_id}")
        return await future

    async def _work(self, tenant_id: int) -> None:
        """Run everything queued for a tenant, one transaction per turn, until nothing is left."""
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        try:
            while batch := self._take(tenant_id):
                async with lock:
                    await self._run_batch(tenant_id, batch)
                self._wake.set()
        finally:
            if self._workers.get(tenant_id) is asyncio.current_task():
                del self._workers[tenant_id]
            for _, _, future in self._pending.pop(tenant_id, []):  # only left if we were cancelled
                if not future.done():
                    future.cancel()

    def _take(self, tenant_id: int) -> list[tuple[str, dict[str, Any], asyncio.Future[Any]]]:
        """The queued operations up to and including the first ``reload`` (after it the engine is rebuilt)."""
        queued = self._pending.get(tenant_id)
        if not queued:
            self._pending.pop(tenant_id, None)
            return []
        end = next((i + 1 for i, (op, _, _) in enumerate(queued) if op == "reload"), len(queued))
        end = min(end, MAX_BATCH)
        batch, self._pending[tenant_id] = queued[:end], queued[end:]
        return batch

    async def _run_batch(self, tenant_id: int, batch: list[tuple[str, dict[str, Any], asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], Any, DomainError | None]] = []
        try:
            state = await self._state(tenant_id)
            async with self.db.transaction() as session:
                for op, args, future in batch:
                    if future.done():  # its caller gave up (cancelled): nothing to do for it
                        continue
                    try:
                        result = await OPERATIONS[op](self, state, session, {**args, "tenant_id": tenant_id})
                        outcomes.append((future, result, None))
                    except DomainError as exc:  # refused; what ran before the refusal still counts
                        outcomes.append((future, None, exc))
                published = await self._persist(session, tenant_id, state, state.engine.drain_events())
        except BaseException as exc:
            self._tenants.pop(tenant_id, None)  # rebuilt from the rows on the next call
            self._pending_own.clear()
            for _, _, future in batch:
                if not future.done():
                    if isinstance(exc, Exception):
                        future.set_exception(exc)
                    else:
                        future.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        if self._pending_own:
            if len(self._own_updates) > 10_000:  # events that never came back
                self._own_updates.clear()
            self._own_updates.update(self._pending_own)
            self._pending_own.clear()
        for item_id in published:
            state.versions[item_id] = state.versions.get(item_id, 0) + 1
        for future, result, error in outcomes:
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    async def _state(self, tenant_id: int) -> TenantState:
        state = self._tenants.get(tenant_id)
        if state is not None:
            return state
        async with self.db.read() as session:
            snapshot = await loading.load_snapshot(session, tenant_id, self.clock.now())
            settings = loading.engine_settings(await loading.load_settings(session, tenant_id))
            rows = (
                await session.execute(
                    select(m.WorkItem.id, m.WorkItem.conversation_id, m.WorkItem.version).where(
                        m.WorkItem.tenant_id == tenant_id, m.WorkItem.status.in_(m.WorkItemStatus.ACTIVE)
                    )
                )
            ).all()
        state = TenantState(RoutingEngine(self.clock, settings), self.clock)
        for row_id, conversation_id, version in rows:
            state.track(str(row_id), conversation_id, version)
        state.engine.load(snapshot)
        # load() ran what came due while nobody ran: persist those changes before anything else.
        async with self.db.transaction() as session:
            written = await self._persist(session, tenant_id, state, state.engine.drain_events())
        for item_id in written:
            state.versions[item_id] = state.versions.get(item_id, 0) + 1
        self._tenants[tenant_id] = state
        return state

    async def _load_all(self) -> None:
        async with self.db.read() as session:
            tenants = (await session.scalars(select(m.Queue.tenant_id).distinct())).all()
        for tenant_id in tenants:
            try:
                await self._run(tenant_id, "tick", {})
            except Exception:
                log.exception("routing: loading tenant %s failed", tenant_id)

    # ------------------------------------------------------------------ forwarding to the leader

    async def _forward(self, tenant_id: int, op: str, args: dict[str, Any]) -> Any:
        request_id = uuid.uuid4().hex
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = reply
        try:
            await self.bus.publish(
                Event(
                    "routing.command", tenant_id, {"request_id": request_id, "op": op, "args": args, "from": PROCESS_ID}
                )
            )
            answer = await asyncio.wait_for(reply, FORWARD_TIMEOUT)
        except TimeoutError:
            raise NotLeader("routing is not available right now; try again in a moment", field=None) from None
        finally:
            self._replies.pop(request_id, None)
        if answer.get("ok"):
            return answer.get("result")
        error = answer.get("error") or {}
        cls = ERROR_CLASSES.get(int(error.get("status", 400)), DomainError)
        raise cls(str(error.get("template", "routing failed")), field=error.get("field"), **(error.get("params") or {}))

    async def _serve_command(self, event: Event) -> None:
        data = event.data
        reply: dict[str, Any] = {"request_id": data.get("request_id"), "to": data.get("from")}
        try:
            reply["result"] = await self._run(event.tenant_id, str(data["op"]), dict(data.get("args") or {}))
            reply["ok"] = True
        except DomainError as exc:
            reply["ok"] = False
            reply["error"] = {
                "status": exc.status_code,
                "template": exc.template,
                "field": exc.field,
                "params": {k: str(v) for k, v in exc.params.items()},
            }
        except Exception:
            log.exception("routing command %s failed", data.get("op"))
            reply["ok"] = False
            reply["error"] = {"status": 409, "template": "routing failed; try again"}
        await self.bus.publish(Event("routing.reply", event.tenant_id, reply))

    # ------------------------------------------------------------------ listening

    async def _listen(self) -> None:
        async for event in self._subscription:
            try:
                self._on_event(event)
            except Exception:
                log.exception("routing failed to handle %s", event.type)

    def _on_event(self, event: Event) -> None:
        kind = event.type
        if kind == "routing.reply":
            future = self._replies.get(str(event.data.get("request_id")))
            if future is not None and not future.done():
                future.set_result(event.data)
            return
        if not self._leader:
            return
        if kind == "routing.command":
            self._spawn(self._serve_command(event))
        elif kind == "work_item.created":
            args = {"work_item_id": event.data["work_item_id"]}
            if isinstance(event.data.get("item"), dict):  # the row as written: no need to read it back
                args["item"] = {**event.data["item"], "conversation_id": event.data.get("conversation_id")}
            self._spawn(self._quietly(event.tenant_id, "enqueue", args))
        elif kind in RECONCILE_EVENTS:
            if self._made_here(event):
                return
            self._spawn(self._quietly(event.tenant_id, "reconcile", {"conversation_id": event.data["conversation_id"]}))
        elif kind in RELOAD_EVENTS:
            self._spawn(self._quietly(event.tenant_id, "reload", {}))

    def _made_here(self, event: Event) -> bool:
        """True for the conversation update the host itself made (an assignment): nothing to reconcile."""
        key = (event.tenant_id, event.data.get("conversation_id"))
        expected = self._own_updates.pop(key, None)  # type: ignore[arg-type]
        changes = event.data.get("changes") or {}
        return (
            expected is not None and frozenset(changes) == expected[1] and event.data.get("assignee_id") == expected[0]
        )

    async def _quietly(self, tenant_id: int, op: str, args: dict[str, Any]) -> None:
        try:
            await self._run(tenant_id, op, args)
        except DomainError as exc:
            log.info("routing %s for tenant %s refused: %s", op, tenant_id, exc.message)
        except Exception:
            log.exception("routing %s for tenant %s failed", op, tenant_id)

    # ------------------------------------------------------------------ time and leadership

    async def _drive(self) -> None:
        while True:
            deadlines = [
                (d, tid) for tid, s in list(self._tenants.items()) if (d := s.engine.next_deadline()) is not None
            ]
            now = self.clock.now()
            for due, tenant_id in deadlines:
                if due <= now and self._leader:
                    await self._quietly(tenant_id, "tick", {})
            upcoming = [d for d, _ in deadlines if d > now]
            sleep = min([MAX_SLEEP, *(d - now for d in upcoming)])
            self._wake.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel (stop() would hang).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.005, sleep)):
                    await self._wake.wait()

    async def _elect(self) -> None:
        """Hold the routing leader lock on a connection of our own; while it lives, we lead."""
        while True:
            await asyncio.sleep(1.0)
            await self._try_lead()

    async def _try_lead(self) -> None:
        try:
            if self._leader_conn is None:
                conn = await psycopg.AsyncConnection.connect(loading_conninfo(self._database_url), autocommit=True)
                row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,))).fetchone()
                if row and row[0]:
                    self._leader_conn = conn
                    self._tenants.clear()
                    self._leader = True
                    log.info("routing: this process leads (%s)", PROCESS_ID)
                    self._spawn(self._load_all())
                else:
                    await conn.close()
            else:
                await self._leader_conn.execute("SELECT 1")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("routing: leader connection lost", exc_info=True)
            await self._resign()

    async def _resign(self) -> None:
        if self._leader_conn is not None:
            with contextlib.suppress(Exception):
                await self._leader_conn.close()
            self._leader_conn = None
            self._leader = False
            self._tenants.clear()

    # ------------------------------------------------------------------ persisting what the engine did

    async def _persist(
        self, session: AsyncSession, tenant_id: int, state: TenantState, events: list[ev.RoutingEvent]
    ) -> list[str]:
        """Write what ``events`` changed and queue them for publishing; returns the items written."""
        if not events:
            return []
        engine = state.engine
        agents: set[str] = set()
        items: dict[str, ev.RoutingEvent] = {}
        assignments: dict[str, str | None] = {}  # conversation assignee changes: item -> agent or None
        only_queued: set[str] = set()
        offers: list[dict[str, Any]] = []  # OfferMade rows not inserted yet
        changes: list[dict[str, Any]] = []  # agent_state_changes rows
        for event in events:
            agent_id = getattr(event, "agent_id", None)
            item_id = getattr(event, "item_id", None)
            if agent_id is not None:
                agents.add(agent_id)
            if item_id is not None:
                if item_id not in items and isinstance(event, ev.ItemQueued):
                    only_queued.add(item_id)
                elif not isinstance(event, ev.ItemQueued):
                    only_queued.discard(item_id)
                items[item_id] = event
            await self._record(session, tenant_id, event, offers, changes)
            if isinstance(event, ev.OfferAccepted | ev.ItemAssigned):
                assignments[event.item_id] = event.agent_id
            elif isinstance(event, ev.ItemRequeued) or (isinstance(event, ev.ItemTransferred) and event.from_agent_id):
                assignments[event.item_id] = None
            data = event.to_data()
            if item_id is not None:
                data["conversation_id"] = state.conversation_of.get(item_id)
            on_commit(session, Event(event.type, tenant_id, data))
        await self._insert_offers(session, offers)
        if changes:
            await session.execute(insert(STATE_CHANGES), changes)
        for agent_id in agents:
            await self._write_agent(session, tenant_id, engine, agent_id)
        for item_id, last in items.items():
            if item_id in only_queued:
                continue  # the row was written queued with the conversation: nothing to change
            await self._write_item(session, state, item_id, last)
        for item_id, agent_id in assignments.items():
            await self._assign_conversation(session, tenant_id, state, item_id, agent_id)
        for item_id, last in items.items():
            if isinstance(last, ev.ItemCompleted | ev.ItemWithdrawn):
                state.forget(item_id)
        return [i for i in items if i in state.versions and i not in only_queued]

    async def _record(
        self,
        session: AsyncSession,
        tenant_id: int,
        event: ev.RoutingEvent,
        offers: list[dict[str, Any]],
        changes: list[dict[str, Any]],
    ) -> None:
        """History rows: new offers and state changes are collected and inserted together."""
        if isinstance(event, ev.AgentStateChanged):
            changes.append(
                {
                    "tenant_id": tenant_id,
                    "user_id": int(event.agent_id),
                    "previous": event.previous.value,
                    "state": event.state.value,
                    "reason": event.reason,
                    "changed_by": int(event.changed_by) if event.changed_by else None,
                    "at": event.at,
                }
            )
        elif isinstance(event, ev.OfferMade):
            offers.append(
                {
                    "tenant_id": tenant_id,
                    "work_item_id": int(event.item_id),
                    "agent_id": int(event.agent_id),
                    "queue_id": int(event.queue_id),
                    "attempt": event.attempt,
                    "offered_at": event.at,
                    "expires_at": event.expires_at,
                    "outcome": "pending",
                    "answered_at": None,
                }
            )
        elif isinstance(event, ev.OfferAccepted | ev.OfferDeclined | ev.OfferTimedOut | ev.OfferRetracted):
            outcome = {
                ev.OfferAccepted: "accepted",
                ev.OfferDeclined: "declined",
                ev.OfferTimedOut: "timed_out",
                ev.OfferRetracted: "retracted",
            }[type(event)]
            await self._insert_offers(session, offers)  # the offer may have been made in this same batch
            await session.execute(
                OFFER_ANSWERED,
                {"b_item": int(event.item_id), "b_attempt": event.attempt, "b_outcome": outcome, "b_at": event.at},
            )

    @staticmethod
    async def _insert_offers(session: AsyncSession, offers: list[dict[str, Any]]) -> None:
        if offers:
            await session.execute(insert(OFFERS), list(offers))
            offers.clear()

    async def _write_agent(self, session: AsyncSession, tenant_id: int, engine: RoutingEngine, agent_id: str) -> None:
        if agent_id not in engine.agent_ids():
            return
        record = engine.agent_record(agent_id)
        values = {
            "chosen_state": record.chosen_state.value,
            "shown_state": engine.agent(agent_id).state.value,
            "reason": record.reason,
            "resume_state": record.resume_state.value if record.resume_state else None,
            "state_since": record.state_since,
            "idle_since": record.idle_since,
            "wrap_up_until": record.wrap_up_until,
            "away_until": record.away_until,
            "missed_offers": record.missed_offers,
        }
        # Prebuilt: the SET clause comes from the parameters' keys (no statement built per call).
        result = await session.execute(PRESENCE_UPDATE, {"b_user": int(agent_id), **values})
        if result.rowcount != 1:  # type: ignore[attr-defined]
            await session.execute(insert(PRESENCE).values(user_id=int(agent_id), tenant_id=tenant_id, **values))

    async def _write_item(self, session: AsyncSession, state: TenantState, item_id: str, last: ev.RoutingEvent) -> None:
        version = state.versions.get(item_id)
        if version is None:
            return  # not a row we track (cannot happen: every engine item came from a row)
        record = state.engine.item_record(item_id)
        values: dict[str, Any]
        if record is None:
            ended = isinstance(last, ev.ItemCompleted)
            values = {
                "status": m.WorkItemStatus.COMPLETED if ended else m.WorkItemStatus.WITHDRAWN,
                "ended_at": last.at,
                "end_reason": "completed" if ended else str(getattr(last, "reason", "withdrawn"))[:32],
                "offer_expires_at": None,
            }
        else:
            values = {
                "status": record.status.value,
                "queue_id": int(record.queue_id),
                "priority": record.priority,
                "agent_id": int(record.agent_id) if record.agent_id else None,
                "attempts": record.attempts,
                "arrived_at": record.arrived_at,
                "queue_entered_at": record.queue_entered_at,
                "offered_at": record.offered_at,
                "offer_expires_at": record.offer_expires_at,
                "answered_at": record.answered_at,
                "assigned_at": record.assigned_at,
                "sticky_until": record.sticky_until,
                "declined_by": sorted(int(a) for a in record.declined_by),
            }
        waited = getattr(last, "waited_seconds", None)
        if isinstance(last, ev.OfferAccepted | ev.ItemAssigned) and waited is not None:
            values["waited_seconds"] = waited
        result = await session.execute(
            WORK_ITEM_UPDATE, {"b_id": int(item_id), "b_version": version, **values, "version": version + 1}
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ClaimLost(f"work item {item_id} changed in another process")

    async def _assign_conversation(
        self, session: AsyncSession, tenant_id: int, state: TenantState, item_id: str, agent_id: str | None
    ) -> None:
        from helpline.conversations import service as conversations

        conversation_id = state.conversation_of.get(item_id)
        if conversation_id is None:
            return
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None or conversation.tenant_id != tenant_id:
            return
        assignee = int(agent_id) if agent_id is not None else None
        changes: dict[str, Any] = {}
        if conversation.assignee_id != assignee:
            changes["assignee_id"] = assignee
        if assignee is not None and conversation.status == Status.new:
            changes["status"] = Status.open.value
        if changes:
            await conversations.update_conversation(
                session=session, actor=Actor.system(tenant_id), conversation_id=conversation_id, changes=changes
            )
            self._pending_own[(tenant_id, conversation_id)] = (assignee, frozenset(changes))


def loading_conninfo(url: str) -> str:
    """A libpq connection string from HELPLINE_DATABASE_URL (drop SQLAlchemy's driver suffix)."""
    for prefix in ("postgresql+psycopg://", "postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


# ---------------------------------------------------------------------- operations (run on the leader)


@operation("tick")
async def _tick(host: RoutingHost, state: TenantState, session: AsyncSession, args: dict[str, Any]) -> None:
    state.engine.tick()


@operation("reload")
async def _reload(host: RoutingHost, state: TenantState, session: AsyncSession, args: dict[str, Any]) -> None:
    # Dropping the engine after this (empty) transaction makes the next call rebuild it from the rows.
    host._tenants.pop(int(args["tenant_id"]), None)


@operation("set_state")
async def _set_state(host: RoutingHost, state: TenantState, session: AsyncSession, args: dict[str, Any]) -> None:
    changed_by = args.get("changed_by")
    state.engine.set_state(
        str(args["user_id"]),
        Presence(args["state"]),
        reason=args.get("reason"),
        changed_by=str(changed_by) if changed_by is not None else None,
    )


@operation("connected")
async def _connected(host: RoutingHost, state: TenantState, session: AsyncSession, args: dict[str, Any]) -> None:
    agent_id = str(args["user_id"])
    state.connected.setdefault(agent_id, set()).add(str(args["process"]))
    if agent_id in state.engine.agent_ids():
        state.engine.reconnect(agent_id)


@operation("disconnected")
async def _disconnected(host: RoutingHost, state: TenantState, session: AsyncSession, args: dict[str, Any]) -> None:
    agent_id = str(args["user_id"])
    processes = state.connected.get(agent_id, set())
    processes.discard(str(args["process"]))
    if processes or agent_id not in state.engine.agent_ids():
        return
    state.connected.pop(agent_id, None)
    view = state.engine.agent(agent_id)
    if view.state not in (Presence.OFFLINE, Presence.AWAY):
        state.engine.set_state(agent_id, Presence.AWAY)


@operation("accept")
async def _accept(host: RoutingHost, state: TenantState, session: AsyncSession, args: dict[str, Any]) -> Any:
    item_id = _item_for(state, args)
    state.engine.accept(item_id, str(args["user_id"]), attempt=args.get("attempt"))
    return {"work_item_id": int(item_id), "conversation_id": state.conversation_of.get(item_id)}


@operation("decline")
async def _decline(host: RoutingHost, state: TenantState, session: AsyncSession, args: dict[str, Any]) -> Any:
    item_id = _item_for(state, args)
    state.engine.decline(item_id, str(args["user_id"]), attempt=args.get("attempt"))
    return {"work_item_id": int(item_id), "conversation_id": state.conversation_of.get(item_id)}


@operation("next_item")
async def _next_item(host: RoutingHost, state: TenantState, session: AsyncSession, args: dict[str, Any]) -> Any:
    item_id = state.engine.next_item(str(args["user_id"]))
    if item_id is None:
        return None
    return {"work_item_id": int(item_id), "conversation_id": state.conversation_of.get(item_id)}


@operation("end_wrap_up")
async def _end_wrap_up(host: RoutingHost, state: TenantState, session: AsyncSession, args: dict[str, Any]) -> None:
    state.engine.end_wrap_up(str(args["user_id"]))


@operation("transfer")
async def _transfer(host: RoutingHost, state: TenantState, session: AsyncSession, args: dict[str, Any]) -> Any:
    item_id = state.item_of.get(int(args["conversation_id"]))
    if item_id is None:
        raise Conflict("this conversation is not being routed", field="conversation_id")
    target = str(args["queue_id"])
    if target not in state.engine.queue_ids():
        raise NotFound("no such queue", field="queue_id")
    state.engine.transfer(item_id, target, note=args.get("note"))
    return {"work_item_id": int(item_id), "conversation_id": int(args["conversation_id"])}


@dataclass
class QueuedRow:
    """A work item as intake wrote it (carried by ``work_item.created``), standing in for the row."""

    id: int
    conversation_id: int
    queue_id: int | None
    channel: str
    priority: int
    arrived_at: float
    last_agent_id: int | None
    version: int = 0
    status: str = m.WorkItemStatus.QUEUED
    end_reason: str | None = None
    ended_at: float | None = None

    @classmethod
    def from_event(cls, work_item_id: int, data: dict[str, Any]) -> QueuedRow | None:
        try:
            return cls(
                id=work_item_id,
                conversation_id=int(data["conversation_id"]),
                queue_id=int(data["queue_id"]),
                channel=str(data["channel"]),
                priority=int(data["priority"]),
                arrived_at=float(data["arrived_at"]),
                last_agent_id=int(data["last_agent_id"]) if data.get("last_agent_id") is not None else None,
                version=int(data.get("version") or 0),
            )
        except (KeyError, TypeError, ValueError):
            return None  # an older or foreign payload: read the row instead


@operation("enqueue")
async def _enqueue(host: RoutingHost, state: TenantState, session: AsyncSession, args: dict[str, Any]) -> None:
    item_id = str(args["work_item_id"])
    if item_id in state.versions:
        return  # loaded with the snapshot already
    written = QueuedRow.from_event(int(args["work_item_id"]), args["item"]) if args.get("item") else None
    if written is not None:
        # Events reach the host in commit order, so nothing changed the new row before this: enter
        # it as written (two reads and a write transaction fewer per new conversation).
        await _enter_written(state, session, written)
        return
    row = await session.get(m.WorkItem, int(args["work_item_id"]))
    if row is None or row.status != m.WorkItemStatus.QUEUED or row.queue_id is None:
        return
    conversation = await session.get(Conversation, row.conversation_id)
    state.track(item_id, row.conversation_id, row.version)
    await _enter(state, row, conversation)


async def _enter_written(state: TenantState, session: AsyncSession, row: QueuedRow) -> None:
    if row.queue_id is None:
        return
    arrived_at = row.arrived_at
    state.track(str(row.id), row.conversation_id, row.version)
    # No conversation: intake routes only unassigned conversations; a later assignment reconciles.
    await _enter(state, row, None)
    # What _enter changed, written as the slow path's ORM row would have been.
    values: dict[str, Any] = {}
    if row.arrived_at != arrived_at:  # written by a clock ahead of ours
        values["arrived_at"] = row.arrived_at
    if row.status != m.WorkItemStatus.QUEUED:  # the queue was full
        values.update(status=row.status, end_reason=row.end_reason, ended_at=row.ended_at, version=row.version)
    if values:
        await session.execute(update(WORK_ITEMS).where(WORK_ITEMS.c.id == row.id).values(**values))


async def _enter(state: TenantState, row: m.WorkItem | QueuedRow, conversation: Conversation | None) -> None:
    engine = state.engine
    item_id = str(row.id)
    queue_id = loading.queue_key(row.queue_id or 0)
    last_agent = str(row.last_agent_id) if row.last_agent_id else None
    if queue_id not in engine.queue_ids():
        raise NotFound("no such queue", field="queue_id")
    # Written by another process's clock: an item never arrives in the engine's future.
    row.arrived_at = min(row.arrived_at, engine_now(state))
    work = EngineItem(
        id=item_id,
        queue_id=queue_id,
        channel=row.channel,
        priority=row.priority,
        arrived_at=row.arrived_at,
        last_agent_id=last_agent if last_agent in engine.agent_ids() else None,
    )
    try:
        engine.enqueue(work)
    except QueueFull:
        # The customer already has their reference number: the conversation stays in the inbox,
        # unrouted, rather than being refused.
        state.forget(item_id)
        row.status = m.WorkItemStatus.WITHDRAWN
        row.end_reason = "queue full"
        row.ended_at = engine_now(state)
        row.version += 1
        return
    if conversation is not None and conversation.assignee_id is not None:
        assignee = str(conversation.assignee_id)
        if assignee in engine.agent_ids():
            engine.assign(item_id, assignee, note="assigned when it arrived")


def engine_now(state: TenantState) -> float:
    return state.clock.now()


@operation("reconcile")
async def _reconcile(host: RoutingHost, state: TenantState, session: AsyncSession, args: dict[str, Any]) -> None:
    """Make routing follow a conversation that changed outside it (solved, reassigned, reopened)."""
    from helpline.routing import service

    conversation_id = int(args["conversation_id"])
    conversation = await session.get(Conversation, conversation_id)
    engine = state.engine
    item_id = state.item_of.get(conversation_id)
    finished = (
        conversation is None
        or conversation.merged_into_id is not None
        or conversation.status not in (Status.new, Status.open)
    )
    if finished:
        if item_id is not None and item_id in engine.item_ids():
            if engine.item(item_id).status is ItemStatus.ASSIGNED:
                engine.complete(item_id)
            else:
                reason = "merged" if conversation and conversation.merged_into_id else "closed"
                engine.withdraw(item_id, reason=reason if conversation else "deleted")
        return
    assert conversation is not None
    if item_id is None:
        created = await service.create_work_item(session, conversation)
        if created is None:
            return
        row = created.item
        await session.flush()
        if created.priority is not None and created.priority != conversation.priority:
            from helpline.conversations import service as conversations

            await conversations.update_conversation(
                session=session,
                actor=Actor.system(conversation.tenant_id),
                conversation_id=conversation_id,
                changes={"priority": created.priority.value},
            )
        state.track(str(row.id), conversation_id, row.version)
        await _enter(state, row, conversation)
        return
    view = engine.item(item_id)
    assignee = str(conversation.assignee_id) if conversation.assignee_id is not None else None
    if assignee is not None and (view.status is not ItemStatus.ASSIGNED or view.agent_id != assignee):
        if assignee in engine.agent_ids() and engine.agent(assignee).state is not Presence.OFFLINE:
            engine.assign(item_id, assignee, note="assigned by hand")
        else:  # given to someone not logged in: it leaves routing until it is reassigned or reopened
            engine.withdraw(item_id, reason="assigned by hand")
    elif assignee is None and view.status is ItemStatus.ASSIGNED:
        engine.transfer(item_id, view.queue_id, note="unassigned by hand")
    if conversation.priority is not None:
        rank = PRIORITY_RANK.get(conversation.priority, 1)
        if rank != view.priority and view.status is ItemStatus.QUEUED:
            engine.transfer(item_id, view.queue_id, priority=rank, note="priority changed")


def _item_for(state: TenantState, args: dict[str, Any]) -> str:
    if args.get("conversation_id") is not None:
        item_id = state.item_of.get(int(args["conversation_id"]))
        if item_id is None:
            raise NotFound("no offer for this conversation", field="conversation_id")
        return item_id
    return str(args["work_item_id"])
