"""A chat channel's business hours: when the chat is open, and when that changes next.

The hours are wall-clock times in the channel's IANA time zone (``Europe/Berlin``): per weekday any
number of opening intervals (``08:00-12:00, 13:00-17:00``), plus holidays (dates closed all day).
A channel without any interval is open around the clock, except on its holidays.

Intervals never cross midnight: an evening shift that runs on is written on two lines
(``fri 20:00-24:00`` and ``sat 00:00-02:00``) and behaves as one stretch. Times are the ones on the
office wall, so DST needs no care from the admin: on the day the clocks go forward an interval
starting inside the skipped hour opens at the first minute that exists after it; on the day they
go back, a wall time that happens twice counts twice (it is what the clock on the wall shows).

Everything here is pure (no database, no wall clock): callers pass the time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from helpline.errors import Invalid
from helpline.validation import CONTROL
from helpline.validation import text_value as _string

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
MAX_INTERVALS = 8  # per day
MAX_HOLIDAYS = 366
DAY = 24 * 60  # minutes
INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})$")
ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
HORIZON_DAYS = MAX_HOLIDAYS + 8  # enough to pass any run of holidays and a full week


# --- checking what admins enter (the API and the page get the same errors) -----------------------


def check_time_zone(value: object) -> str:
    name = _string(value, "time_zone").strip()
    if not name:
        raise Invalid("enter a time zone, like Europe/Berlin", field="time_zone")
    if len(name) > 64 or not ZONE_NAME.match(name):
        raise Invalid("unknown time zone %(time_zone)r", field="time_zone", time_zone=name[:64])
    zone(name, field="time_zone")
    return name


def zone(name: str, field: str = "time_zone") -> ZoneInfo:
    try:
        return ZoneInfo(name)  # cached by zoneinfo itself
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise Invalid("unknown time zone %(time_zone)r", field=field, time_zone=name[:64]) from None


def _minutes(hours: str, minutes: str, *, end: bool) -> int | None:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and (m or not end)):
        return None
    return h * 60 + m


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_day(value: object, field: str) -> list[tuple[int, int]]:
    """``"08:00-12:00, 13:00-17:00"`` (or a list of such) → sorted (start, end) minutes, checked."""
    if isinstance(value, str):
        parts = re.split(r"[,;\n]", value)
    elif isinstance(value, list):
        parts = []
        for item in value:
            parts.extend(re.split(r"[,;\n]", _string(item, field)))
    elif value is None:
        parts = []
    else:
        raise Invalid("must be opening times like 08:00-12:00, 13:00-17:00", field=field)
    intervals: list[tuple[int, int]] = []
    for raw in (p.strip() for p in parts):
        if not raw or raw.lower() in ("closed", "-"):
            continue
        found = INTERVAL.match(raw)
        start = _minutes(found[1], found[2], end=False) if found else None
        end = _minutes(found[3], found[4], end=True) if found else None
        if start is None or end is None:
            raise Invalid("%(interval)r is not an opening time like 08:00-12:00", field=field,
                          interval=CONTROL.sub("", raw)[:40])
        if end <= start:
            raise Invalid("%(interval)s: the end must be after the start (hours after midnight go on the next "
                          "day, from 00:00)", field=field, interval=f"{_clock(start)}-{_clock(end)}")
        intervals.append((start, end))
    if len(intervals) > MAX_INTERVALS:
        raise Invalid("at most %(limit)s opening times a day", field=field, limit=MAX_INTERVALS)
    intervals.sort()
    for (s1, e1), (s2, e2) in pairwise(intervals):
        if s2 < e1:
            raise Invalid("%(first)s and %(second)s overlap", field=field,
                          first=f"{_clock(s1)}-{_clock(e1)}", second=f"{_clock(s2)}-{_clock(e2)}")
    return intervals


def check_opening_hours(value: object) -> dict[str, list[str]]:
    """``{"mon": ["08:00-12:00", "13:00-17:00"], ...}`` as stored: only days with opening times."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Invalid('must list opening times per weekday, like {"mon": ["08:00-12:00"]}', field="opening_hours")
    unknown = [key for key in value if key not in WEEKDAYS]
    if unknown:
        raise Invalid("unknown weekday; use mon, tue, wed, thu, fri, sat and sun", field="opening_hours")
    week: dict[str, list[str]] = {}
    for day in WEEKDAYS:
        intervals = parse_day(value.get(day), f"opening_hours.{day}")
        if intervals:
            week[day] = [f"{_clock(s)}-{_clock(e)}" for s, e in intervals]
    return week


