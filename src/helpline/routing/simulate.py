"""A discrete-event simulator that drives the real routing engine.

Not a model of the engine: ``run_simulation`` builds a ``RoutingEngine`` on a ``ManualClock``,
creates queues and agents in it, feeds it seeded Poisson arrivals as work items, lets agents accept
every offer at once, completes each item after an exponential handle time (then wrap-up, timed by
the engine), and withdraws callers whose exponential patience runs out. Everything the result
reports is measured from the engine's own events, the way the reports will measure production:

* service level: answered within T ÷ (answered + abandoned) — abandons count against it (the
  strict definition); ``service_level_of_answered`` leaves abandons out;
* ASA: mean wait of answered calls; abandon rate: abandoned ÷ offered;
* occupancy: (busy + wrap-up time) ÷ (busy + wrap-up + available time), from the agent-state events.

Calls that arrive during ``warmup_seconds`` are routed but not counted. Arrivals stop at
``duration_seconds``; the simulation then runs on until every counted call is answered or gone, so
nothing is cut off. Separate random streams for arrivals, handle times, patience and queue choice
keep one parameter change from reshuffling the others (common random numbers).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from helpline.routing.clock import ManualClock
from helpline.routing.config import AgentProfile, Capacity, EngineSettings, Presence, QueueConfig, Strategy
from helpline.routing.engine import RoutingEngine
from helpline.routing.erlang import ErlangC, erlang_c
from helpline.routing.events import AgentStateChanged, ItemAssigned, ItemWithdrawn, OfferAccepted, OfferMade
from helpline.routing.records import WorkItem

SL_DEFINITION = "answered within T seconds ÷ (answered + abandoned); every abandon counts against"


@dataclass(frozen=True)
class SimulationParams:
    arrivals_per_hour: float  # all queues together
    mean_handle_seconds: float
    agents: int
    duration_seconds: float
    queues: int = 1
    queues_per_agent: int | None = None  # the skills split: each agent serves this many queues (None: all)
    seed: int = 1
    sl_threshold_seconds: float = 20.0
    mean_patience_seconds: float | None = None  # None: nobody abandons
    wrap_up_seconds: float = 0.0
    warmup_seconds: float = 0.0
    strategy: Strategy = Strategy.LONGEST_IDLE
    channel: str = "voice"

    @classmethod
    def per_interval(cls, calls: float, interval_seconds: float, **params: object) -> SimulationParams:
        """E.g. ``per_interval(100, 1800, mean_handle_seconds=180, agents=14, duration_seconds=...)``."""
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be more than 0")
        return cls(arrivals_per_hour=calls * 3600.0 / interval_seconds, **params)  # type: ignore[arg-type]

    def validate(self) -> None:
        _require(self.arrivals_per_hour > 0, "arrivals_per_hour", "must be more than 0")
        _require(self.mean_handle_seconds > 0, "mean_handle_seconds", "must be more than 0")
        _require(self.agents >= 1, "agents", "must be 1 or more")
        _require(self.duration_seconds > 0, "duration_seconds", "must be more than 0")
        _require(self.queues >= 1, "queues", "must be 1 or more")
        per_agent = self.queues_per_agent
        _require(per_agent is None or 1 <= per_agent <= self.queues, "queues_per_agent", "must be 1..queues")
        _require(self.sl_threshold_seconds >= 0, "sl_threshold_seconds", "must be at least 0")
        patience = self.mean_patience_seconds
        _require(patience is None or patience > 0, "mean_patience_seconds", "must be more than 0")
        _require(self.wrap_up_seconds >= 0, "wrap_up_seconds", "must be at least 0")
        _require(0 <= self.warmup_seconds < self.duration_seconds, "warmup_seconds", "must be within the duration")

    @property
    def traffic_erlangs(self) -> float:
        return self.arrivals_per_hour / 3600.0 * (self.mean_handle_seconds + self.wrap_up_seconds)


@dataclass(frozen=True)
class SimulationProgress:
    """Handed to the progress callback: enough for a progress bar and a live tally."""

    simulated_seconds: float
    duration_seconds: float
    offered: int
    answered: int
    abandoned: int
    draining: bool  # arrivals have stopped; the last calls are being served

    @property
    def fraction(self) -> float:
        return min(1.0, self.simulated_seconds / self.duration_seconds)


@dataclass(frozen=True)
class SimulationResult:
    params: SimulationParams
    offered: int
    answered: int
    abandoned: int
    answered_within_threshold: int
    service_level: float  # see SL_DEFINITION
    service_level_of_answered: float  # answered within T ÷ answered
    asa_seconds: float
    waited_share: float  # answered calls that waited at all ÷ answered: Erlang C's P(wait) when nobody abandons
    abandon_rate: float
    occupancy: float
    longest_wait_seconds: float
    simulated_seconds: float  # including the drain after the last arrival
    answered_by_agent: dict[str, int] = field(default_factory=dict)
    sl_definition: str = SL_DEFINITION
    # Erlang C for the same figures: exact only for one pooled queue without abandons.
    erlang_c: ErlangC | None = None


ProgressCallback = Callable[[SimulationProgress], None]

_ARRIVAL, _ABANDON, _COMPLETE = range(3)
_PROGRESS_STEPS = 200


def run_simulation(params: SimulationParams, progress: ProgressCallback | None = None) -> SimulationResult:
    """Simulate ``params`` through the real engine; ``progress`` is called about 200 times."""
    params.validate()
    return _Simulation(params, progress).run()


@dataclass
class _Call:
    arrived_at: float
    handle_seconds: float
    counted: bool
    answered: bool = False


class _Simulation:
    def __init__(self, params: SimulationParams, progress: ProgressCallback | None) -> None:
        self.params = params
        self.progress = progress
        self.clock = ManualClock(0.0)
        # Agents answer at once, so offer timeouts and missed-offer pauses never trigger.
        self.engine = RoutingEngine(self.clock, EngineSettings(away_grace_seconds=0.0))
        seed = params.seed
        self.arrivals = random.Random(f"{seed}/arrivals")
        self.handling = random.Random(f"{seed}/handling")
        self.patience = random.Random(f"{seed}/patience")
        self.choice = random.Random(f"{seed}/queues")
        self.agenda: list[tuple[float, int, int, str]] = []
        self.sequence = 0
        self.calls: dict[str, _Call] = {}
        self.offered = self.answered = self.abandoned = self.within = self.waited = 0
        self.total_wait = self.longest_wait = 0.0
        self.answered_by_agent: dict[str, int] = {}
        self.state_of: dict[str, tuple[Presence, float]] = {}
        self.time_in: dict[Presence, float] = dict.fromkeys(Presence, 0.0)
        self.next_progress = 0.0

    # -------------------------------------------------------------- set-up

    def build(self) -> None:
        params, engine = self.params, self.engine
        queue_ids = [f"q{n}" for n in range(params.queues)]
        for queue_id in queue_ids:
            engine.define_skill(queue_id)
            engine.configure_queue(
                QueueConfig(
                    id=queue_id,
                    skills={queue_id: 1},
                    strategy=params.strategy,
                    wrap_up_seconds=params.wrap_up_seconds,
                    offer_timeout_seconds=3600.0,
                )
            )
        per_agent = params.queues_per_agent or params.queues
        for n in range(params.agents):
            skills = {queue_ids[(n + k) % params.queues]: 3 for k in range(per_agent)}
            capacity = Capacity(limits={params.channel: 1})
            engine.add_agent(AgentProfile(id=f"agent-{n:04d}", skills=skills, capacity=capacity))
            engine.set_state(f"agent-{n:04d}", Presence.AVAILABLE)
        self.queue_ids = queue_ids
        self.absorb_events()

    # -------------------------------------------------------------- the loop

    def run(self) -> SimulationResult:
        self.build()
        self.schedule(self.arrivals.expovariate(self.rate), _ARRIVAL, "")
        while True:
            next_event = self.agenda[0][0] if self.agenda else math.inf
            deadline = self.engine.next_deadline()
            if deadline is not None and deadline <= next_event:
                self.clock.set(max(deadline, self.clock.now()))
                self.engine.tick()
            elif self.agenda:
                at, _, kind, call_id = heapq.heappop(self.agenda)
                self.clock.set(at)
                self.dispatch(kind, call_id)
            else:
                break
            self.absorb_events()
            self.report_progress()
        return self.result()

    @property
    def rate(self) -> float:
        return self.params.arrivals_per_hour / 3600.0

    def schedule(self, at: float, kind: int, call_id: str) -> None:
        self.sequence += 1
        heapq.heappush(self.agenda, (at, self.sequence, kind, call_id))

    def dispatch(self, kind: int, call_id: str) -> None:
        if kind == _ARRIVAL:
            self.arrive()
        elif kind == _COMPLETE:
            self.engine.complete(call_id)
            del self.calls[call_id]
        else:
            call = self.calls.get(call_id)
            if call is not None and not call.answered:  # patience ran out before an agent answered
                self.engine.withdraw(call_id, reason="abandoned")

    def arrive(self) -> None:
        params, now = self.params, self.clock.now()
        self.sequence += 1
        call_id = f"call-{self.sequence}"
        counted = now >= params.warmup_seconds
        handle = self.handling.expovariate(1.0 / params.mean_handle_seconds)
        self.calls[call_id] = _Call(arrived_at=now, handle_seconds=handle, counted=counted)
        if counted:
            self.offered += 1
        if params.mean_patience_seconds is not None:
            patience = self.patience.expovariate(1.0 / params.mean_patience_seconds)
            self.schedule(now + patience, _ABANDON, call_id)
        queue_id = self.queue_ids[self.choice.randrange(len(self.queue_ids))] if params.queues > 1 else "q0"
        self.engine.enqueue(WorkItem(id=call_id, queue_id=queue_id, channel=params.channel))
        following = now + self.arrivals.expovariate(self.rate)
        if following < params.duration_seconds:
            self.schedule(following, _ARRIVAL, "")

    def absorb_events(self) -> None:
        """React to what the engine decided: agents answer offers, answered calls get a handle time."""
        while events := self.engine.drain_events():
            for event in events:
                kind = type(event)  # exact types: cheaper than an isinstance chain on the hot path
                if kind is OfferMade:
                    assert isinstance(event, OfferMade)
                    self.engine.accept(event.item_id, event.agent_id, attempt=event.attempt)
                elif kind is OfferAccepted or kind is ItemAssigned:
                    assert isinstance(event, OfferAccepted | ItemAssigned)
                    self.on_answer(event.item_id, event.agent_id, event.at)
                elif kind is AgentStateChanged:
                    assert isinstance(event, AgentStateChanged)
                    self.on_state(event)
                elif kind is ItemWithdrawn:
                    assert isinstance(event, ItemWithdrawn)
                    self.on_withdrawn(event.item_id)

    def on_answer(self, call_id: str, agent_id: str, at: float) -> None:
        call = self.calls[call_id]
        call.answered = True
        self.schedule(at + call.handle_seconds, _COMPLETE, call_id)
        if not call.counted:
            return
        wait = at - call.arrived_at
        self.answered += 1
        self.total_wait += wait
        self.longest_wait = max(self.longest_wait, wait)
        if wait <= self.params.sl_threshold_seconds:
            self.within += 1
        if wait > 0:
            self.waited += 1
        self.answered_by_agent[agent_id] = self.answered_by_agent.get(agent_id, 0) + 1

    def on_withdrawn(self, call_id: str) -> None:
        call = self.calls.pop(call_id)
        if call.counted:
            self.abandoned += 1

    def on_state(self, event: AgentStateChanged) -> None:
        previous = self.state_of.get(event.agent_id)
        if previous is not None:
            self.count_time(previous[0], previous[1], event.at)
        self.state_of[event.agent_id] = (event.state, event.at)

    def count_time(self, state: Presence, start: float, end: float) -> None:
        """Occupancy is measured while calls arrive (after warm-up), not during the final drain."""
        start = max(start, self.params.warmup_seconds)
        end = min(end, self.params.duration_seconds)
        if end > start:
            self.time_in[state] += end - start

    def report_progress(self, *, final: bool = False) -> None:
        if self.progress is None:
            return
        now = self.clock.now()
        if not final and now < self.next_progress:
            return
        self.next_progress = now + self.params.duration_seconds / _PROGRESS_STEPS
        self.progress(
            SimulationProgress(
                simulated_seconds=now,
                duration_seconds=self.params.duration_seconds,
                offered=self.offered,
                answered=self.answered,
                abandoned=self.abandoned,
                draining=now >= self.params.duration_seconds and not final,
            )
        )

    # -------------------------------------------------------------- the figures

    def result(self) -> SimulationResult:
        params, end = self.params, self.clock.now()
        for state, since in self.state_of.values():
            self.count_time(state, since, end)
        self.report_progress(final=True)
        working = self.time_in[Presence.BUSY] + self.time_in[Presence.WRAP_UP]
        staffed = working + self.time_in[Presence.AVAILABLE]
        reached = self.answered + self.abandoned
        prediction = None
        if params.queues == 1 or params.queues_per_agent in (None, params.queues):
            prediction = erlang_c(
                params.traffic_erlangs,
                params.agents,
                params.mean_handle_seconds + params.wrap_up_seconds,
                params.sl_threshold_seconds,
            )
        return SimulationResult(
            params=params,
            offered=self.offered,
            answered=self.answered,
            abandoned=self.abandoned,
            answered_within_threshold=self.within,
            service_level=self.within / reached if reached else 1.0,
            service_level_of_answered=self.within / self.answered if self.answered else 1.0,
            asa_seconds=self.total_wait / self.answered if self.answered else 0.0,
            waited_share=self.waited / self.answered if self.answered else 0.0,
            abandon_rate=self.abandoned / self.offered if self.offered else 0.0,
            occupancy=working / staffed if staffed else 0.0,
            longest_wait_seconds=self.longest_wait,
            simulated_seconds=end,
            answered_by_agent=dict(sorted(self.answered_by_agent.items())),
            erlang_c=prediction,
        )


def _require(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise ValueError(f"{name}: {message}")
