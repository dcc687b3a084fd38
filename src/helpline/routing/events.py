"""Everything the routing core changes, as events.

The core never writes anything itself: each public call of ``RoutingEngine`` appends these to its
outbox (``drain_events()``). The service layer that embeds the core persists each one (offers,
agent state rows, queue membership) in the same transaction and publishes them after the commit,
so the workspace, the wallboard and the reports all hear the same story. ``at`` is the clock time
of the change in seconds; ``to_data()`` gives a JSON-ready dict for ``helpline.events.Event``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from helpline.routing.config import Presence


@dataclass(frozen=True, slots=True)
class RoutingEvent:
    type: ClassVar[str] = "routing.event"
    at: float

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = list(value) if isinstance(value, tuple | frozenset) else value
        return data


@dataclass(frozen=True, slots=True)
class AgentStateChanged(RoutingEvent):
    """Stored with its timestamp: occupancy and adherence reports are computed from these rows."""

    type: ClassVar[str] = "agent.state_changed"
    agent_id: str
    previous: Presence
    state: Presence
    reason: str | None = None  # the reason code of not_ready, e.g. "lunch" or "missed offers"
    changed_by: str | None = None  # a supervisor's id when they changed it


@dataclass(frozen=True, slots=True)
class ItemQueued(RoutingEvent):
    type: ClassVar[str] = "work_item.queued"
    item_id: str
    queue_id: str
    priority: int
    arrived_at: float


@dataclass(frozen=True, slots=True)
class ItemCriteriaExpanded(RoutingEvent):
    """The item waited long enough for the next ring of the bullseye."""

    type: ClassVar[str] = "work_item.criteria_expanded"
    item_id: str
    queue_id: str
    stage: int


@dataclass(frozen=True, slots=True)
class ItemOverflowed(RoutingEvent):
    type: ClassVar[str] = "work_item.overflowed"
    item_id: str
    from_queue_id: str
    to_queue_id: str
    cause: str  # "wait" (overflow_after_seconds) or "full" (max_size)


@dataclass(frozen=True, slots=True)
class OfferMade(RoutingEvent):
    """The caller claims the item for this agent (atomically) and pushes the offer to the workspace."""

    type: ClassVar[str] = "offer.made"
    item_id: str
    agent_id: str
    queue_id: str
    channel: str
    attempt: int  # 1 for the first offer of this item, 2 for the next...
    expires_at: float


@dataclass(frozen=True, slots=True)
class OfferAccepted(RoutingEvent):
    type: ClassVar[str] = "offer.accepted"
    item_id: str
    agent_id: str
    queue_id: str
    attempt: int
    # From arrival to this answer; None when the item had been answered before (a re-queued or
    # transferred item), so speed of answer counts each item once.
    waited_seconds: float | None


@dataclass(frozen=True, slots=True)
class OfferDeclined(RoutingEvent):
    type: ClassVar[str] = "offer.declined"
    item_id: str
    agent_id: str
    queue_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class OfferTimedOut(RoutingEvent):
    type: ClassVar[str] = "offer.timed_out"
    item_id: str
    agent_id: str
    queue_id: str
    attempt: int
    missed_in_row: int


@dataclass(frozen=True, slots=True)
class OfferRetracted(RoutingEvent):
    """Taken back without the agent's answer: they went away or on break, or the item left."""

    type: ClassVar[str] = "offer.retracted"
    item_id: str
    agent_id: str
    queue_id: str
    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class ItemAssigned(RoutingEvent):
    """Assigned without an offer: manual assignment, transfer to an agent, or "get next item"."""

    type: ClassVar[str] = "work_item.assigned"
    item_id: str
    agent_id: str
    queue_id: str
    via: str  # "manual", "pull"
    from_agent_id: str | None = None
    note: str | None = None
    waited_seconds: float | None = None  # set when this assignment is the item's first answer


@dataclass(frozen=True, slots=True)
class ItemTransferred(RoutingEvent):
    """Sent to another queue by an agent or supervisor; it keeps its original age."""

    type: ClassVar[str] = "work_item.transferred"
    item_id: str
    from_queue_id: str
    to_queue_id: str
    from_agent_id: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ItemRequeued(RoutingEvent):
    """Back in its queue with its original age, e.g. after its agent's away grace period ran out."""

    type: ClassVar[str] = "work_item.requeued"
    item_id: str
    queue_id: str
    from_agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ItemCompleted(RoutingEvent):
    type: ClassVar[str] = "work_item.completed"
    item_id: str
    agent_id: str
    queue_id: str
    handled_seconds: float
    wrap_up_seconds: float


@dataclass(frozen=True, slots=True)
class ItemWithdrawn(RoutingEvent):
    """Left routing without being completed: abandoned by the customer, closed, claimed elsewhere."""

    type: ClassVar[str] = "work_item.withdrawn"
    item_id: str
    queue_id: str
    reason: str
    answered: bool  # False: the customer gave up before an agent answered (an abandon)
    waited_seconds: float