def check_holidays(value: object) -> list[str]:
    """Dates closed all day, ``YYYY-MM-DD`` (a list, or one per line from the form): sorted, once each."""
    if isinstance(value, str):
        value = [line.strip() for line in re.split(r"[,\n]", value) if line.strip()]
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid("must be a list of dates like 2026-12-24", field="holidays")
    if len(value) > MAX_HOLIDAYS:
        raise Invalid("at most %(limit)s holidays", field="holidays", limit=MAX_HOLIDAYS)
    days: set[date] = set()
    for item in value:
        text = _string(item, "holidays").strip()
        try:
            if not DATE.match(text):
                raise ValueError(text)
            days.add(date.fromisoformat(text))
        except ValueError:
            raise Invalid("%(date)r is not a date like 2026-12-24", field="holidays",
                          date=CONTROL.sub("", text)[:20]) from None
    return [d.isoformat() for d in sorted(days)]


# --- computing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessHours:
    zone: ZoneInfo
    weekly: tuple[tuple[tuple[int, int], ...], ...]  # per weekday (Monday first): [start, end) in minutes
    holidays: frozenset[date]

    @classmethod
    def of(cls, time_zone: str, opening_hours: Mapping[str, Any] | None, holidays: list[str] | None
           ) -> BusinessHours:
        """From stored (already checked) values."""
        week = opening_hours or {}
        return cls(
            zone=zone(time_zone or "UTC"),
            weekly=tuple(tuple(parse_day(week.get(day), day)) for day in WEEKDAYS),
            holidays=frozenset(date.fromisoformat(d) for d in holidays or ()),
        )

    @property
    def around_the_clock(self) -> bool:
        return not any(self.weekly)

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        if self.around_the_clock:
            return True
        second = local.hour * 3600 + local.minute * 60 + local.second
        return any(start * 60 <= second < end * 60 for start, end in self.weekly[local.weekday()])

    def next_change(self, at: datetime) -> datetime | None:
        """The first instant after ``at`` when the chat opens (if closed at ``at``) or closes; None if never."""
        state = self.is_open(at)
        first = at.astimezone(self.zone).date()
        if self.around_the_clock:  # only the holidays change anything: no need to walk the days
            return self._holiday_change(first)
        for offset in range(HORIZON_DAYS):
            day = first + timedelta(days=offset)
            for instant in self._boundaries(day):
                if instant > at and self.is_open(instant) != state:
                    return instant
        return None

    def _holiday_change(self, today: date) -> datetime | None:
        if today not in self.holidays:
            later = [day for day in self.holidays if day > today]
            return instants(min(later), 0, self.zone)[0] if later else None
        day = today + timedelta(days=1)
        while day in self.holidays:
            day += timedelta(days=1)
        return instants(day, 0, self.zone)[0]

    def _boundaries(self, day: date) -> list[datetime]:
        """Every instant of ``day`` at which the state may change: midnight, each start and end, and a
        DST switch (going back an hour can take the clock back into an interval)."""
        walls = {0}
        for start, end in self.weekly[day.weekday()]:
            walls.add(start)
            if end < DAY:
                walls.add(end)
        found = {instant for wall in walls for instant in instants(day, wall, self.zone)}
        found.update(dst_switches(day, self.zone))
        return sorted(found)


def instants(day: date, minute: int, tz: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the wall clock in ``tz`` shows ``day`` at ``minute``.

    Two when the clocks go back (the hour happens twice); when they go forward past it, the first
    instant the clock shows a later time.
    """
    naive = datetime.combine(day, time(minute // 60, minute % 60))
    found = set()
    for fold in (0, 1):
        instant = naive.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == naive:
            found.add(instant)
    if found:
        return sorted(found)
    # Skipped by a DST jump: search the second the clock jumps past it (between the two readings).
    low, high = sorted(int(naive.replace(tzinfo=tz, fold=f).timestamp()) for f in (0, 1))
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return [datetime.fromtimestamp(high, UTC)]


def dst_switches(day: date, tz: ZoneInfo) -> list[datetime]:
    """The instant the UTC offset changes during ``day`` (none on almost every day)."""
    begin, end = instants(day, 0, tz)[0], instants(day + timedelta(days=1), 0, tz)[0]
    after = end.astimezone(tz).utcoffset()
    if begin.astimezone(tz).utcoffset() == after:
        return []
    low, high = int(begin.timestamp()), int(end.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == after:
            high = middle
        else:
            low = middle
    return [datetime.fromtimestamp(high, UTC)]


def hours_of(channel: Any) -> BusinessHours:
    """The business hours of a ``ChatChannel``."""
    return BusinessHours.of(channel.time_zone, channel.opening_hours, channel.holidays)
