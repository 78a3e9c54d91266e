"""The SQL behind `majordomo costs`: one query text for SQLite (≥ 3.38) and PostgreSQL, exact sums on both.

Tags are read with `raw_metadata->>'Feature'`, spelled exactly as the store's indexes are. Two dialect
differences are handled here:

* placeholders (`?` vs `$1`) and timestamps (SQLite keeps fixed-width UTC ISO text, PostgreSQL TIMESTAMPTZ);
* costs: PostgreSQL keeps exact `NUMERIC(20,12)`, SQLite a `REAL`. Summing floats drifts in the last digits
  (0.1 + 0.2 ≠ 0.3), so on SQLite each cost is rounded to PostgreSQL's 12 decimals as an integer count of
  1e-12 USD and those integers are summed exactly. Both stores therefore give the same `Decimal` totals.
  (SQLite's 64-bit integer sum caps one group's total at about $9.2M.)

Unpriced requests (unknown model, no usage) have a NULL cost: they are counted apart, never summed as $0.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from .._money import QUANTUM, SCALE
from ._options import GROUPINGS, parse_groupings
from ._types import CostRow, TraceCosts, TraceRecord

if TYPE_CHECKING:
    from majordomo_otel.gateway.store import Store

_SQLITE_COST = f"CAST(ROUND(total_cost * 1{'0' * SCALE}) AS INTEGER)"


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
        return Decimal(int(value)).scaleb(-SCALE).quantize(QUANTUM)
    return Decimal(value).quantize(QUANTUM, rounding=ROUND_HALF_UP)


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
