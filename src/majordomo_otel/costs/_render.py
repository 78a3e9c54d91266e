"""Printing `majordomo costs`' results as a table, `--json` or `--csv`, identically for both stores.

The table shows missing tags as "(none)" and ends with a total line; JSON gives costs as exact decimal
strings (never floats, which would lose digits) and missing tags as null; CSV leaves missing values empty.
Costs print as plain decimals with no exponent and no trailing zeros.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .._money import format_cost
from ._options import parse_groupings
from ._types import CostRow, TraceCosts, TraceRecord

NONE_LABEL = "(none)"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _totals_objects(rows: Iterable[CostRow]) -> list[dict[str, Any]]:
    return [
        {
            **row.group,
            "requests": row.requests,
            "input_tokens": row.input_tokens,
            "output_tokens": row.output_tokens,
            "total_cost": format_cost(row.total_cost),
            "unpriced_requests": row.unpriced_requests,
        }
        for row in rows
    ]


_RECORD_FIELDS = (
    "time",
    "provider",
    "model",
    "feature",
    "step",
    "input_tokens",
    "output_tokens",
    "total_cost",
    "pricing_status",
    "status_code",
    "span_id",
    "parent_span_id",
    "request_id",
)


def _record_object(record: TraceRecord) -> dict[str, Any]:
    return {
        "time": _iso(record.requested_at),
        "provider": record.provider,
        "model": record.model,
        "feature": record.feature,
        "step": record.step,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "total_cost": format_cost(record.total_cost),
        "pricing_status": record.pricing_status,
        "status_code": record.status_code,
        "span_id": record.span_id,
        "parent_span_id": record.parent_span_id,
        "request_id": record.id,
    }


def _trace_object(trace: TraceCosts) -> dict[str, Any]:
    return {
        "trace_id": trace.trace_id,
        "requests": trace.requests,
        "input_tokens": trace.input_tokens,
        "output_tokens": trace.output_tokens,
        "total_cost": format_cost(trace.total_cost),
        "unpriced_requests": trace.unpriced_requests,
        "records": [_record_object(r) for r in trace.records],
    }


def _csv(objects: list[dict[str, Any]], header: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(header), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for obj in objects:
        writer.writerow({k: "" if v is None else v for k, v in obj.items()})
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return NONE_LABEL
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int], footer: Sequence[str]) -> str:
    """Left-aligned text, right-aligned numbers, a rule under the header and above the total line."""
    widths = [max(len(r[i]) for r in [header, *rows, footer]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows), rule, line(footer)]) + "\n"


_UNPRICED = "n/a"


def render_totals(rows: Sequence[CostRow], by: Sequence[str], fmt: str) -> str:
    """`rows` as `table` (with a total line), `json` (a list of objects) or `csv`."""
    by = parse_groupings(by)
    measures = ["requests", "input_tokens", "output_tokens", "total_cost", "unpriced_requests"]
    if fmt == "json":
        return json.dumps(_totals_objects(rows), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(_totals_objects(rows), [*by, *measures])
    header = [*by, "requests", "input tokens", "output tokens", "cost (USD)", "unpriced"]
    body = [
        [
            *(_cell(row.group[n]) for n in by),
            _cell(row.requests),
            _cell(row.input_tokens),
            _cell(row.output_tokens),
            format_cost(row.total_cost) or _UNPRICED,
            _cell(row.unpriced_requests),
        ]
        for row in rows
    ]
    priced = [r.total_cost for r in rows if r.total_cost is not None]
    footer = [
        *(["total"] + [""] * (len(by) - 1) if by else []),
        _cell(sum(r.requests for r in rows)),
        _cell(sum(r.input_tokens for r in rows)),
        _cell(sum(r.output_tokens for r in rows)),
        (format_cost(sum(priced, Decimal(0))) if priced else None) or _UNPRICED,
        _cell(sum(r.unpriced_requests for r in rows)),
    ]
    return _table(header, body, set(range(len(by), len(header))), footer)


def render_trace(trace: TraceCosts, fmt: str) -> str:
    """One trace's records as `table` (with a total line), `json` (an object with `records`) or `csv`."""
    if fmt == "json":
        return json.dumps(_trace_object(trace), indent=2, ensure_ascii=False) + "\n"
    objects = [_record_object(r) for r in trace.records]
    if fmt == "csv":
        return _csv(objects, _RECORD_FIELDS)
    header = ["time (UTC)", "provider", "model", "step", "input", "output", "cost (USD)", "span_id", "http"]
    header.append("pricing")
    body = [
        [
            r.requested_at.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3],
            r.provider,
            _cell(r.model),
            _cell(r.step),
            _cell(r.input_tokens),
            _cell(r.output_tokens),
            format_cost(r.total_cost) or _UNPRICED,
            r.span_id or "",
            "" if r.status_code is None else str(r.status_code),
            r.pricing_status,
        ]
        for r in trace.records
    ]
    footer = [
        "total",
        f"{trace.requests} requests",
        "",
        "",
        _cell(trace.input_tokens),
        _cell(trace.output_tokens),
        format_cost(trace.total_cost) or _UNPRICED,
        "",
        "",
        f"{trace.unpriced_requests} unpriced",
    ]
    span = "no records"
    if trace.records:
        first, last = (r.requested_at.astimezone(UTC) for r in (trace.records[0], trace.records[-1]))
        span = f"{first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC"
    return f"trace {trace.trace_id}, {span}\n" + _table(header, body, {4, 5, 6}, footer)
