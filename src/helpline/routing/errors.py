"""Errors of the routing core.

They subclass the project's domain errors, so the API layer that wraps the core turns them into
clean 4xx answers (422 naming the field, 404, 409) without a translation table.
"""

from __future__ import annotations

from helpline.errors import Conflict, Invalid, NotFound


class RoutingConfigError(Invalid):
    """A queue, agent profile or setting that cannot work; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)


class UnknownAgent(NotFound):
    def __init__(self, agent_id: str) -> None:
        super().__init__(f"no agent {agent_id!r} in the routing engine", field="agent_id")


class UnknownQueue(NotFound):
    def __init__(self, queue_id: str, *, field: str = "queue_id") -> None:
        super().__init__(f"no queue {queue_id!r}", field=field)


class UnknownItem(NotFound):
    def __init__(self, item_id: str) -> None:
        super().__init__(f"no work item {item_id!r} in the routing engine", field="item_id")


class OfferConflict(Conflict):
    """The offer expired, was withdrawn, or belongs to someone else (the API answers 409)."""


class QueueFull(Conflict):
    """The queue is at its maximum size and has no overflow that can take the item."""

    def __init__(self, queue_id: str) -> None:
        super().__init__(f"queue {queue_id!r} is full", field="queue_id")


class InvalidStateChange(Conflict):
    """A state change the agent's current state does not allow (e.g. setting 'busy' by hand)."""
