"""Clocks for the routing core.

The core never reads the wall clock itself: it asks the ``Clock`` it was given. The server passes
``SystemClock``; tests and the simulator pass a ``ManualClock`` and move time by hand, so that
"after 30 seconds" means exactly 30 seconds and a simulated day takes a fraction of a second.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since an epoch (UTC for ``SystemClock``); only differences matter to routing."""
        ...


class SystemClock:
    """Wall-clock time (``time.time()``), what the running server uses."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to: for tests and the discrete-event simulator."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds
        return self._now

    def set(self, at: float) -> None:
        if at < self._now:
            raise ValueError(f"a clock cannot go backwards (from {self._now} to {at})")
        self._now = float(at)
