"""Routing (ACD): one engine for every channel.

The pure decision core lives here: ``RoutingEngine`` (queues, skills, agent presence, offers),
``clock`` (a controllable clock), ``erlang`` (Erlang C staffing formulas) and ``simulate`` (a
discrete-event simulator that drives the real engine). Persistence, the API and the pages wrap it.
"""

from helpline.routing.clock import Clock, ManualClock, SystemClock
from helpline.routing.config import (
    MISSED_OFFERS_REASON,
    AgentProfile,
    Capacity,
    EngineSettings,
    Expansion,
    Presence,
    QueueConfig,
    Strategy,
)
from helpline.routing.engine import RoutingEngine
from helpline.routing.errors import (
    InvalidStateChange,
    OfferConflict,
    QueueFull,
    RoutingConfigError,
    UnknownAgent,
    UnknownItem,
    UnknownQueue,
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

__all__ = [
    "MISSED_OFFERS_REASON",
    "AgentProfile",
    "AgentRecord",
    "AgentView",
    "Capacity",
    "Clock",
    "EngineSettings",
    "Expansion",
    "InvalidStateChange",
    "ItemRecord",
    "ItemStatus",
    "ItemView",
    "ManualClock",
    "Offer",
    "OfferConflict",
    "Presence",
    "QueueConfig",
    "QueueFull",
    "QueueView",
    "RoutingConfigError",
    "RoutingEngine",
    "RoutingSnapshot",
    "Strategy",
    "SystemClock",
    "UnknownAgent",
    "UnknownItem",
    "UnknownQueue",
    "WorkItem",
]
