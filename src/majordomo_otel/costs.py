"""`majordomo costs`: cost totals from `llm_requests`, grouped by tags, model or provider, on either store.

The same query text runs on SQLite (≥ 3.38) and PostgreSQL: tags are read with `raw_metadata->>'Feature'`,
spelled exactly as the store's indexes are. Two dialect differences are handled here:

* placeholders (`?` vs `$1`) and timestamps (SQLite keeps fixed-width UTC ISO text, PostgreSQL TIMESTAMPTZ);
* costs: PostgreSQL keeps exact `NUMERIC(20,12)`, SQLite a `REAL`. Summing floats drifts in the last digits
  (0.1 + 0.2 ≠ 0.3), so on SQLite each cost is rounded to PostgreSQL's 12 decimals as an integer count of
  1e-12 USD and those integers are summed exactly. Both stores therefore give the same `Decimal` totals.
  (SQLite's 64-bit integer sum caps one group's total at about $9.2M.)

Unpriced requests (unknown model, no usage) have a NULL cost: they are counted apart, never summed as $0.

Output: a table (missing tags shown as "(none)", a total line), `--json` (costs as exact decimal strings,
missing tags as null) or `--csv` (missing values as empty cells).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from majordomo_otel.gateway.settings import Settings
    from majordomo_otel.gateway.store import Store

#: grouping name → SQL expression over `llm_requests`
GROUPINGS: dict[str, str] = {
    "feature": "raw_metadata->>'Feature'",
    "step": "raw_metadata->>'Step'",
    "user": "raw_metadata->>'User-Id'",
    "session": "raw_metadata->>'Session-Id'",
    "model": "model",
    "provider": "provider",
}

NONE_LABEL = "(none)"
_SCALE = 12  # PostgreSQL's NUMERIC(20,12)
_QUANTUM = Decimal(1).scaleb(-_SCALE)
_SQLITE_COST = f"CAST(ROUND(total_cost * 1{'0' * _SCALE}) AS INTEGER)"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, slots=True)
class CostRow:
    """Totals for one group. `total_cost` sums priced requests only; None when the group has none."""

    group: dict[str, str | None]
    requests: int
    input_tokens: int
    output_tokens: int
    total_cost: Decimal | None
    unpriced_requests: int


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One proxied request of a trace: enough to find its span and see what it cost."""

    id: str
    requested_at: datetime
    provider: str
    model: str | None
    feature: str | None
    step: str | None
    input_tokens: int | None
    output_tokens: int | None
    total_cost: Decimal | None
    pricing_status: str
    status_code: int | None
    span_id: str | None
    parent_span_id: str | None


@dataclass(frozen=True, slots=True)
class TraceCosts:
    """The records of one trace, oldest first, and their totals."""

    trace_id: str
    records: list[TraceRecord] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.records)

    @property
    def input_tokens(self) -> int:
        return sum(r.input_tokens or 0 for r in self.records)

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens or 0 for r in self.records)

    @property
    def total_cost(self) -> Decimal | None:
        priced = [r.total_cost for r in self.records if r.pricing_status == "priced" and r.total_cost is not None]
        return sum(priced, Decimal(0)).quantize(_QUANTUM) if priced else None

    @property
    def unpriced_requests(self) -> int:
        return sum(r.pricing_status != "priced" for r in self.records)


# -- parsing ---------------------------------------------------------------------------------------------


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


# -- queries ---------------------------------------------------------------------------------------------


class _Params:
    """Collects bind values and spells each placeholder in the store's dialect."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        if isinstance(value, datetime):
            from majordomo_otel.gateway.store._codec import as_utc, utc_text

            value = utc_text(value) if self.dialect == "sqlite" else as_utc(value)
        self.values.append(value)
        return "?" if self.dialect == "sqlite" else f"${len(self.values)}"


def _window(params: _Params, since: datetime | None, until: datetime | None) -> list[str]:
    where = []
    if since is not None:
        where.append(f"requested_at >= {params.add(since)}")
    if until is not None:
        where.append(f"requested_at < {params.add(until)}")
    return where


def _cost_expr(dialect: str) -> str:
    return _SQLITE_COST if dialect == "sqlite" else "total_cost"


def _cost_value(value: Any, dialect: str) -> Decimal | None:
    """A cost read back from either store, as an exact Decimal with PostgreSQL's 12 decimals."""
    if value is None:
        return None
    if dialect == "sqlite":
        return Decimal(int(value)).scaleb(-_SCALE).quantize(_QUANTUM)
    return Decimal(value).quantize(_QUANTUM, rounding=ROUND_HALF_UP)


def _time_value(value: Any) -> datetime:
    from majordomo_otel.gateway.store._codec import as_utc, parse_utc

    return parse_utc(value) if isinstance(value, str) else as_utc(value)


def _sort_key(row: CostRow) -> tuple[Any, ...]:
    groups = tuple((v is None, v or "") for v in row.group.values())
    return (-(row.total_cost or 0), -row.requests, groups)


