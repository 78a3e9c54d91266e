"""Record ⇄ JSON line (spool) and the timestamp/decimal conversions the sinks share."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from majordomo_otel.gateway.record import COLUMNS, RequestRecord

_DATETIME_FIELDS = frozenset({"requested_at", "responded_at"})
_DECIMAL_FIELDS = frozenset({"input_cost", "output_cost", "total_cost"})
_KNOWN = frozenset(f.name for f in fields(RequestRecord))


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (the gateway only makes aware ones)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_text(value: datetime) -> str:
    """Fixed-width UTC text that sorts as time and that SQLite's date functions read."""
    utc = value if value.tzinfo is UTC else as_utc(value)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"  # 3x faster than strftime


def parse_utc(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))


def record_to_json(record: RequestRecord) -> str:
    """One spool line (no newline). Decimals as strings so no precision is lost on disk."""
    row: dict[str, Any] = {}
    for name in COLUMNS:
        value = getattr(record, name)
        if value is not None:
            if name in _DATETIME_FIELDS:
                value = as_utc(value).isoformat()
            elif name in _DECIMAL_FIELDS:
                value = str(value)
        row[name] = value
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def record_from_json(line: str | bytes) -> RequestRecord:
    """Inverse of `record_to_json`; unknown keys (a newer writer's spool) are ignored."""
    row = json.loads(line)
    kwargs: dict[str, Any] = {}
    for name, value in row.items():
        if name not in _KNOWN:
            continue
        if value is not None:
            if name in _DATETIME_FIELDS:
                value = parse_utc(value)
            elif name in _DECIMAL_FIELDS:
                value = Decimal(value)
        kwargs[name] = value
    return RequestRecord(**kwargs)
