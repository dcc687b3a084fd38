"""Erlang C: the classic staffing model of an inbound queue (M/M/c, nobody abandons).

Traffic ``A`` (in Erlangs) is calls × average handle time ÷ interval length; with ``N`` agents:

* Erlang B by its recurrence ``B(0) = 1``, ``B(n) = A·B(n−1) / (n + A·B(n−1))`` — no factorials and
  no powers, so it neither overflows nor loses precision for thousands of agents;
* probability of waiting ``C = N·B / (N − A·(1 − B))`` (when ``N > A``; otherwise everyone waits);
* service level ``SL(T) = 1 − C·exp(−(N − A)·T / AHT)``;
* average speed of answer ``ASA = C·AHT / (N − A)``;
* occupancy ``A / N``.

Example: 100 calls in 30 minutes with AHT 180 s is 10 Erlangs; 14 agents give P(wait) ≈ 0.174,
SL(20 s) ≈ 88.8 % and ASA ≈ 7.8 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ErlangC:
    traffic: float  # Erlangs
    agents: int
    aht_seconds: float
    target_seconds: float
    probability_of_waiting: float
    service_level: float  # share answered within target_seconds (0..1)
    asa_seconds: float  # average speed of answer over all calls (math.inf when understaffed)
    occupancy: float  # 0..1


def traffic_erlangs(calls: float, interval_seconds: float, aht_seconds: float) -> float:
    """Offered traffic: the number of agents that would be busy all the time."""
    _require(calls >= 0, "calls must be at least 0")
    _require(interval_seconds > 0, "interval_seconds must be more than 0")
    _require(aht_seconds > 0, "aht_seconds must be more than 0")
    return calls * aht_seconds / interval_seconds


def erlang_b(traffic: float, agents: int) -> float:
    """Probability that a call finds every agent busy in a loss system (blocking)."""
    _check(traffic, agents)
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = traffic * blocking / (n + traffic * blocking)
    return blocking


def probability_of_waiting(traffic: float, agents: int) -> float:
    """Erlang C: the share of calls that have to wait for an agent."""
    _check(traffic, agents)
    if agents <= traffic:
        return 1.0  # the queue grows without end: everyone waits
    blocking = erlang_b(traffic, agents)
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def service_level(traffic: float, agents: int, aht_seconds: float, target_seconds: float) -> float:
    """Share of calls answered within ``target_seconds`` (0..1)."""
    _require(aht_seconds > 0, "aht_seconds must be more than 0")
    _require(target_seconds >= 0, "target_seconds must be at least 0")
    if agents <= traffic:
        return 0.0
    waiting = probability_of_waiting(traffic, agents)
    return 1.0 - waiting * math.exp(-(agents - traffic) * target_seconds / aht_seconds)


def average_speed_of_answer(traffic: float, agents: int, aht_seconds: float) -> float:
    _require(aht_seconds > 0, "aht_seconds must be more than 0")
    if agents <= traffic:
        return math.inf
    return probability_of_waiting(traffic, agents) * aht_seconds / (agents - traffic)


def occupancy(traffic: float, agents: int) -> float:
    _check(traffic, agents)
    _require(agents > 0, "agents must be more than 0")
    return min(1.0, traffic / agents)


def erlang_c(traffic: float, agents: int, aht_seconds: float, target_seconds: float) -> ErlangC:
    """All the figures for one staffing level."""
    return ErlangC(
        traffic=traffic,
        agents=agents,
        aht_seconds=aht_seconds,
        target_seconds=target_seconds,
        probability_of_waiting=probability_of_waiting(traffic, agents),
        service_level=service_level(traffic, agents, aht_seconds, target_seconds),
        asa_seconds=average_speed_of_answer(traffic, agents, aht_seconds),
        occupancy=occupancy(traffic, agents) if agents else 1.0,
    )


def agents_needed(
    traffic: float,
    aht_seconds: float,
    *,
    target_service_level: float,
    target_seconds: float,
    max_occupancy: float = 1.0,
) -> int:
    """The fewest agents that reach the service level target (e.g. 0.8 within 20 s).

    ``max_occupancy`` (e.g. 0.85) adds the usual cap on how busy agents may be.
    """
    _require(0 < target_service_level < 1, "target_service_level must be between 0 and 1 (exclusive)")
    _require(0 < max_occupancy <= 1, "max_occupancy must be more than 0 and at most 1")
    _check(traffic, 0)
    fewest = max(1, math.floor(traffic) + 1, math.ceil(traffic / max_occupancy))
    # SL rises with every agent added and reaches 1, so the walk ends; cap it against bad input.
    for agents in range(fewest, fewest + 100_000):
        if service_level(traffic, agents, aht_seconds, target_seconds) >= target_service_level:
            return agents
    raise ValueError("no staffing reaches that target")  # pragma: no cover - unreachable for finite input


def _check(traffic: float, agents: int) -> None:
    _require(math.isfinite(traffic) and traffic >= 0, "traffic must be a finite number of Erlangs, at least 0")
    _require(isinstance(agents, int) and agents >= 0, "agents must be a whole number, at least 0")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
