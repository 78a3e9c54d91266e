"""Record ⇄ JSON line (spool) and the timestamp/decimal conversions the sinks share."""

from __future__ import annotations

import json
import operator
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from majordomo_otel.gateway.record import COLUMNS, RequestRecord

_DATETIME_FIELDS = frozenset({"requested_at", "responded_at"})
_DECIMAL_FIELDS = frozenset({"input_cost", "output_cost", "total_cost"})
_KNOWN = frozenset(f.name for f in fields(RequestRecord))


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (the gateway only makes aware ones)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_text(value: datetime) -> str:
    """Fixed-width UTC text that sorts as time and that SQLite's date functions read.

    `2026-12-07T13:02:58.377259Z`, as `isoformat(timespec="microseconds") + "Z"` writes it. orjson writes
    the same text in a fifth of the instructions (each SQLite row has two); it omits a zero fraction, so
    that one case in a million goes through `isoformat`.
    """
    utc = value if value.tzinfo is UTC else as_utc(value)
    if utc.microsecond:
        return orjson.dumps(utc, option=orjson.OPT_UTC_Z)[1:-1].decode()
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def json_text(value: Any) -> str:
    """Compact JSON text, as `json.dumps(value, ensure_ascii=False, separators=(",", ":"))` writes it.

    Per record (`raw_metadata`), hence orjson: a tenth of the stdlib's instructions. What orjson refuses
    (a lone surrogate, a key that is not text) is written by the stdlib, as before.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_utc(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))


_values = operator.attrgetter(*COLUMNS)
_DATETIME_AT = tuple(i for i, name in enumerate(COLUMNS) if name in _DATETIME_FIELDS)
_DECIMAL_AT = tuple(i for i, name in enumerate(COLUMNS) if name in _DECIMAL_FIELDS)
_ORJSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_APPEND_NEWLINE


def _decimal_text(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)  # as text, so no precision is lost on disk
    raise TypeError(f"{type(value).__name__} is not a record value")


def record_to_line(record: RequestRecord) -> bytes:
    """One spool or journal line, newline included: the record's fields as a JSON object.

    On every request's path (the journal), hence orjson, which encodes the dataclass itself in ~3 µs
    (the stdlib encoder took ~15-19 µs). Text orjson refuses (a lone surrogate: not valid UTF-8) is
    written ASCII-escaped by the stdlib instead, so the line still holds the record exactly.
    """
    try:
        return orjson.dumps(record, default=_decimal_text, option=_ORJSON_OPTIONS)
    except TypeError:
        return (json.dumps(record_to_dict(record), separators=(",", ":")) + "\n").encode()


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
    """Inverse of `record_to_line`; unknown keys (a newer writer's spool) are ignored."""
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
