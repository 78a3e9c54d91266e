"""Calendar windows: the day, ISO week (Monday first) or month that contains an instant, in a time zone.

A window starts at local midnight, so a budget in Europe/Paris resets at midnight in Paris, DST included
(a day may then be 23 or 25 hours long). A window is named by its local start date (`2026-12-07`), which
is what `majordomo_budget_spend.period_start` holds: the same text on both stores and for every replica.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo


class Window(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Period:
    """One window: `key` its local start date, `start` and `end` epoch seconds (`end` excluded)."""

    key: str
    start: float
    end: float

    def seconds_left(self, now: float) -> int:
        """Whole seconds until the window resets, at least 1: a `Retry-After`."""
        return max(1, math.ceil(self.end - now))

    def resets_at(self) -> datetime:
        return datetime.fromtimestamp(self.end, UTC)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _start_date(window: Window, day: date) -> date:
    if window is Window.DAY:
        return day
    if window is Window.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_start(window: Window, start: date) -> date:
    if window is Window.DAY:
        return start + timedelta(days=1)
    if window is Window.WEEK:
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def period_at(window: Window, timezone: str, at: float) -> Period:
    """The window of `window` kind, in `timezone`, that contains the epoch instant `at`."""
    window = Window(window)
    zone = _zone(timezone)
    first = _start_date(window, datetime.fromtimestamp(at, zone).date())
    start = datetime.combine(first, time(), zone).timestamp()
    end = datetime.combine(_next_start(window, first), time(), zone).timestamp()
    return Period(first.isoformat(), start, end)