async def cost_totals(
    store: Store, *, by: Sequence[str], since: datetime | None = None, until: datetime | None = None
) -> list[CostRow]:
    """Totals per group over `[since, until)`, most expensive first (then most requests, then by name)."""
    names = parse_groupings(by)
    params = _Params(store.dialect)
    cost = _cost_expr(store.dialect)
    columns = [f"{GROUPINGS[n]} AS g{i}" for i, n in enumerate(names)]
    columns += [
        "COUNT(*) AS requests",
        "COALESCE(SUM(input_tokens), 0) AS input_tokens",
        "COALESCE(SUM(output_tokens), 0) AS output_tokens",
        f"SUM(CASE WHEN pricing_status = 'priced' THEN {cost} END) AS total_cost",
        "SUM(CASE WHEN pricing_status = 'priced' THEN 0 ELSE 1 END) AS unpriced_requests",
    ]
    sql = f"SELECT {', '.join(columns)} FROM llm_requests"
    if where := _window(params, since, until):
        sql += " WHERE " + " AND ".join(where)
    if names:
        sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(names)))
    rows = await _query(store, sql, params.values)
    result = [
        CostRow(
            group={n: row[f"g{i}"] for i, n in enumerate(names)},
            requests=int(row["requests"]),
            input_tokens=int(row["input_tokens"]),
            output_tokens=int(row["output_tokens"]),
            total_cost=_cost_value(row["total_cost"], store.dialect),
            unpriced_requests=int(row["unpriced_requests"] or 0),
        )
        for row in rows
        if row["requests"]
    ]
    return sorted(result, key=_sort_key)


async def trace_costs(
    store: Store, trace_id: str, *, since: datetime | None = None, until: datetime | None = None
) -> TraceCosts:
    """Every record whose gateway span belongs to `trace_id` (hex, any case), oldest first."""
    trace_id = trace_id.strip().lower()
    params = _Params(store.dialect)
    where = [f"trace_id = {params.add(trace_id)}", *_window(params, since, until)]
    sql = (
        "SELECT id, requested_at, provider, model, raw_metadata->>'Feature' AS feature, "
        "raw_metadata->>'Step' AS step, input_tokens, output_tokens, "
        f"{_cost_expr(store.dialect)} AS total_cost, pricing_status, status_code, span_id, parent_span_id "
        f"FROM llm_requests WHERE {' AND '.join(where)} ORDER BY requested_at, id"
    )
    rows = await _query(store, sql, params.values)
    records = [
        TraceRecord(
            id=str(row["id"]),
            requested_at=_time_value(row["requested_at"]),
            provider=row["provider"],
            model=row["model"],
            feature=row["feature"],
            step=row["step"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            total_cost=_cost_value(row["total_cost"], store.dialect),
            pricing_status=row["pricing_status"],
            status_code=row["status_code"],
            span_id=row["span_id"],
            parent_span_id=row["parent_span_id"],
        )
        for row in rows
    ]
    return TraceCosts(trace_id, records)


async def _query(store: Store, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    try:
        return await store.query(sql, params)
    except Exception as exc:
        text = str(exc)
        if "llm_requests" in text and ("no such table" in text or "does not exist" in text):
            raise ValueError(
                f"no llm_requests table in {store.display_url}: start the gateway or run `majordomo migrate`"
            ) from exc
        raise


# -- rendering -------------------------------------------------------------------------------------------


def format_cost(value: Decimal | None) -> str | None:
    """Plain decimal text with no exponent and no trailing zeros: `0.0001851`, `12`, `0`."""
    if value is None:
        return None
    text = format(value.quantize(_QUANTUM, rounding=ROUND_HALF_UP).normalize(), "f")
    return "0" if text in {"-0", "0"} else text


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
        format_cost(sum(priced, Decimal(0))) if priced else _UNPRICED,
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


# -- the command -----------------------------------------------------------------------------------------


def _check_sqlite_file(url: str) -> None:
    """Reading must not create an empty database at a mistyped path (sqlite3.connect would)."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if str(path) != ":memory:" and not path.exists():
            raise ValueError(f"no database at {path} (set --database-url or MAJORDOMO_DATABASE_URL)")


async def _with_store(url: str, work: Callable[[Store], Any]) -> Any:
    from majordomo_otel.gateway.store import open_store

    _check_sqlite_file(url)
    store = open_store(url)
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


def run_costs(args: argparse.Namespace, settings: Settings) -> int:
    """`majordomo costs`: print totals (or one trace's records) to stdout; 1 when the trace has no records."""
    now = datetime.now(UTC)
    since = parse_when(args.since, now=now, flag="--since")
    until = parse_when(args.until, now=now, flag="--until")
    fmt = getattr(args, "format", None) or "table"
    if args.trace:
        trace = asyncio.run(
            _with_store(settings.database_url, lambda s: trace_costs(s, args.trace, since=since, until=until))
        )
        if not trace.records:
            print(f"no records for trace {trace.trace_id}", file=sys.stderr)
            return 1
        sys.stdout.write(render_trace(trace, fmt))
        return 0
    by = parse_groupings(args.by or "")
    rows = asyncio.run(_with_store(settings.database_url, lambda s: cost_totals(s, by=by, since=since, until=until)))
    sys.stdout.write(render_totals(rows, by, fmt))
    return 0
