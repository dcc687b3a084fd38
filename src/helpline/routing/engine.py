"""The routing engine (ACD): the right work item to the right agent, one offer at a time.

A pure, in-memory decision core. It owns no I/O and reads time only from the ``Clock`` it is
given. Callers (the routing service, the simulator, the benchmark) tell it what happened — an item
arrived, an agent accepted, a call ended — and it answers with decisions and state changes as
``RoutingEvent``s in its outbox (``drain_events()``), which the caller persists, claims and
publishes. Timers (offer timeouts, wrap-up, bullseye, overflow, sticky agent, away grace) live in
the engine; the caller calls ``tick()`` at ``next_deadline()``, and every other call runs the
timers that are due first, so the engine never acts on an expired offer.

How a decision is found without scanning everything:

* Waiting items sit in per-queue, per-(channel, bullseye stage) heaps ordered by the static aging
  key ``arrived_at - priority * seconds_per_priority_level`` (see ``state.py``).
* Each queue keeps, per stage, the set of agents whose skills and languages qualify; the engine
  keeps the set of *routable* agents (available, not in wrap-up, with room in some channel).
* An item that becomes available is matched against ``routable ∩ eligible[stage]`` (iterating the
  smaller set); an agent that becomes routable looks only at the heads of the heaps of its queues.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from helpline.errors import Conflict
from helpline.routing.clock import Clock
from helpline.routing.config import (
    CHOSEN_STATES,
    MISSED_OFFERS_REASON,
    AgentProfile,
    EngineSettings,
    Presence,
    QueueConfig,
    Strategy,
    check_overflow_chain,
)
from helpline.routing.errors import (
    InvalidStateChange,
    OfferConflict,
    QueueFull,
    RoutingConfigError,
    UnknownAgent,
    UnknownItem,
    UnknownQueue,
)
from helpline.routing.events import (
    AgentStateChanged,
    ItemAssigned,
    ItemCompleted,
    ItemCriteriaExpanded,
    ItemOverflowed,
    ItemQueued,
    ItemRequeued,
    ItemTransferred,
    ItemWithdrawn,
    OfferAccepted,
    OfferDeclined,
    OfferMade,
    OfferRetracted,
    OfferTimedOut,
    RoutingEvent,
)
from helpline.routing.records import (
    AgentRecord,
    AgentView,
    ItemRecord,
    ItemStatus,
    ItemView,
    Offer,
    QueueView,
    RoutingSnapshot,
    WorkItem,
)
from helpline.routing.state import AgentState, ItemState, QueueState, WaitingList

# Timer kinds. Item timers carry the item's ``visit`` (or the offer's attempt) as a token, agent
# timers a per-agent token: a timer whose token no longer matches is void and skipped.
_OFFER, _STAGE, _OVERFLOW, _STICKY, _WRAP_UP, _AWAY = range(6)
Timer = tuple[float, int, int, Any, int]
CandidateKey = Callable[[AgentState], tuple[float, ...]]

QUEUED, OFFERED, ASSIGNED = ItemStatus.QUEUED, ItemStatus.OFFERED, ItemStatus.ASSIGNED
AVAILABLE, NOT_READY, OFFLINE, AWAY = Presence.AVAILABLE, Presence.NOT_READY, Presence.OFFLINE, Presence.AWAY


class RoutingEngine:
    """One engine for every channel. Not thread-safe: one caller (one asyncio task) drives it."""

    def __init__(self, clock: Clock, settings: EngineSettings | None = None) -> None:
        self._clock = clock
        self._settings = settings or EngineSettings()
        self._settings.validate()
        self._skills: set[str] = set()
        self._queues: dict[str, QueueState] = {}
        self._agents: dict[str, AgentState] = {}
        self._items: dict[str, ItemState] = {}
        self._routable: set[str] = set()
        self._timers: list[Timer] = []
        self._events: list[RoutingEvent] = []
        self._seq = itertools.count(1)
        self._next_rank = 0

    # ------------------------------------------------------------------ events and time

    def drain_events(self) -> list[RoutingEvent]:
        """The changes since the last drain, oldest first: persist them, then publish them."""
        events, self._events = self._events, []
        return events

    def tick(self) -> None:
        """Run the timers that are due (offer timeouts, wrap-up ends, expansions, overflows...)."""
        self._begin()

    def next_deadline(self) -> float | None:
        """When the next timer is due: the caller sleeps until then and calls ``tick()``."""
        timers = self._timers
        while timers and not self._timer_live(timers[0]):
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    # ------------------------------------------------------------------ configuration

    @property
    def skills(self) -> frozenset[str]:
        return frozenset(self._skills)

    def define_skill(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise RoutingConfigError("name", f"a skill needs a non-empty name, not {name!r}")
        self._skills.add(name)

    def configure_queue(self, config: QueueConfig) -> None:
        """Create or change a queue. Refused (and nothing changes) if the configuration cannot work."""
        now = self._begin()
        self._validate_queue(config)
        previous = self._queues.get(config.id)
        queue = self._install_queue(config)
        if previous is not None:
            queue.rr_last = previous.rr_last
            for item in list(previous.items.values()):
                self._reenter_after_reconfigure(item, queue, now)
        for agent in self._by_rank(self._agents.values()):
            if agent.id in self._routable:
                self._route_agent(agent, now)
        self._run_timers(now)

    def remove_queue(self, queue_id: str) -> None:
        self._begin()
        self._queue(queue_id)
        if any(item.queue_id == queue_id for item in self._items.values()):
            raise Conflict(
                "queue %(queue)s still has work items; transfer them first", field="queue_id", queue=repr(queue_id)
            )
        for other in self._queues.values():
            if other.config.overflow_queue_id == queue_id:
                raise Conflict(
                    "queue %(other)s overflows to %(queue)s",
                    field="overflow_queue_id",
                    other=repr(other.id),
                    queue=repr(queue_id),
                )
        del self._queues[queue_id]
        for agent in self._agents.values():
            agent.queues.pop(queue_id, None)
            agent.match.pop(queue_id, None)

    def add_agent(self, profile: AgentProfile) -> None:
        """Register an agent (offline until they set a state)."""
        now = self._begin()
        profile.validate(self._skills)
        if profile.id in self._agents:
            raise Conflict("agent %(agent)s already exists", field="id", agent=repr(profile.id))
        agent = AgentState(profile, self._next_rank, now)
        self._next_rank += 1
        self._agents[agent.id] = agent
        for queue in self._queues.values():
            self._index_agent(agent, queue)

    def update_agent(self, profile: AgentProfile) -> None:
        """New skills, languages or capacity; work on hand is kept even if it no longer fits."""
        now = self._begin()
        profile.validate(self._skills)
        agent = self._agent(profile.id)
        agent.profile = profile
        agent.capacity = profile.capacity
        _recount_load(agent)
        for queue in self._queues.values():
            self._index_agent(agent, queue)
        for item in list(agent.sticky.in_order()):
            if item.queue_id not in agent.queues:  # no longer qualified: the customer goes to anyone
                self._unplace(item)
                item.sticky_until = None
                self._place(item, self._queues[item.queue_id], now)
                self._route_item(item, now)
        self._after_agent_change(agent, now)
        self._run_timers(now)

    def remove_agent(self, agent_id: str) -> None:
        self._begin()
        agent = self._agent(agent_id)
        if agent.chosen is not OFFLINE:
            raise InvalidStateChange(f"agent {agent_id!r} is {agent.chosen}; set them offline first", field="agent_id")
        for queue in self._queues.values():
            for members in queue.eligible:
                members.discard(agent_id)
        self._routable.discard(agent_id)
        del self._agents[agent_id]

    # ------------------------------------------------------------------ presence

    def set_state(
        self, agent_id: str, state: Presence | str, *, reason: str | None = None, changed_by: str | None = None
    ) -> None:
        """The agent (or a supervisor, ``changed_by``) chooses offline, available, not_ready or away.

        Busy and wrap-up are not chosen: they follow from the agent's work.
        """
        now = self._begin()
        agent = self._agent(agent_id)
        target = _parse_state(state)
        if target is AVAILABLE:
            self._become_available(agent, now, changed_by)
        elif target is NOT_READY:
            if not reason or not reason.strip():
                raise RoutingConfigError("reason", "not ready needs a reason code (e.g. 'break', 'lunch')")
            self._become_not_ready(agent, now, reason, changed_by)
        elif target is OFFLINE:
            self._become_offline(agent, now, changed_by)
        else:
            self._become_away(agent, now, changed_by)
        self._run_timers(now)

    def reconnect(self, agent_id: str) -> None:
        """The agent's workspace is back: they return to the state they had before going away."""
        now = self._begin()
        agent = self._agent(agent_id)
        if agent.chosen is not AWAY:
            return
        if agent.resume is NOT_READY and agent.reason:
            self._become_not_ready(agent, now, agent.reason, None)
        else:
            self._become_available(agent, now, None)
        self._run_timers(now)

    def end_wrap_up(self, agent_id: str) -> None:
        """The agent finished after-contact work before its time was up."""
        now = self._begin()
        agent = self._agent(agent_id)
        if agent.wrap_up_until is not None:
            self._finish_wrap_up(agent, now)
        self._run_timers(now)

    # ------------------------------------------------------------------ work items

    def enqueue(self, work: WorkItem) -> Offer | None:
        """A new work item enters its queue; returns the offer made at once (push mode), if any."""
        now = self._begin()
        item = self._new_item(work, now)
        asked = self._queue(work.queue_id)
        queue = self._admit(asked)
        self._items[item.id] = item
        self._enter_queue(item, queue, now)
        if queue.config.sticky_seconds > 0 and item.last_agent_id is not None:
            item.sticky_until = now + queue.config.sticky_seconds
        self._emit(ItemQueued(now, item.id, queue.id, item.priority, item.arrived_at))
        if queue is not asked:
            self._emit(ItemOverflowed(now, item.id, asked.id, queue.id, "full"))
        self._place(item, queue, now)
        self._route_item(item, now)
        self._run_timers(now)
        return item.offer

    def accept(self, item_id: str, agent_id: str, *, attempt: int | None = None) -> None:
        now = self._begin()
        item, agent = self._offered(item_id, agent_id, attempt)
        offer = item.offer
        assert offer is not None
        item.offer = None
        del agent.offers[item.id]
        self._leave_queue(item)
        waited = self._hand_to(item, agent, now)
        agent.missed = 0
        self._emit(OfferAccepted(now, item.id, agent.id, item.queue_id, offer.attempt, waited))
        self._refresh(agent, now)
        self._run_timers(now)

    def decline(self, item_id: str, agent_id: str, *, attempt: int | None = None) -> None:
        """The agent said no: the item goes to the next agent (not this one, unless nobody else can)."""
        now = self._begin()
        item, agent = self._offered(item_id, agent_id, attempt)
        offer = self._end_offer(item, agent)
        self._emit(OfferDeclined(now, item.id, agent.id, item.queue_id, offer.attempt))
        self._after_refusal(item, agent, now, missed=self._settings.declines_count_as_missed)
        self._run_timers(now)

    def next_item(self, agent_id: str) -> str | None:
        """Pull mode ("get next item"): assign the best item the agent can take now, if any.

        Works for push and pull-only queues alike, and also during wrap-up or not ready: the agent
        asked. Capacity and the mixing rule still hold.
        """
        now = self._begin()
        agent = self._agent(agent_id)
        if not agent.logged_in():
            raise InvalidStateChange(f"agent {agent_id!r} is {agent.chosen}; log in first", field="agent_id")
        item = self._best_item_for(agent, pull=True)
        if item is None:
            return None
        self._leave_queue(item)
        waited = self._hand_to(item, agent, now)
        agent.take_slot(item.channel)
        agent.idle_since = now
        agent.missed = 0
        self._emit(ItemAssigned(now, item.id, agent.id, item.queue_id, "pull", waited_seconds=waited))
        self._refresh(agent, now)
        self._run_timers(now)
        return item.id

    def assign(self, item_id: str, agent_id: str, *, note: str | None = None) -> None:
        """Manual assignment, or transfer to an agent: always possible for a logged-in agent.

        Skills, strategy and capacity are bypassed (a supervisor decided); a pending offer to
        someone else is retracted.
        """
        now = self._begin()
        item = self._item(item_id)
        agent = self._agent(agent_id)
        if not agent.logged_in():
            raise InvalidStateChange(f"agent {agent_id!r} is {agent.chosen}; they cannot take work", field="agent_id")
        if item.status is ASSIGNED and item.agent_id == agent.id:
            return
        was_assigned = item.status is ASSIGNED
        released = self._release(item, now, reason="assigned manually")
        from_agent_id = released.id if released is not None and was_assigned else None
        self._leave_queue(item)
        waited = self._hand_to(item, agent, now)
        agent.take_slot(item.channel)
        via = "transfer" if from_agent_id else "manual"
        self._emit(ItemAssigned(now, item.id, agent.id, item.queue_id, via, from_agent_id, note, waited))
        self._refresh(agent, now)
        if released is not None:
            self._after_agent_change(released, now)
        self._run_timers(now)

    def transfer(
        self, item_id: str, queue_id: str, *, note: str | None = None, priority: int | None = None
    ) -> Offer | None:
        """Send an item to another queue (from an agent, an offer, or a queue); it keeps its age."""
        now = self._begin()
        item = self._item(item_id)
        target = self._queue(queue_id)
        if priority is not None:
            _require_priority(priority)
        from_queue_id, was_assigned = item.queue_id, item.status is ASSIGNED
        released = self._release(item, now, reason="transferred")
        from_agent_id = released.id if released is not None and was_assigned else None
        self._leave_queue(item)
        item.status = QUEUED
        item.agent_id = None
        item.priority = item.priority if priority is None else priority
        item.declined_by.clear()  # a new queue, a new set of agents
        item.sticky_until = None
        item.overflow_pending = False
        self._enter_queue(item, target, now)
        self._emit(ItemTransferred(now, item.id, from_queue_id, target.id, from_agent_id, note))
        self._place(item, target, now)
        self._route_item(item, now)
        if released is not None:
            self._after_agent_change(released, now)
        self._run_timers(now)
        return item.offer

    def complete(self, item_id: str, *, wrap_up_seconds: float | None = None) -> None:
        """The agent finished the item; wrap-up follows for the queue's time (or the one given)."""
        now = self._begin()
        item = self._item(item_id)
        if item.status is not ASSIGNED or item.agent_id is None:
            raise InvalidStateChange(f"work item {item_id!r} is {item.status}; only assigned work completes")
        agent = self._agents[item.agent_id]
        queue = self._queues.get(item.queue_id)
        wrap_up = wrap_up_seconds if wrap_up_seconds is not None else (queue.config.wrap_up_seconds if queue else 0.0)
        if wrap_up < 0:
            raise RoutingConfigError("wrap_up_seconds", f"must be at least 0, not {wrap_up}")
        self._drop_from_agent(item, agent)
        del self._items[item.id]
        item.visit += 1
        handled = now - (item.assigned_at if item.assigned_at is not None else now)
        self._emit(ItemCompleted(now, item.id, agent.id, item.queue_id, handled, wrap_up))
        agent.idle_since = now
        if wrap_up > 0 and agent.logged_in():
            self._start_wrap_up(agent, now + wrap_up)
        self._after_agent_change(agent, now)
        self._run_timers(now)

    def withdraw(self, item_id: str, *, reason: str = "abandoned") -> None:
        """The item leaves routing unfinished: the customer hung up, the conversation was closed,
        or another process claimed it."""
        now = self._begin()
        item = self._item(item_id)
        released = self._release(item, now, reason=reason)
        self._leave_queue(item)
        del self._items[item.id]
        answered = item.answered_at is not None
        waited = (item.answered_at if item.answered_at is not None else now) - item.arrived_at
        self._emit(ItemWithdrawn(now, item.id, item.queue_id, reason, answered, waited))
        if released is not None:
            self._after_agent_change(released, now)
        self._run_timers(now)

    # ------------------------------------------------------------------ reads

    def agent(self, agent_id: str) -> AgentView:
        agent = self._agent(agent_id)
        presence = agent.presence()
        return AgentView(
            id=agent.id,
            state=presence,
            reason=agent.reason if presence is NOT_READY else None,
            state_since=agent.state_since,
            items=tuple(agent.items),
            offers=tuple(agent.offers),
            wrap_up_until=agent.wrap_up_until,
            missed_offers=agent.missed,
            load={channel: used for channel, used in agent.load.items() if used},
        )

    def queue(self, queue_id: str) -> QueueView:
        queue = self._queue(queue_id)
        now = self._clock.now()
        items = queue.items.values()
        oldest = min((item.arrived_at for item in items), default=now)
        by_state = Counter(self._agents[agent_id].presence() for agent_id in queue.eligible[-1])
        return QueueView(
            id=queue.id,
            waiting=len(queue.items),
            offered=sum(1 for item in items if item.status is OFFERED),
            longest_wait_seconds=max(0.0, now - oldest),
            agents=dict(by_state),
        )

    def item(self, item_id: str) -> ItemView:
        item = self._item(item_id)
        holder = item.offer.agent_id if item.offer is not None else item.agent_id
        return ItemView(
            id=item.id,
            queue_id=item.queue_id,
            channel=item.channel,
            priority=item.priority,
            status=item.status,
            stage=item.stage,
            agent_id=holder,
            arrived_at=item.arrived_at,
            queue_entered_at=item.queue_entered_at,
            declined_by=frozenset(item.declined_by),
        )

    def offer_for(self, item_id: str) -> Offer | None:
        return self._item(item_id).offer

    def queue_ids(self) -> list[str]:
        return list(self._queues)

    def agent_ids(self) -> list[str]:
        return list(self._agents)

    def item_ids(self) -> list[str]:
        return list(self._items)

    def could_take(self, queue_id: str | None, channel: str) -> bool:
        """Is an agent there who could be offered ``channel`` work from this queue now (read-only)?

        Available, or busy with room left for the channel; among the queue's widest (fully expanded)
        eligible agents, or any agent when the queue is unknown. Chat asks this before it opens.
        """
        queue = self._queues.get(queue_id) if queue_id is not None else None
        candidates: Iterable[str] = (queue.eligible[-1] if queue.eligible else ()) if queue else self._agents
        for agent_id in candidates:
            agent = self._agents.get(agent_id)
            if agent is not None and agent.presence() in (Presence.AVAILABLE, Presence.BUSY) and agent.fits(channel):
                return True
        return False

    def agent_record(self, agent_id: str) -> AgentRecord:
        """One agent's stored row as it is now (the persistence layer writes it after each change)."""
        return _agent_record(self._agent(agent_id))

    def item_record(self, item_id: str) -> ItemRecord | None:
        """One item's stored row as it is now; None once it left routing (completed, withdrawn)."""
        item = self._items.get(item_id)
        return _item_record(item) if item is not None else None

    # ------------------------------------------------------------------ persistence

    def snapshot(self) -> RoutingSnapshot:
        """Everything needed to rebuild the engine: what the persistence layer stores."""
        agent_of_rank = {agent.rank: agent.id for agent in self._agents.values()}
        return RoutingSnapshot(
            taken_at=self._clock.now(),
            skills=tuple(sorted(self._skills)),
            queues=tuple(queue.config for queue in self._queues.values()),
            agents=tuple(_agent_record(agent) for agent in self._agents.values()),
            items=tuple(_item_record(item) for item in self._items.values()),
            last_offered_agent={
                queue.id: agent_of_rank[queue.rr_last]
                for queue in self._queues.values()
                if queue.rr_last in agent_of_rank
            },
        )

    def load(self, snapshot: RoutingSnapshot) -> None:
        """Rebuild an empty engine from stored rows (after a restart, or on a new leader process).

        Timers are rebuilt from the stored times; those that came due while nobody ran (expired
        offers, finished wrap-ups, grace periods) run now, and waiting work is offered to routable
        agents — all as ordinary events in the outbox.
        """
        if self._queues or self._agents or self._items:
            raise Conflict("load() needs an empty engine")
        now = self._clock.now()
        for skill in snapshot.skills:
            self.define_skill(skill)
        self._validate_stored_queues(snapshot.queues)
        for config in snapshot.queues:
            self._install_queue(config)
        for agent_record in snapshot.agents:
            self._load_agent(agent_record)
        for number, item_record in enumerate(snapshot.items):
            self._load_item(item_record, now, f"items[{number}]")
        ranks = {agent.id: agent.rank for agent in self._agents.values()}
        for queue_id, agent_id in snapshot.last_offered_agent.items():
            if queue_id in self._queues and agent_id in ranks:
                self._queues[queue_id].rr_last = ranks[agent_id]
        for agent in self._agents.values():
            agent.state = agent.presence()
            agent.shown_reason = agent.reason if agent.state is NOT_READY else None
            self._update_routable(agent)
        self._run_timers(now)
        for agent in self._by_rank(self._agents.values()):
            self._route_agent(agent, now)
        self._run_timers(now)

    @classmethod
    def from_snapshot(
        cls, snapshot: RoutingSnapshot, clock: Clock, settings: EngineSettings | None = None
    ) -> RoutingEngine:
        engine = cls(clock, settings)
        engine.load(snapshot)
        return engine

    def assert_consistent(self) -> None:
        """Check every invariant (O(everything)): for tests and debugging, never on the hot path."""
        _check_consistency(self)

    # ================================================================== internals: decisions

    def _route_item(self, item: ItemState, now: float) -> None:
        agent = self._best_agent_for(item)
        if agent is not None:
            self._offer(item, agent, now)

    def _route_agent(self, agent: AgentState, now: float) -> None:
        # Fill the agent up to capacity (a chat agent may get three chats at once).
        while agent.id in self._routable:
            item = self._best_item_for(agent, pull=False)
            if item is None:
                return
            self._offer(item, agent, now)

    def _best_agent_for(self, item: ItemState) -> AgentState | None:
        """The agent the queue's strategy picks among those who can take the item right now."""
        queue = self._queues[item.queue_id]
        if not queue.config.push:
            return None
        if item.sticky_agent_id is not None:  # only the contact's last agent, until sticky time ends
            agent = self._agents[item.sticky_agent_id]
            return agent if agent.id in self._routable and agent.fits(item.channel) else None
        pool = queue.eligible[item.stage]
        routable = self._routable
        if not pool or not routable:
            return None
        small, large = (routable, pool) if len(routable) <= len(pool) else (pool, routable)
        rank = self._candidate_key(queue)
        agents, channel, declined_by = self._agents, item.channel, item.declined_by
        best: AgentState | None = None
        best_key: tuple[float, ...] = ()
        declined: list[AgentState] = []
        for agent_id in small:
            if agent_id not in large:
                continue
            agent = agents[agent_id]
            if not agent.fits(channel):
                continue
            if agent_id in declined_by:
                declined.append(agent)
                continue
            key = rank(agent)
            if best is None or key < best_key:
                best, best_key = agent, key
        if best is None and declined and not self._someone_else_could_take(item, queue):
            best = min(declined, key=rank)
        return best

    def _candidate_key(self, queue: QueueState) -> CandidateKey:
        """Lower is better; every key ends with the agent's rank, so ties never depend on set order."""
        strategy = queue.config.strategy
        if strategy is Strategy.LEAST_OCCUPIED:
            return lambda agent: (agent.occupancy, agent.idle_since, agent.rank)
        if strategy is Strategy.ROUND_ROBIN:
            last, ranks = queue.rr_last, max(self._next_rank, 1)
            return lambda agent: ((agent.rank - last - 1) % ranks,)
        if strategy is Strategy.SKILLS_BEST_MATCH:
            queue_id = queue.id
            return lambda agent: (-agent.match.get(queue_id, 0), agent.idle_since, agent.rank)
        return lambda agent: (agent.idle_since, agent.rank)

    def _best_item_for(self, agent: AgentState, *, pull: bool) -> ItemState | None:
        """The best-scored item, over the agent's queues, that fits the agent now."""
        best: ItemState | None = None
        fits: dict[str, bool] = {}
        for queue_id, first_stage in agent.queues.items():
            queue = self._queues[queue_id]
            if not (pull or queue.config.push):
                continue
            for (channel, stage), waiting in queue.waiting.items():
                if waiting.live == 0 or stage < first_stage:
                    continue
                room = fits.get(channel)
                if room is None:
                    room = fits[channel] = agent.fits(channel)
                if not room:
                    continue
                item = self._first_for(agent, waiting, queue)
                if item is not None and (best is None or (item.key, item.order) < (best.key, best.order)):
                    best = item
        if agent.sticky.live:
            for item in agent.sticky.in_order():
                if agent.fits(item.channel):
                    if best is None or (item.key, item.order) < (best.key, best.order):
                        best = item
                    break
        return best

    def _first_for(self, agent: AgentState, waiting: WaitingList, queue: QueueState) -> ItemState | None:
        head = waiting.first()
        if head is None or agent.id not in head.declined_by:
            return head
        for item in waiting.in_order():  # rare: the agent declined the head
            if agent.id not in item.declined_by or not self._someone_else_could_take(item, queue):
                return item
        return None

    def _someone_else_could_take(self, item: ItemState, queue: QueueState) -> bool:
        """Is a logged-in, ready agent who has not refused the item eligible for it (even if busy)?"""
        for agent_id in queue.eligible[item.stage]:
            if agent_id in item.declined_by:
                continue
            agent = self._agents[agent_id]
            if agent.chosen is AVAILABLE and agent.capacity.limits.get(item.channel, 0) > 0:
                return True
        return False

    def _offer(self, item: ItemState, agent: AgentState, now: float) -> None:
        self._unplace(item)
        queue = self._queues[item.queue_id]
        item.status = OFFERED
        item.attempts += 1
        offer = Offer(
            item.id, agent.id, queue.id, item.channel, item.attempts, now, now + queue.config.offer_timeout_seconds
        )
        item.offer = offer
        agent.offers[item.id] = item
        agent.take_slot(item.channel)  # an offer reserves its slot until answered
        agent.idle_since = now  # multi-capacity agents move to the back of the idle line
        queue.rr_last = agent.rank
        self._add_timer(offer.expires_at, _OFFER, item, offer.attempt)
        self._emit(OfferMade(now, item.id, agent.id, queue.id, item.channel, offer.attempt, offer.expires_at))
        self._refresh(agent, now)

    # ================================================================== internals: offers and items

    def _offered(self, item_id: str, agent_id: str, attempt: int | None) -> tuple[ItemState, AgentState]:
        item = self._items.get(item_id)
        offer = item.offer if item is not None else None
        if item is None or offer is None:
            raise OfferConflict(f"work item {item_id!r} is not being offered: the offer expired or was withdrawn")
        if offer.agent_id != agent_id:
            raise OfferConflict(f"the offer of work item {item_id!r} belongs to another agent")
        if attempt is not None and attempt != offer.attempt:
            raise OfferConflict(f"offer {attempt} of work item {item_id!r} expired; the current one is {offer.attempt}")
        return item, self._agents[agent_id]

    def _end_offer(self, item: ItemState, agent: AgentState) -> Offer:
        offer = item.offer
        assert offer is not None
        item.offer = None
        item.status = QUEUED
        del agent.offers[item.id]
        agent.free_slot(item.channel)
        return offer

    def _after_refusal(self, item: ItemState, agent: AgentState, now: float, *, missed: bool) -> None:
        """After a decline or a timeout: remember who refused, maybe pause them, route on."""
        item.declined_by.add(agent.id)
        if item.last_agent_id == agent.id:
            item.sticky_until = None  # the last agent passed: anyone may take it now
        if missed:
            agent.missed += 1
            if agent.missed >= self._settings.max_missed_offers:
                self._become_not_ready(agent, now, MISSED_OFFERS_REASON, None)
        self._return_to_queue(item, now)
        self._after_agent_change(agent, now)

    def _on_offer_timeout(self, item: ItemState, now: float) -> None:
        offer = item.offer
        assert offer is not None
        agent = self._agents[offer.agent_id]
        self._end_offer(item, agent)
        self._emit(OfferTimedOut(now, item.id, agent.id, item.queue_id, offer.attempt, agent.missed + 1))
        self._after_refusal(item, agent, now, missed=True)

    def _release(self, item: ItemState, now: float, *, reason: str) -> AgentState | None:
        """Detach an item from its agent (retracting an offer, or taking assigned work away)."""
        if item.status is OFFERED:
            assert item.offer is not None
            holder = self._agents[item.offer.agent_id]
            offer = self._end_offer(item, holder)
            self._emit(OfferRetracted(now, item.id, holder.id, item.queue_id, offer.attempt, reason))
            return holder
        if item.status is ASSIGNED and item.agent_id is not None:
            owner = self._agents[item.agent_id]
            self._drop_from_agent(item, owner)
            return owner
        return None

    def _drop_from_agent(self, item: ItemState, agent: AgentState) -> None:
        del agent.items[item.id]
        agent.free_slot(item.channel)

    def _hand_to(self, item: ItemState, agent: AgentState, now: float) -> float | None:
        """Make the item the agent's work; returns the speed of answer if this is its first answer."""
        item.status = ASSIGNED
        item.agent_id = agent.id
        item.assigned_at = now
        item.sticky_until = None
        item.overflow_pending = False
        agent.items[item.id] = item
        if item.answered_at is not None:
            return None
        item.answered_at = now
        return now - item.arrived_at

    def _new_item(self, work: WorkItem, now: float) -> ItemState:
        if not isinstance(work.id, str) or not work.id:
            raise RoutingConfigError("id", f"a work item needs a non-empty id, not {work.id!r}")
        if work.id in self._items:
            raise Conflict("work item %(item)s is already being routed", field="id", item=repr(work.id))
        if not isinstance(work.channel, str) or not work.channel:
            raise RoutingConfigError("channel", f"a work item needs a channel, not {work.channel!r}")
        _require_priority(work.priority)
        arrived_at = now if work.arrived_at is None else float(work.arrived_at)
        order = next(self._seq)
        return ItemState(work.id, order, work.queue_id, work.channel, work.priority, arrived_at, work.last_agent_id)

    # ================================================================== internals: queues

    def _admit(self, queue: QueueState) -> QueueState:
        """The queue itself, or where it overflows to when full (the chain is acyclic)."""
        while queue.config.max_size is not None and len(queue.items) >= queue.config.max_size:
            target = queue.config.overflow_queue_id
            if not queue.config.overflow_when_full or target is None:
                raise QueueFull(queue.id)
            queue = self._queues[target]
        return queue

    def _enter_queue(self, item: ItemState, queue: QueueState, now: float, *, entered_at: float | None = None) -> None:
        item.queue_id = queue.id
        item.queue_entered_at = now if entered_at is None else entered_at
        item.key = item.arrived_at - item.priority * queue.config.seconds_per_priority_level
        self._join_queue(item, queue, now)

    def _join_queue(self, item: ItemState, queue: QueueState, now: float) -> None:
        """Count the item in the queue and start its bullseye and overflow clocks."""
        item.visit += 1
        item.stage = queue.stage_after(item.queue_entered_at, now)
        queue.items[item.id] = item
        token, entered, config = item.visit, item.queue_entered_at, queue.config
        if item.stage < len(config.expansions):
            self._add_timer(entered + config.expansions[item.stage].after_seconds, _STAGE, item, token)
        if config.overflow_after_seconds is not None:
            self._add_timer(entered + config.overflow_after_seconds, _OVERFLOW, item, token)

    def _leave_queue(self, item: ItemState) -> None:
        self._unplace(item)
        queue = self._queues.get(item.queue_id)
        if queue is not None:
            queue.items.pop(item.id, None)
        item.visit += 1  # its queue timers are void now

    def _place(self, item: ItemState, queue: QueueState, now: float) -> None:
        """Put a queued item where agents find it: its last agent's sticky list or the queue."""
        if item.sticky_until is not None:
            last = self._agents.get(item.last_agent_id) if item.last_agent_id else None
            if item.sticky_until > now and last is not None and last.logged_in() and queue.id in last.queues:
                last.sticky.push(item, next(self._seq))
                item.sticky_agent_id = last.id
                self._add_timer(item.sticky_until, _STICKY, item, item.visit)
                return
            item.sticky_until = None  # nobody to wait for
        queue.waiting_list(item.channel, item.stage).push(item, next(self._seq))

    def _unplace(self, item: ItemState) -> None:
        if item.waiting_in is not None:
            item.waiting_in.discard(item)
        item.sticky_agent_id = None

    def _return_to_queue(self, item: ItemState, now: float) -> None:
        """An offer ended without an answer: back in line with the same key (its age is kept)."""
        queue = self._queues[item.queue_id]
        if item.overflow_pending:
            item.overflow_pending = False
            if self._overflow(item, queue, now, "wait"):
                return
        self._place(item, queue, now)
        self._route_item(item, now)

    def _overflow(self, item: ItemState, queue: QueueState, now: float, cause: str) -> bool:
        target_id = queue.config.overflow_queue_id
        if target_id is None:
            return False
        try:
            target = self._admit(self._queues[target_id])
        except QueueFull:
            return False  # nowhere to go: it keeps waiting here
        self._leave_queue(item)
        item.sticky_until = None
        self._enter_queue(item, target, now)
        self._emit(ItemOverflowed(now, item.id, queue.id, target.id, cause))
        self._place(item, target, now)
        self._route_item(item, now)
        return True

    def _requeue_work_of(self, agent: AgentState, now: float, reason: str) -> None:
        """The agent's assigned work goes back to its queues with its original age and clocks."""
        for item in list(agent.items.values()):
            self._drop_from_agent(item, agent)
            item.status = QUEUED
            item.agent_id = None
            item.assigned_at = None
            item.sticky_until = None
            queue = self._queues[item.queue_id]
            self._join_queue(item, queue, now)  # queue_entered_at is kept: overdue clocks fire at once
            self._emit(ItemRequeued(now, item.id, queue.id, agent.id, reason))
            self._place(item, queue, now)
            self._route_item(item, now)

    def _release_sticky(self, agent: AgentState, now: float) -> None:
        for item in list(agent.sticky.in_order()):
            self._unplace(item)
            item.sticky_until = None
            queue = self._queues[item.queue_id]
            self._place(item, queue, now)
            self._route_item(item, now)

    def _reenter_after_reconfigure(self, item: ItemState, queue: QueueState, now: float) -> None:
        self._unplace(item)
        item.key = item.arrived_at - item.priority * queue.config.seconds_per_priority_level
        self._join_queue(item, queue, now)
        if item.status is QUEUED:
            self._place(item, queue, now)

    # ================================================================== internals: agents

    def _become_available(self, agent: AgentState, now: float, changed_by: str | None) -> None:
        if agent.chosen is AVAILABLE:
            return
        agent.away_token += 1
        agent.away_until = None
        agent.resume = None
        agent.chosen = AVAILABLE
        agent.reason = None
        agent.missed = 0
        agent.idle_since = now  # idle time counts from becoming available
        self._after_agent_change(agent, now, changed_by)

    def _become_not_ready(self, agent: AgentState, now: float, reason: str, changed_by: str | None) -> None:
        # Also the way to log in without taking work yet (offline -> not ready).
        agent.away_token += 1
        agent.away_until = None
        agent.resume = None
        agent.chosen = NOT_READY
        agent.reason = reason
        self._refresh(agent, now, changed_by)
        self._retract_offers(agent, now, "agent not ready")

    def _become_offline(self, agent: AgentState, now: float, changed_by: str | None) -> None:
        if agent.chosen is OFFLINE:
            return
        agent.chosen = OFFLINE
        agent.reason = None
        agent.resume = None
        agent.away_token += 1
        agent.away_until = None
        agent.wrap_up_until = None
        agent.wrap_token += 1
        agent.missed = 0
        self._refresh(agent, now, changed_by)
        self._retract_offers(agent, now, "agent offline")
        self._release_sticky(agent, now)
        self._requeue_work_of(agent, now, "agent offline")
        self._refresh(agent, now)

    def _become_away(self, agent: AgentState, now: float, changed_by: str | None) -> None:
        if agent.chosen is OFFLINE:
            raise InvalidStateChange(f"agent {agent.id!r} is offline; an offline agent cannot be away", field="state")
        if agent.chosen is AWAY:
            return
        agent.resume = agent.chosen
        agent.chosen = AWAY
        agent.away_until = now + self._settings.away_grace_seconds
        agent.away_token += 1
        self._add_timer(agent.away_until, _AWAY, agent, agent.away_token)
        self._refresh(agent, now, changed_by)
        self._retract_offers(agent, now, "agent away")
        self._release_sticky(agent, now)

    def _on_grace_over(self, agent: AgentState, now: float) -> None:
        """Still disconnected when the grace period ends: the work goes back, the agent goes offline."""
        agent.chosen = OFFLINE
        agent.reason = None
        agent.resume = None
        agent.away_until = None
        agent.wrap_up_until = None
        agent.wrap_token += 1
        self._refresh(agent, now)
        self._requeue_work_of(agent, now, "away grace period ended")
        self._refresh(agent, now)

    def _retract_offers(self, agent: AgentState, now: float, reason: str) -> None:
        for item in list(agent.offers.values()):
            offer = self._end_offer(item, agent)
            self._emit(OfferRetracted(now, item.id, agent.id, item.queue_id, offer.attempt, reason))
            self._return_to_queue(item, now)
        self._refresh(agent, now)

    def _start_wrap_up(self, agent: AgentState, until: float) -> None:
        if agent.wrap_up_until is None or until > agent.wrap_up_until:
            agent.wrap_up_until = until
            agent.wrap_token += 1
            self._add_timer(until, _WRAP_UP, agent, agent.wrap_token)

    def _finish_wrap_up(self, agent: AgentState, now: float) -> None:
        agent.wrap_up_until = None
        agent.wrap_token += 1
        agent.idle_since = now
        self._after_agent_change(agent, now)

    def _after_agent_change(self, agent: AgentState, now: float, changed_by: str | None = None) -> None:
        self._refresh(agent, now, changed_by)
        self._route_agent(agent, now)

    def _refresh(self, agent: AgentState, now: float, changed_by: str | None = None) -> None:
        """Announce the agent's presence if it changed, and keep the routable set true."""
        presence = agent.presence()
        reason = agent.reason if presence is NOT_READY else None
        if presence is not agent.state or reason != agent.shown_reason:
            self._emit(AgentStateChanged(now, agent.id, agent.state, presence, reason, changed_by))
            agent.state = presence
            agent.shown_reason = reason
            agent.state_since = now
        self._update_routable(agent)

    def _update_routable(self, agent: AgentState) -> None:
        if agent.chosen is AVAILABLE and agent.wrap_up_until is None and agent.has_room():
            self._routable.add(agent.id)
        else:
            self._routable.discard(agent.id)

    def _index_agent(self, agent: AgentState, queue: QueueState) -> None:
        """Record from which bullseye stage on the agent qualifies for the queue (if at all)."""
        first = queue.first_stage_for(agent.profile)
        for stage, members in enumerate(queue.eligible):
            if first is not None and stage >= first:
                members.add(agent.id)
            else:
                members.discard(agent.id)
        if first is None:
            agent.queues.pop(queue.id, None)
            agent.match.pop(queue.id, None)
        else:
            agent.queues[queue.id] = first
            agent.match[queue.id] = queue.match_score(agent.profile)

    # ================================================================== internals: timers

    def _begin(self) -> float:
        now = self._clock.now()
        self._run_timers(now)
        return now

    def _add_timer(self, due: float, kind: int, target: Any, token: int) -> None:
        heapq.heappush(self._timers, (due, next(self._seq), kind, target, token))

    def _run_timers(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            timer = heapq.heappop(timers)
            if self._timer_live(timer):
                self._fire(timer[2], timer[3], now)

    def _timer_live(self, timer: Timer) -> bool:
        _, _, kind, target, token = timer
        if kind == _WRAP_UP:
            agent: AgentState = target
            return self._agents.get(agent.id) is agent and agent.wrap_token == token and agent.wrap_up_until is not None
        if kind == _AWAY:
            agent = target
            return self._agents.get(agent.id) is agent and agent.away_token == token and agent.chosen is AWAY
        item: ItemState = target
        if self._items.get(item.id) is not item:
            return False
        if kind == _OFFER:
            return item.offer is not None and item.offer.attempt == token
        if item.visit != token:
            return False
        return kind != _STICKY or item.sticky_until is not None

    def _fire(self, kind: int, target: Any, now: float) -> None:
        if kind == _OFFER:
            self._on_offer_timeout(target, now)
        elif kind == _STAGE:
            self._on_stage_due(target, now)
        elif kind == _OVERFLOW:
            self._on_overflow_due(target, now)
        elif kind == _STICKY:
            self._on_sticky_over(target, now)
        elif kind == _WRAP_UP:
            self._finish_wrap_up(target, now)
        else:
            self._on_grace_over(target, now)

    def _on_stage_due(self, item: ItemState, now: float) -> None:
        """The next ring of the bullseye: more agents qualify for the item from now on."""
        queue = self._queues[item.queue_id]
        stage = queue.stage_after(item.queue_entered_at, now)
        if stage <= item.stage:
            return
        item.stage = stage
        self._emit(ItemCriteriaExpanded(now, item.id, queue.id, stage))
        expansions = queue.config.expansions
        if stage < len(expansions):
            self._add_timer(item.queue_entered_at + expansions[stage].after_seconds, _STAGE, item, item.visit)
        if item.status is QUEUED and item.sticky_agent_id is None and item.waiting_in is not None:
            item.waiting_in.discard(item)
            queue.waiting_list(item.channel, stage).push(item, next(self._seq))
            self._route_item(item, now)

    def _on_overflow_due(self, item: ItemState, now: float) -> None:
        if item.status is OFFERED:
            item.overflow_pending = True  # decided when the offer ends without an answer
        elif item.status is QUEUED:
            self._overflow(item, self._queues[item.queue_id], now, "wait")

    def _on_sticky_over(self, item: ItemState, now: float) -> None:
        item.sticky_until = None
        if item.sticky_agent_id is not None:
            self._unplace(item)
            self._place(item, self._queues[item.queue_id], now)
            self._route_item(item, now)

    # ================================================================== internals: plumbing

    def _emit(self, event: RoutingEvent) -> None:
        self._events.append(event)

    def _agent(self, agent_id: str) -> AgentState:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent

    def _queue(self, queue_id: str) -> QueueState:
        queue = self._queues.get(queue_id)
        if queue is None:
            raise UnknownQueue(queue_id)
        return queue

    def _item(self, item_id: str) -> ItemState:
        item = self._items.get(item_id)
        if item is None:
            raise UnknownItem(item_id)
        return item

    @staticmethod
    def _by_rank(agents: Iterable[AgentState]) -> list[AgentState]:
        return sorted(agents, key=lambda agent: agent.rank)

    def _validate_queue(self, config: QueueConfig) -> None:
        config.validate(self._skills, lambda queue_id: queue_id in self._queues)

        def overflow_of(queue_id: str) -> str | None:
            if queue_id == config.id:
                return config.overflow_queue_id
            known = self._queues.get(queue_id)
            return known.config.overflow_queue_id if known else None

        check_overflow_chain(config.id, overflow_of)

    def _validate_stored_queues(self, configs: Iterable[QueueConfig]) -> None:
        """Stored queues are checked together (an overflow target may come later in the list)."""
        by_id = {config.id: config for config in configs}

        def overflow_of(queue_id: str) -> str | None:
            known = by_id.get(queue_id)
            return known.overflow_queue_id if known else None

        for config in by_id.values():
            config.validate(self._skills, lambda queue_id: queue_id in by_id)
            check_overflow_chain(config.id, overflow_of)

    def _install_queue(self, config: QueueConfig) -> QueueState:
        queue = QueueState(config)
        self._queues[config.id] = queue
        for agent in self._agents.values():
            self._index_agent(agent, queue)
        return queue

    def _load_agent(self, record: AgentRecord) -> None:
        record.profile.validate(self._skills)
        if record.chosen_state not in CHOSEN_STATES:
            raise RoutingConfigError("chosen_state", f"{record.chosen_state} is not a state an agent chooses")
        agent = AgentState(record.profile, self._next_rank, record.state_since)
        self._next_rank += 1
        agent.chosen = record.chosen_state
        agent.reason = record.reason
        agent.resume = record.resume_state
        agent.idle_since = record.idle_since
        agent.missed = record.missed_offers
        self._agents[agent.id] = agent
        for queue in self._queues.values():
            self._index_agent(agent, queue)
        if record.wrap_up_until is not None:
            self._start_wrap_up(agent, record.wrap_up_until)
        if record.chosen_state is AWAY:
            agent.away_until = record.away_until if record.away_until is not None else record.state_since
            agent.away_token += 1
            self._add_timer(agent.away_until, _AWAY, agent, agent.away_token)

    def _load_item(self, record: ItemRecord, now: float, where: str) -> None:
        if record.id in self._items:
            raise RoutingConfigError(f"{where}.id", f"work item {record.id!r} appears twice")
        queue = self._queues.get(record.queue_id)
        if queue is None:
            raise UnknownQueue(record.queue_id, field=f"{where}.queue_id")
        holder = self._agents.get(record.agent_id) if record.agent_id is not None else None
        if record.status is not QUEUED and holder is None:
            raise RoutingConfigError(f"{where}.agent_id", f"unknown agent {record.agent_id!r}")
        item = ItemState(
            record.id,
            next(self._seq),
            record.queue_id,
            record.channel,
            record.priority,
            record.arrived_at,
            record.last_agent_id,
        )
        item.attempts = record.attempts
        item.answered_at = record.answered_at
        item.assigned_at = record.assigned_at
        item.declined_by = set(record.declined_by)
        item.sticky_until = record.sticky_until
        self._items[item.id] = item
        if record.status is ASSIGNED:
            assert holder is not None
            item.queue_entered_at = record.queue_entered_at
            item.key = item.arrived_at - item.priority * queue.config.seconds_per_priority_level
            item.status = ASSIGNED
            item.agent_id = holder.id
            holder.items[item.id] = item
            holder.take_slot(item.channel)
            return
        self._enter_queue(item, queue, now, entered_at=record.queue_entered_at)
        if record.status is QUEUED:
            self._place(item, queue, now)
            return
        assert holder is not None
        offered_at = record.offered_at if record.offered_at is not None else now
        expires_at = record.offer_expires_at if record.offer_expires_at is not None else now
        item.status = OFFERED
        item.offer = Offer(item.id, holder.id, queue.id, item.channel, item.attempts, offered_at, expires_at)
        holder.offers[item.id] = item
        holder.take_slot(item.channel)
        self._add_timer(expires_at, _OFFER, item, item.attempts)


# ---------------------------------------------------------------------- helpers


def _parse_state(state: Presence | str) -> Presence:
    try:
        parsed = Presence(state)
    except ValueError:
        raise RoutingConfigError("state", f"unknown state {state!r}") from None
    if parsed not in CHOSEN_STATES:
        choices = ", ".join(sorted(CHOSEN_STATES))
        raise InvalidStateChange(f"'{parsed}' follows from the agent's work; choose one of {choices}", field="state")
    return parsed


def _require_priority(priority: object) -> None:
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise RoutingConfigError("priority", f"must be a whole number, not {priority!r}")


def _recount_load(agent: AgentState) -> None:
    """After a capacity change: recompute the derived load figures from the per-channel counts."""
    counts = dict(agent.load)
    agent.load, agent.total_load, agent.exclusive_load, agent.occupancy = {}, 0, 0, 0.0
    for channel, used in counts.items():
        for _ in range(used):
            agent.take_slot(channel)


def _agent_record(agent: AgentState) -> AgentRecord:
    return AgentRecord(
        profile=agent.profile,
        chosen_state=agent.chosen,
        reason=agent.reason,
        resume_state=agent.resume,
        state_since=agent.state_since,
        idle_since=agent.idle_since,
        wrap_up_until=agent.wrap_up_until,
        away_until=agent.away_until,
        missed_offers=agent.missed,
    )


def _item_record(item: ItemState) -> ItemRecord:
    offer = item.offer
    return ItemRecord(
        id=item.id,
        queue_id=item.queue_id,
        channel=item.channel,
        priority=item.priority,
        arrived_at=item.arrived_at,
        queue_entered_at=item.queue_entered_at,
        status=item.status,
        agent_id=offer.agent_id if offer is not None else item.agent_id,
        attempts=item.attempts,
        offered_at=offer.offered_at if offer is not None else None,
        offer_expires_at=offer.expires_at if offer is not None else None,
        answered_at=item.answered_at,
        assigned_at=item.assigned_at,
        last_agent_id=item.last_agent_id,
        sticky_until=item.sticky_until,
        declined_by=frozenset(item.declined_by),
    )


def _check_consistency(engine: RoutingEngine) -> None:
    agents, items, queues = engine._agents, engine._items, engine._queues
    offered_to: dict[str, str] = {}
    for agent in agents.values():
        per_channel: Counter[str] = Counter()
        for item_id, item in agent.offers.items():
            assert item_id not in offered_to, f"{item_id} offered to {offered_to[item_id]} and {agent.id}"
            offered_to[item_id] = agent.id
            assert item.status is OFFERED and item.offer is not None and item.offer.agent_id == agent.id
            per_channel[item.channel] += 1
        for item in agent.items.values():
            assert item.status is ASSIGNED and item.agent_id == agent.id, f"{item.id} wrongly on {agent.id}"
            per_channel[item.channel] += 1
        assert {k: v for k, v in agent.load.items() if v} == dict(per_channel), f"{agent.id} load is off"
        assert agent.total_load == sum(per_channel.values())
        assert agent.state is agent.presence(), f"{agent.id} shows {agent.state}, is {agent.presence()}"
        routable = agent.chosen is AVAILABLE and agent.wrap_up_until is None and agent.has_room()
        assert (agent.id in engine._routable) == routable, f"{agent.id} routable set is off"
    for item in items.values():
        queue = queues[item.queue_id]
        if item.status is ASSIGNED:
            assert item.id not in queue.items and item.waiting_in is None and item.offer is None
        elif item.status is OFFERED:
            assert item.offer is not None and offered_to.get(item.id) == item.offer.agent_id
            assert queue.items.get(item.id) is item and item.waiting_in is None
        else:
            assert queue.items.get(item.id) is item and item.offer is None
            assert item.waiting_in is not None and item.heap_seq, f"{item.id} queued but in no waiting list"
    for queue in queues.values():
        for item_id, item in queue.items.items():
            assert items.get(item_id) is item and item.queue_id == queue.id
        for waiting in queue.waiting.values():
            assert waiting.live == sum(1 for entry in waiting.heap if entry[3].heap_seq == entry[2])
