"""`majordomo costs` over the workflow's own records: totals equal what the gateway spans say.

The expected numbers come from the other rendering of the same records: the gateway SERVER spans
received over OTLP (`majordomo.cost.total` grouped by their `majordomo.*` tags). SQLite is the
gateway's own database; PostgreSQL gets the same records written through its store.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from majordomo_otel import cli
from majordomo_otel.gateway.store import open_store
from pg_server import PG_DSN, drop_schema

from ._workflow_client import USERS
from .conftest import GATEWAY_SERVICE, Workflow


async def _pg_execute(sql: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _copy_records(workflow: Workflow, url: str) -> None:
    records = workflow.stack.call(workflow.stack.store.get_records())
    store = open_store(url)
    await store.open()
    try:
        await store.migrate()
        await store.write_batch(records)
    finally:
        await store.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, workflow: Workflow) -> Iterator[str]:
    if request.param == "sqlite":
        yield workflow.stack.database_url
        return
    schema = f"traces_{uuid.uuid4().hex[:16]}"
    asyncio.run(_pg_execute(f'CREATE SCHEMA "{schema}"'))
    try:
        url = f"{PG_DSN}?schema={schema}"
        asyncio.run(_copy_records(workflow, url))
        yield url
    finally:
        asyncio.run(drop_schema(schema))


def _costs(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    code = cli.main(["costs", *argv, "--json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    return json.loads(out)


def _gateway_spans(workflow: Workflow) -> list[Any]:
    return [s for user in USERS for s in workflow.spans(user) if s.service == GATEWAY_SERVICE and s.kind == "SERVER"]


def test_costs_by_feature_step_user(workflow: Workflow, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    printed = _costs(capsys, "--by", "feature,step,user", "--database-url", database_url)
    expected: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for span in _gateway_spans(workflow):
        key = tuple(span.attributes[f"majordomo.{tag}"] for tag in ("feature", "step", "user_id"))
        expected[key].append(span.attributes["majordomo.cost.total"])
    got = {(r["feature"], r["step"], r["user"]): (r["requests"], Decimal(r["total_cost"])) for r in printed}
    assert got == {
        key: (len(costs), pytest.approx(Decimal(str(sum(costs))), abs=Decimal("1e-9")))
        for key, costs in expected.items()
    }
    assert len(got) == 2 * len(USERS)


@pytest.mark.parametrize("user", list(USERS))
def test_costs_of_one_trace(
    workflow: Workflow, database_url: str, user: str, capsys: pytest.CaptureFixture[str]
) -> None:
    trace_id = workflow.trace_ids[user]
    printed = _costs(capsys, "--trace", trace_id, "--database-url", database_url)
    spans = [s for s in _gateway_spans(workflow) if s.trace_id == trace_id]
    assert (printed["trace_id"], printed["requests"], printed["unpriced_requests"]) == (trace_id, 3, 0)
    assert {r["request_id"]: r["span_id"] for r in printed["records"]} == {
        s.attributes["majordomo.request_id"]: s.span_id for s in spans
    }
    assert Decimal(printed["total_cost"]) == pytest.approx(
        Decimal(str(sum(s.attributes["majordomo.cost.total"] for s in spans))), abs=Decimal("1e-9")
    )
