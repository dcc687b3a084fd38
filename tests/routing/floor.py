"""A contact-center floor for tests: the real engine on a manual clock, with helpers that read
like the trade (queues, agents, calls) and keep every event the engine emitted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from helpline.routing import (
    AgentProfile,
    Capacity,
    EngineSettings,
    ManualClock,
    Offer,
    Presence,
    QueueConfig,
    RoutingEngine,
    WorkItem,
)
from helpline.routing.events import OfferMade, RoutingEvent

E = TypeVar("E", bound=RoutingEvent)

VOICE_ONLY = Capacity(limits={"voice": 1})


class Floor:
    def __init__(self, settings: EngineSettings | None = None, skills: Iterable[str] = ("billing",)) -> None:
        self.clock = ManualClock(0.0)
        self.engine = RoutingEngine(self.clock, settings)
        self.events: list[RoutingEvent] = []
        for skill in skills:
            self.engine.define_skill(skill)

    # -- set-up
    def queue(self, queue_id: str = "support", **config: object) -> QueueConfig:
        queue = QueueConfig(id=queue_id, **config)
        self.engine.configure_queue(queue)
        self.collect()
        return queue

    def agent(
        self,
        agent_id: str,
        *,
        skills: Mapping[str, int] | None = None,
        languages: Iterable[str] = ("en",),
        capacity: Capacity = VOICE_ONLY,
        available: bool = True,
    ) -> str:
        profile = AgentProfile(id=agent_id, skills=skills or {}, languages=frozenset(languages), capacity=capacity)
        self.engine.add_agent(profile)
        if available:
            self.engine.set_state(agent_id, Presence.AVAILABLE)
        self.collect()
        return agent_id

    # -- acting
    def at(self, seconds: float) -> None:
        """Move the clock to ``seconds`` and let the engine's timers run."""
        self.clock.set(seconds)
        self.engine.tick()
        self.collect()

    def call(self, item_id: str, queue_id: str = "support", *, channel: str = "voice", **kw: object) -> Offer | None:
        offer = self.engine.enqueue(WorkItem(id=item_id, queue_id=queue_id, channel=channel, **kw))
        self.collect()
        return offer

    def answer(self, item_id: str) -> str:
        """Whoever holds the offer accepts it; returns their id."""
        offer = self.engine.offer_for(item_id)
        assert offer is not None, f"{item_id} is not being offered"
        self.engine.accept(item_id, offer.agent_id)
        self.collect()
        return offer.agent_id

    # -- reading
    def collect(self) -> list[RoutingEvent]:
        new = self.engine.drain_events()
        self.events.extend(new)
        return new

    def of(self, kind: type[E]) -> list[E]:
        self.collect()
        return [event for event in self.events if isinstance(event, kind)]

    def offered_to(self, item_id: str) -> str | None:
        offer = self.engine.offer_for(item_id)
        return offer.agent_id if offer else None

    def offers_made(self) -> list[tuple[str, str]]:
        return [(event.item_id, event.agent_id) for event in self.of(OfferMade)]

    def state(self, agent_id: str) -> Presence:
        return self.engine.agent(agent_id).state
