"""What goes in and out of the routing core: work items, offers, views and stored rows.

``AgentRecord`` and ``ItemRecord`` are exactly what the persistence layer keeps (one row per
agent state and per routed work item); ``RoutingEngine.snapshot()`` produces them and
``RoutingEngine.load()`` rebuilds the engine from them after a restart or on another process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from helpline.routing.config import AgentProfile, Presence, QueueConfig


class ItemStatus(StrEnum):
    QUEUED = "queued"  # waiting in its queue (or for its sticky agent)
    OFFERED = "offered"  # offered to exactly one agent, waiting for accept/decline/timeout
    ASSIGNED = "assigned"  # an agent works it


@dataclass(frozen=True)
class WorkItem:
    """A new thing to route: a conversation awaiting a reply, a call, a callback..."""

    id: str
    queue_id: str
    channel: str
    priority: int = 0  # higher is more urgent; each level is worth the queue's seconds_per_priority_level
    arrived_at: float | None = None  # defaults to now; pass the original time to keep an item's age
    last_agent_id: str | None = None  # the contact's last agent, for the sticky-agent rule


@dataclass(frozen=True)
class Offer:
    item_id: str
    agent_id: str
    queue_id: str
    channel: str
    attempt: int
    offered_at: float
    expires_at: float


@dataclass(frozen=True)
class AgentRecord:
    """One agent's routing state as stored."""

    profile: AgentProfile
    chosen_state: Presence = Presence.OFFLINE  # offline, available, not_ready or away
    reason: str | None = None  # reason code while not_ready
    resume_state: Presence | None = None  # while away: the state a reconnect returns to
    state_since: float = 0.0
    idle_since: float = 0.0  # for longest-idle: when the agent last became free or was last offered
    wrap_up_until: float | None = None
    away_until: float | None = None
    missed_offers: int = 0  # missed offers in a row


@dataclass(frozen=True)
class ItemRecord:
    """One routed work item as stored (queued, offered or assigned)."""

    id: str
    queue_id: str
    channel: str
    priority: int
    arrived_at: float
    queue_entered_at: float
    status: ItemStatus
    agent_id: str | None = None  # offered to / assigned to
    attempts: int = 0
    offered_at: float | None = None
    offer_expires_at: float | None = None
    answered_at: float | None = None  # the first answer
    assigned_at: float | None = None  # when the current agent got it
    last_agent_id: str | None = None
    sticky_until: float | None = None
    declined_by: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RoutingSnapshot:
    taken_at: float
    skills: tuple[str, ...]
    queues: tuple[QueueConfig, ...]
    agents: tuple[AgentRecord, ...]  # in the order they joined (their round-robin order)
    items: tuple[ItemRecord, ...]  # in arrival order (e.g. by id): breaks ties between equal scores
    # queue id -> the agent of its latest offer: where round robin goes on from
    last_offered_agent: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentView:
    """An agent as the workspace header and the wallboard show them."""

    id: str
    state: Presence
    reason: str | None
    state_since: float
    items: tuple[str, ...]
    offers: tuple[str, ...]
    wrap_up_until: float | None
    missed_offers: int
    load: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueView:
    """A queue for the wallboard: what waits, for how long, and who could take it."""

    id: str
    waiting: int  # items not yet answered, including those being offered
    offered: int  # of which currently offered to an agent
    longest_wait_seconds: float
    agents: dict[Presence, int]  # the queue's agents (eligible at any stage) by state


@dataclass(frozen=True)
class ItemView:
    id: str
    queue_id: str
    channel: str
    priority: int
    status: ItemStatus
    stage: int
    agent_id: str | None
    arrived_at: float
    queue_entered_at: float
    declined_by: frozenset[str]
