"""What admins configure: skills, queues, agents' profiles, and the engine's settings.

Plain frozen dataclasses with their own validation. Checks that need the rest of the configuration
(does the skill exist, does the overflow chain loop) take it as arguments; the engine calls them
before it changes anything, so a refused configuration leaves the engine as it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from helpline.routing.errors import RoutingConfigError

MIN_PROFICIENCY = 1
MAX_PROFICIENCY = 5
EXCLUSIVE_BY_DEFAULT = frozenset({"voice"})


class Presence(StrEnum):
    """The state shown in the workspace header and on the wallboard."""

    OFFLINE = "offline"
    AVAILABLE = "available"
    BUSY = "busy"  # working items (derived: an available agent with accepted items)
    WRAP_UP = "wrap_up"  # after-contact work (derived: timed by the item's queue)
    NOT_READY = "not_ready"  # break / not ready, always with a reason code
    AWAY = "away"  # disconnected; items are kept for the grace period


# The states an agent (or a supervisor for them) can choose; busy and wrap-up follow from work.
CHOSEN_STATES = frozenset({Presence.OFFLINE, Presence.AVAILABLE, Presence.NOT_READY, Presence.AWAY})


class Strategy(StrEnum):
    """How a queue picks among the agents who can take an item."""

    LONGEST_IDLE = "longest_idle"
    LEAST_OCCUPIED = "least_occupied"
    ROUND_ROBIN = "round_robin"
    SKILLS_BEST_MATCH = "skills_best_match"


@dataclass(frozen=True)
class Capacity:
    """How many items of each channel an agent works at once, and whether channels mix.

    An *exclusive* channel (voice by default) is worked alone: no chat is offered during a call and
    no call during chats, unless ``mixing_allowed``.
    """

    limits: Mapping[str, int] = field(default_factory=lambda: {"voice": 1, "chat": 3, "email": 8})
    exclusive: frozenset[str] = EXCLUSIVE_BY_DEFAULT
    mixing_allowed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "limits", dict(self.limits))
        object.__setattr__(self, "exclusive", frozenset(self.exclusive))

    def validate(self, prefix: str = "capacity") -> None:
        for channel, limit in self.limits.items():
            _require_name(channel, f"{prefix}.limits")
            if not isinstance(limit, int) or isinstance(limit, bool):
                raise RoutingConfigError(f"{prefix}.limits.{channel}", "must be a whole number")
            if limit < 0:
                raise RoutingConfigError(f"{prefix}.limits.{channel}", f"must be 0 or more, not {limit}")


@dataclass(frozen=True)
class AgentProfile:
    """Who the agent is for routing: skills (proficiency 1–5), languages and capacity."""

    id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    languages: frozenset[str] = frozenset()
    capacity: Capacity = field(default_factory=Capacity)

    def __post_init__(self) -> None:
        object.__setattr__(self, "skills", dict(self.skills))
        object.__setattr__(self, "languages", frozenset(self.languages))

    def validate(self, known_skills: Iterable[str]) -> None:
        _require_name(self.id, "id")
        known = set(known_skills)
        for skill, level in self.skills.items():
            if skill not in known:
                raise RoutingConfigError(f"skills.{skill}", f"skill {skill!r} does not exist")
            _require_level(level, f"skills.{skill}")
        for language in self.languages:
            _require_name(language, "languages")
        self.capacity.validate()


@dataclass(frozen=True)
class Expansion:
    """One ring of the bullseye: after ``after_seconds`` in the queue, the criteria loosen.

    Steps are cumulative: the second step applies on top of the first.
    """

    after_seconds: float
    lower_levels_by: int = 0
    drop_languages: bool = False
    drop_skills: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "drop_skills", frozenset(self.drop_skills))


@dataclass(frozen=True)
class Requirement:
    """What an agent needs to take an item at one stage of the bullseye."""

    skills: Mapping[str, int]
    languages: frozenset[str]

    def met_by(self, profile: AgentProfile) -> bool:
        if not self.languages <= profile.languages:
            return False
        have = profile.skills
        return all(have.get(skill, 0) >= level for skill, level in self.skills.items())


@dataclass(frozen=True)
class QueueConfig:
    """A queue as an admin defines it. Times are seconds."""

    id: str
    skills: Mapping[str, int] = field(default_factory=dict)  # skill -> minimum proficiency
    languages: frozenset[str] = frozenset()  # the agent must speak all of them
    strategy: Strategy = Strategy.LONGEST_IDLE
    # Aging: one priority level is worth this many seconds of waiting, so an item's effective
    # score is its wait + priority * seconds_per_priority_level.
    seconds_per_priority_level: float = 60.0
    expansions: tuple[Expansion, ...] = ()
    sticky_seconds: float = 0.0  # the contact's last agent gets the first chance for this long
    overflow_queue_id: str | None = None
    overflow_after_seconds: float | None = None
    overflow_when_full: bool = False
    max_size: int | None = None
    wrap_up_seconds: float = 0.0
    offer_timeout_seconds: float = 20.0
    push: bool = True  # False: a pull-only queue, agents take items with "get next item"

    def __post_init__(self) -> None:
        object.__setattr__(self, "skills", dict(self.skills))
        object.__setattr__(self, "languages", frozenset(self.languages))
        object.__setattr__(self, "expansions", tuple(self.expansions))
        object.__setattr__(self, "strategy", Strategy(self.strategy))

    def requirements(self) -> list[Requirement]:
        """The criteria at each stage: stage 0 as configured, then one per expansion step."""
        skills = dict(self.skills)
        languages = self.languages
        stages = [Requirement(dict(skills), languages)]
        for step in self.expansions:
            skills = {
                skill: max(MIN_PROFICIENCY, level - step.lower_levels_by)
                for skill, level in skills.items()
                if skill not in step.drop_skills
            }
            if step.drop_languages:
                languages = frozenset()
            stages.append(Requirement(dict(skills), languages))
        return stages

    def validate(self, known_skills: Iterable[str], queue_exists: Callable[[str], bool]) -> None:
        """Refuse what cannot work. ``queue_exists`` answers for the other queues."""
        _require_name(self.id, "id")
        known = set(known_skills)
        for skill, level in self.skills.items():
            if skill not in known:
                raise RoutingConfigError(f"skills.{skill}", f"skill {skill!r} does not exist")
            _require_level(level, f"skills.{skill}")
        for language in self.languages:
            _require_name(language, "languages")
        _require_seconds(self.seconds_per_priority_level, "seconds_per_priority_level")
        _require_seconds(self.sticky_seconds, "sticky_seconds")
        _require_seconds(self.wrap_up_seconds, "wrap_up_seconds")
        _require_seconds(self.offer_timeout_seconds, "offer_timeout_seconds", positive=True)
        if self.max_size is not None and (not isinstance(self.max_size, int) or self.max_size < 1):
            raise RoutingConfigError("max_size", f"must be a whole number of 1 or more, not {self.max_size!r}")
        self._validate_expansions()
        self._validate_overflow(queue_exists)

    def _validate_expansions(self) -> None:
        previous = 0.0
        for n, step in enumerate(self.expansions):
            where = f"expansions[{n}]"
            _require_seconds(step.after_seconds, f"{where}.after_seconds", positive=True)
            if step.after_seconds <= previous:
                raise RoutingConfigError(f"{where}.after_seconds", "steps must come later than the one before")
            previous = step.after_seconds
            if step.lower_levels_by < 0:
                raise RoutingConfigError(f"{where}.lower_levels_by", "must be 0 or more")
            unknown = step.drop_skills - set(self.skills)
            if unknown:
                raise RoutingConfigError(f"{where}.drop_skills", f"the queue does not require {sorted(unknown)}")

    def _validate_overflow(self, queue_exists: Callable[[str], bool]) -> None:
        target = self.overflow_queue_id
        if self.overflow_after_seconds is not None:
            _require_seconds(self.overflow_after_seconds, "overflow_after_seconds", positive=True)
        if target is None:
            if self.overflow_after_seconds is not None or self.overflow_when_full:
                raise RoutingConfigError("overflow_queue_id", "an overflow rule needs a queue to overflow to")
            return
        if target == self.id:
            raise RoutingConfigError("overflow_queue_id", "a queue cannot overflow to itself")
        if not queue_exists(target):
            raise RoutingConfigError("overflow_queue_id", f"queue {target!r} does not exist")


@dataclass(frozen=True)
class EngineSettings:
    max_missed_offers: int = 3  # K missed offers in a row pause the agent ("missed offers")
    away_grace_seconds: float = 60.0  # how long a disconnected agent keeps their items
    declines_count_as_missed: bool = False  # a decline is a decision; by default only timeouts count

    def validate(self) -> None:
        if self.max_missed_offers < 1:
            raise RoutingConfigError("max_missed_offers", "must be 1 or more")
        _require_seconds(self.away_grace_seconds, "away_grace_seconds")


MISSED_OFFERS_REASON = "missed offers"


def check_overflow_chain(queue_id: str, overflow_of: Callable[[str], str | None]) -> None:
    """Refuse a chain of overflows that comes back to a queue it already passed."""
    seen = [queue_id]
    current = overflow_of(queue_id)
    while current is not None:
        if current in seen:
            path = " → ".join([*seen, current])
            raise RoutingConfigError("overflow_queue_id", f"overflow loops back: {path}")
        seen.append(current)
        current = overflow_of(current)


def _require_name(value: object, where: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise RoutingConfigError(where, f"must be a non-empty name, not {value!r}")


def _require_level(level: object, where: str) -> None:
    if not isinstance(level, int) or isinstance(level, bool) or not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY:
        raise RoutingConfigError(where, f"proficiency must be {MIN_PROFICIENCY}–{MAX_PROFICIENCY}, not {level!r}")


def _require_seconds(value: object, where: str, *, positive: bool = False) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise RoutingConfigError(where, f"must be a number of seconds, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise RoutingConfigError(where, f"must be {'more than' if positive else 'at least'} 0, not {value}")
