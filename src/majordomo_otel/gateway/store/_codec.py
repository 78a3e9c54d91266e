"""Record ⇄ JSON line (spool) and the timestamp/decimal conversions the sinks share."""

from __future__ import annotations

import json
import operator
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


_values = operator.attrgetter(*COLUMNS)
_DATETIME_AT = tuple(i for i, name in enumerate(COLUMNS) if name in _DATETIME_FIELDS)
_DECIMAL_AT = tuple(i for i, name in enumerate(COLUMNS) if name in _DECIMAL_FIELDS)
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def record_to_json(record: RequestRecord) -> str:
    """One spool or journal line (no newline). Decimals as strings so no precision is lost on disk.

    On every request's path (the journal), hence `attrgetter` and index loops rather than a dict walk.
    """
    return _encode(record_to_dict(record))


def record_to_dict(record: RequestRecord) -> dict[str, Any]:
    """The record as JSON-ready values (what a spool line holds)."""
    values = list(_values(record))
    for i in _DATETIME_AT:
        if (value := values[i]) is not None:
            values[i] = (value if value.tzinfo is UTC else as_utc(value)).isoformat()
    for i in _DECIMAL_AT:
        if (value := values[i]) is not None:
            values[i] = str(value)
    return dict(zip(COLUMNS, values, strict=True))


def record_from_json(line: str | bytes) -> RequestRecord:
    """Inverse of `record_to_json`; unknown keys (a newer writer's spool) are ignored."""
    return record_from_dict(json.loads(line))


def record_from_dict(row: dict[str, Any]) -> RequestRecord:
    """Inverse of `record_to_dict`."""
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
