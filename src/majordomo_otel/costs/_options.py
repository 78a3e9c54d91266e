"""Parsing `majordomo costs`' options: `--by` groupings and the `--since`/`--until` window.

Kept apart from the SQL so that a bad option fails with a message naming the flag before any store is
opened, and so the library functions (`cost_totals`, `render_totals`) validate groupings the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

#: grouping name → SQL expression over `llm_requests`
GROUPINGS: dict[str, str] = {
    "feature": "raw_metadata->>'Feature'",
    "step": "raw_metadata->>'Step'",
    "user": "raw_metadata->>'User-Id'",
    "session": "raw_metadata->>'Session-Id'",
    "model": "model",
    "provider": "provider",
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_groupings(text: str | Sequence[str]) -> tuple[str, ...]:
    """`"feature,step"` → `("feature", "step")`, validated, duplicates dropped, order kept."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [item.strip().lower() for item in items if item.strip()]
    unknown = [n for n in names if n not in GROUPINGS]
    if unknown:
        raise ValueError(f"--by: unknown grouping {', '.join(unknown)} (choose from {', '.join(GROUPINGS)})")
    return tuple(dict.fromkeys(names))


def parse_when(text: str | None, *, now: datetime, flag: str = "--since") -> datetime | None:
    """An ISO time (naive means UTC) or a duration before `now` (`30m`, `24h`, `7d`, `2w`)."""
    if text is None or not text.strip():
        return None
    if match := _DURATION.match(text):
        return now - timedelta(**{_UNITS[match.group(2).lower()]: float(match.group(1))})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{flag}: expected an ISO time or a duration like 30m, 24h, 7d; got {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
