"""The engine's mutable insides: agents, items, queues and the ordered waiting lists.

Kept apart from ``engine.py`` so the rules there read as rules. Nothing here is public API.

Ordering of waiting items. With aging, an item's effective score at time t is
``(t - arrived_at) + priority * k``. That equals ``t - (arrived_at - priority * k)``, so the item
with the smallest ``key = arrived_at - priority * k`` has the best score at every moment: the order
never changes while items wait, and a plain binary heap per (channel, stage) holds it (equal keys:
first come, first served, by the item's arrival order). Removing an
item from the middle (offered, abandoned, moved to the next stage) only marks its heap entry stale
(``item.heap_seq`` no longer matches); stale entries are skipped when they reach the top and the
heap is compacted when they outnumber the live ones.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from helpline.routing.config import AgentProfile, Presence, QueueConfig, Requirement
from helpline.routing.records import ItemStatus, Offer

HeapEntry = tuple[float, int, int, "ItemState"]  # (key, arrival order, push seq, item)

_COMPACT_MIN = 64


class WaitingList:
    """Items waiting in best-first order (by ``key``, then arrival sequence)."""

    __slots__ = ("heap", "live")

    def __init__(self) -> None:
        self.heap: list[HeapEntry] = []
        self.live = 0

    def push(self, item: ItemState, seq: int) -> None:
        heapq.heappush(self.heap, (item.key, item.order, seq, item))
        item.heap_seq = seq
        item.waiting_in = self
        self.live += 1

    def discard(self, item: ItemState) -> None:
        item.heap_seq = 0
        item.waiting_in = None
        self.live -= 1
        if len(self.heap) > _COMPACT_MIN and len(self.heap) > 4 * self.live:
            self.heap = [entry for entry in self.heap if entry[3].heap_seq == entry[2]]
            heapq.heapify(self.heap)

    def first(self) -> ItemState | None:
        heap = self.heap
        while heap:
            _, _, seq, item = heap[0]
            if item.heap_seq == seq:
                return item
            heapq.heappop(heap)
        return None

    def in_order(self) -> Iterator[ItemState]:
        """Live items best-first without popping: a small frontier heap walks the binary heap.

        Costs O(k log k) for the first k items, which is what skipping an item the agent declined
        needs. The list must not change while the iterator is in use.
        """
        heap = self.heap
        if not heap:
            return
        frontier: list[tuple[HeapEntry, int]] = [(heap[0], 0)]
        size = len(heap)
        while frontier:
            entry, index = heapq.heappop(frontier)
            if entry[3].heap_seq == entry[2]:
                yield entry[3]
            for child in (2 * index + 1, 2 * index + 2):
                if child < size:
                    heapq.heappush(frontier, (heap[child], child))


class ItemState:
    __slots__ = (
        "agent_id",
        "answered_at",
        "arrived_at",
        "assigned_at",
        "attempts",
        "channel",
        "declined_by",
        "heap_seq",
        "id",
        "key",
        "last_agent_id",
        "offer",
        "order",
        "overflow_pending",
        "priority",
        "queue_entered_at",
        "queue_id",
        "stage",
        "status",
        "sticky_agent_id",
        "sticky_until",
        "visit",
        "waiting_in",
    )

    def __init__(
        self,
        item_id: str,
        order: int,
        queue_id: str,
        channel: str,
        priority: int,
        arrived_at: float,
        last_agent_id: str | None,
    ) -> None:
        self.id = item_id
        self.order = order  # arrival order in this engine: breaks ties between equal keys
        self.queue_id = queue_id
        self.channel = channel
        self.priority = priority
        self.arrived_at = arrived_at
        self.queue_entered_at = arrived_at
        self.last_agent_id = last_agent_id
        self.sticky_until: float | None = None
        self.sticky_agent_id: str | None = None  # set while it waits in that agent's sticky list
        self.status = ItemStatus.QUEUED
        self.stage = 0
        self.key = arrived_at
        self.heap_seq = 0  # the seq of its live heap entry; 0 when in no waiting list
        self.waiting_in: WaitingList | None = None
        self.visit = 0  # bumped whenever it enters or leaves a queue: older timers become void
        self.offer: Offer | None = None
        self.agent_id: str | None = None
        self.answered_at: float | None = None  # first answer: speed of answer counts once
        self.assigned_at: float | None = None  # when the current agent got it: handle time
        self.attempts = 0
        self.declined_by: set[str] = set()
        self.overflow_pending = False  # its overflow time came while it was being offered


class AgentState:
    __slots__ = (
        "away_token",
        "away_until",
        "capacity",
        "chosen",
        "exclusive_load",
        "id",
        "idle_since",
        "items",
        "load",
        "match",
        "missed",
        "occupancy",
        "offers",
        "profile",
        "queues",
        "rank",
        "reason",
        "resume",
        "shown_reason",
        "state",
        "state_since",
        "sticky",
        "total_load",
        "wrap_token",
        "wrap_up_until",
    )

    def __init__(self, profile: AgentProfile, rank: int, now: float) -> None:
        self.id = profile.id
        self.profile = profile
        self.capacity = profile.capacity
        self.rank = rank  # order of joining: the round-robin order
        self.chosen = Presence.OFFLINE  # what the agent chose; busy/wrap-up are laid over it
        self.reason: str | None = None
        self.resume: Presence | None = None
        self.state = Presence.OFFLINE  # the presence last announced
        self.shown_reason: str | None = None
        self.state_since = now
        self.idle_since = now
        self.wrap_up_until: float | None = None
        self.wrap_token = 0
        self.away_until: float | None = None
        self.away_token = 0
        self.missed = 0
        self.load: dict[str, int] = {}  # per channel: accepted items + pending offers
        self.total_load = 0
        self.exclusive_load = 0
        self.occupancy = 0.0
        # dicts, not sets: insertion order keeps re-queuing deterministic whatever the hash seed
        self.items: dict[str, ItemState] = {}  # accepted / assigned
        self.offers: dict[str, ItemState] = {}  # offered, waiting for the agent's answer
        self.queues: dict[str, int] = {}  # queue id -> first bullseye stage at which the agent qualifies
        self.match: dict[str, int] = {}  # queue id -> summed proficiency in its skills (best match)
        self.sticky = WaitingList()  # items waiting for this agent as the contact's last agent

    def fits(self, channel: str) -> bool:
        """Is there room for one more item of this channel, within capacity and the mixing rule?"""
        capacity = self.capacity
        used = self.load.get(channel, 0)
        if used >= capacity.limits.get(channel, 0):
            return False
        if capacity.mixing_allowed or self.total_load == used:
            return True  # nothing of another channel on hand
        if channel in capacity.exclusive:
            return False  # no call during chats
        return self.exclusive_load == 0  # no chat during a call

    def has_room(self) -> bool:
        return any(self.fits(channel) for channel in self.capacity.limits)

    def take_slot(self, channel: str) -> None:
        self._change_load(channel, 1)

    def free_slot(self, channel: str) -> None:
        self._change_load(channel, -1)

    def _change_load(self, channel: str, delta: int) -> None:
        self.load[channel] = self.load.get(channel, 0) + delta
        self.total_load += delta
        if channel in self.capacity.exclusive:
            self.exclusive_load += delta
        limits = self.capacity.limits
        self.occupancy = sum(used / limits[ch] if limits.get(ch) else float(used) for ch, used in self.load.items())

    def presence(self) -> Presence:
        if self.chosen is not Presence.AVAILABLE:
            return self.chosen
        if self.wrap_up_until is not None:
            return Presence.WRAP_UP
        if self.items:
            return Presence.BUSY
        return Presence.AVAILABLE

    def logged_in(self) -> bool:
        return self.chosen is not Presence.OFFLINE and self.chosen is not Presence.AWAY


class QueueState:
    __slots__ = ("config", "eligible", "items", "requirements", "rr_last", "waiting")

    def __init__(self, config: QueueConfig) -> None:
        self.config = config
        self.requirements: list[Requirement] = config.requirements()
        # eligible[s]: agents who can take an item at bullseye stage s (cumulative: a superset of s-1)
        self.eligible: list[set[str]] = [set() for _ in self.requirements]
        self.waiting: dict[tuple[str, int], WaitingList] = {}  # (channel, stage) -> waiting list
        self.items: dict[str, ItemState] = {}  # every item of the queue not yet answered
        self.rr_last = -1  # rank of the agent the queue offered to last (round robin)

    @property
    def id(self) -> str:
        return self.config.id

    def waiting_list(self, channel: str, stage: int) -> WaitingList:
        found = self.waiting.get((channel, stage))
        if found is None:
            found = self.waiting[(channel, stage)] = WaitingList()
        return found

    def first_stage_for(self, profile: AgentProfile) -> int | None:
        for stage, requirement in enumerate(self.requirements):
            if requirement.met_by(profile):
                return stage
        return None

    def stage_after(self, entered_at: float, now: float) -> int:
        """The bullseye stage of an item that entered at ``entered_at``.

        Written as ``entered_at + after <= now`` (not ``now - entered_at >= after``) so it agrees to
        the last bit with the timer due times computed the same way.
        """
        stage = 0
        for step in self.config.expansions:
            if entered_at + step.after_seconds <= now:
                stage += 1
            else:
                break
        return stage

    def match_score(self, profile: AgentProfile) -> int:
        return sum(profile.skills.get(skill, 0) for skill in self.config.skills)
