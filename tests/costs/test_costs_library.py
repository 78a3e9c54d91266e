"""`cost_totals` / `trace_costs` as the demo uses them, and the window parser."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from inline_snapshot import snapshot

from majordomo_otel.costs import CostRow, cost_totals, format_cost, parse_when, trace_costs
from majordomo_otel.gateway.store import open_store

from ._records import T0, TRACE_B, record, seed, tags


def _with_store(url: str, work):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        store = open_store(url)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def test_sums_are_exact_decimals_on_both_stores(database_url: str) -> None:
    """0.1 + 0.2 is 0.3 on SQLite too (a float SUM would give 0.30000000000000004)."""
    seed(
        database_url,
        [
            record(at=T0, tags=tags("f"), tokens=(1, 1), cost="0.1"),
            record(at=T0, tags=tags("f"), tokens=(1, 1), cost="0.2"),
            record(at=T0, tags=tags("f"), tokens=(1, 1), cost="0.000000000001"),
        ],
    )
    rows = _with_store(database_url, lambda s: cost_totals(s, by=["feature"], since=None, until=None))
    assert rows == [
        CostRow(
            group={"feature": "f"},
            requests=3,
            input_tokens=3,
            output_tokens=3,
            total_cost=Decimal("0.300000000001"),
            unpriced_requests=0,
        )
    ]


def test_trace_costs_totals(known_url: str) -> None:
    trace = _with_store(known_url, lambda s: trace_costs(s, TRACE_B))
    totals = (
        trace.requests,
        trace.input_tokens,
        trace.output_tokens,
        trace.total_cost,
        trace.unpriced_requests,
    )
    assert totals == (2, 2800, 600, Decimal("0.00203"), 0)


def test_no_grouping_is_one_total_row(known_url: str) -> None:
    rows = _with_store(known_url, lambda s: cost_totals(s, by=[], since=None, until=None))
    assert rows == snapshot(
        [
            CostRow(
                group={},
                requests=7,
                input_tokens=9500,
                output_tokens=1770,
                total_cost=Decimal("0.029417000000"),
                unpriced_requests=2,
            )
        ]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", datetime(2026, 3, 1, 11, 30, tzinfo=UTC)),
        ("24h", datetime(2026, 2, 28, 12, 0, tzinfo=UTC)),
        ("7d", datetime(2026, 2, 22, 12, 0, tzinfo=UTC)),
        ("1.5h", datetime(2026, 3, 1, 10, 30, tzinfo=UTC)),
        ("2026-02-01", datetime(2026, 2, 1, tzinfo=UTC)),
        ("2026-02-01T08:00:00+02:00", datetime(2026, 2, 1, 6, 0, tzinfo=UTC)),
        ("2026-02-01T08:00:00Z", datetime(2026, 2, 1, 8, 0, tzinfo=UTC)),
        (None, None),
    ],
)
def test_parse_when(text: str | None, expected: datetime | None) -> None:
    assert parse_when(text, now=datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) == expected


def test_format_cost_is_plain_text() -> None:
    values = [Decimal("0.000185100000"), Decimal("12.000000000000"), Decimal("0E-12"), Decimal("1E-12"), None]
    assert [format_cost(v) for v in values] == ["0.0001851", "12", "0", "0.000000000001", None]


def test_window_bounds_are_timezone_aware() -> None:
    assert parse_when("2026-02-01T08:00", now=datetime.now(UTC)).tzinfo is UTC  # type: ignore[union-attr]
    assert parse_when("10s", now=T0) == T0 - timedelta(seconds=10)
