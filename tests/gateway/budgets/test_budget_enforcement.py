"""A gateway enforcing budgets: refused before upstream, recorded, warned, per value, picked up live, per window."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import aiohttp
import pytest
from _budget_helpers import INTERVAL, Reply, send
from _budget_helpers import until_refused as refusal
from dirty_equals import IsStr
from gateway_harness import Harness
from opentelemetry.sdk.trace import ReadableSpan

from majordomo_otel.gateway.budgets import Window, create_budget, period_at
from majordomo_otel.gateway.store import open_store

RESEARCH = {"Feature": "research"}
#: Four requests of ~$0.0003 (see _budget_helpers) use it up.
LIMIT = "0.001"


async def until_refused(gw: Harness, http: aiohttp.ClientSession, tags: dict[str, str], most: int = 10) -> list[Reply]:
    return await refusal(http, gw.url, gw.key, tags, most)


def gateway_spans(gw: Harness, request_id: str) -> list[ReadableSpan]:
    gw.gateway.spans.force_flush()
    return [s for s in gw.spans.get_finished_spans() if (s.attributes or {}).get("majordomo.request_id") == request_id]


@pytest.fixture
async def research_budget(budget_gw: Harness) -> None:
    await create_budget(budget_gw.gateway.store, "research-daily", "feature=research", limit=LIMIT, window="day")
    await budget_gw.gateway.budgets.sync()


@pytest.mark.usefixtures("research_budget")
async def test_a_used_up_budget_answers_429_in_the_provider_shape_and_never_calls_it(
    budget_gw: Harness, http: aiohttp.ClientSession
) -> None:
    replies = await until_refused(budget_gw, http, RESEARCH)
    served, refused = replies[:-1], replies[-1]
    left = period_at(budget_gw.gateway.budgets.ledger.states.popitem()[1].budget.window, "UTC", time.time())
    assert [r.status for r in served] == [200] * 4
    assert (refused.status, refused.json(), refused.headers["x-should-retry"]) == (
        429,
        {
            "error": {
                "message": "majordomo gateway: budget 'research-daily' used up: $0.0012114 of $0.001 this day (UTC); "
                f"resets {left.resets_at():%Y-%m-%dT%H:%M:%S}Z",
                "type": "insufficient_quota",
                "param": None,
                "code": None,
            }
        },
        "false",
    )
    assert abs(int(refused.headers["Retry-After"]) - (left.end - time.time())) < 5
    assert len(budget_gw.sim.requests) == 4


@pytest.mark.usefixtures("research_budget")
async def test_a_refused_request_is_recorded_and_its_span_names_the_budget(
    budget_gw: Harness, http: aiohttp.ClientSession
) -> None:
    refused = (await until_refused(budget_gw, http, RESEARCH))[-1]
    [record] = [r for r in await budget_gw.records(expected=5) if r.id == refused.headers["X-Majordomo-Request-Id"]]
    message = IsStr(regex=r"budget 'research-daily' used up: \$0\.0012114 of \$0\.001 this day \(UTC\); resets \S+Z")
    assert (record.status_code, record.error_message, record.total_cost, record.raw_metadata) == (
        429,
        message,
        None,
        RESEARCH,
    )
    [span] = gateway_spans(budget_gw, record.id)
    assert (span.attributes["http.response.status_code"], span.attributes["majordomo.error"]) == (429, message)


async def test_each_user_of_a_star_budget_has_a_limit_of_their_own(
    budget_gw: Harness, http: aiohttp.ClientSession
) -> None:
    await create_budget(budget_gw.gateway.store, "per-user", "feature=research user_id=*", limit=LIMIT, window="day")
    await budget_gw.gateway.budgets.sync()
    alice = await until_refused(budget_gw, http, {**RESEARCH, "User-Id": "alice"})
    bob = await until_refused(budget_gw, http, {**RESEARCH, "User-Id": "bob"}, most=2)
    other_feature = await send(http, budget_gw.url, budget_gw.key, tags={"Feature": "chat", "User-Id": "alice"})
    assert ([r.status for r in alice], [r.status for r in bob], other_feature.status) == (
        [200, 200, 200, 200, 429],
        [200, 200],
        200,
    )
    assert alice[-1].json()["error"]["message"] == IsStr(regex=r".*budget 'per-user' \(user_id=alice\) used up: .*")


async def test_a_warn_budget_lets_traffic_through_marks_it_and_logs_the_crossing_once(
    budget_gw: Harness, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="majordomo_otel.gateway")
    await create_budget(budget_gw.gateway.store, "watch", "feature=research", limit=LIMIT, window="day", mode="warn")
    await budget_gw.gateway.budgets.sync()
    replies = [await send(http, budget_gw.url, budget_gw.key, tags=RESEARCH) for _ in range(6)]
    records = sorted(await budget_gw.records(expected=6), key=lambda r: r.requested_at)
    note = IsStr(regex=r"budget 'watch' over its limit \(warn\): \$0\.0012114 of \$0\.001 this day \(UTC\)")
    assert ([r.status for r in replies], [r.error_message for r in records]) == (
        [200] * 6,
        [None, None, None, None, note, IsStr(regex=r"budget 'watch' over its limit \(warn\): \$0\.00151425 of .*")],
    )
    crossings = [r.getMessage() for r in caplog.records if "reached its limit" in r.getMessage()]
    assert crossings == [IsStr(regex=r"budget 'watch' reached its limit \(warn\): \$0\.0012114 of \$0\.001 .*")]
    [span] = gateway_spans(budget_gw, records[4].id)
    assert span.attributes["majordomo.error"] == note


async def test_a_budget_created_while_the_gateway_runs_applies_within_the_refresh_interval(
    budget_gw: Harness, http: aiohttp.ClientSession
) -> None:
    for _ in range(4):
        assert (await send(http, budget_gw.url, budget_gw.key, tags=RESEARCH)).status == 200
    other = open_store(budget_gw.gateway.settings.database_url)  # as `majordomo budgets create` would, elsewhere
    await other.open()
    try:
        await create_budget(other, "late", "feature=research", limit=LIMIT, window="day")
    finally:
        await other.close()
    created = time.monotonic()
    last = (await until_refused(budget_gw, http, RESEARCH, most=10_000))[-1]
    assert (last.status, time.monotonic() - created < 3 * INTERVAL + 0.2) == (429, True)


async def test_spend_starts_again_when_the_window_rolls_over(budget_gw: Harness, http: aiohttp.ClientSession) -> None:
    budgets = budget_gw.gateway.budgets
    today = period_at(Window.DAY, "UTC", time.time())
    budgets.clock = lambda: today.end - 1  # the last second of the day
    await create_budget(budget_gw.gateway.store, "research-daily", "feature=research", limit=LIMIT, window="day")
    await budgets.sync()
    before = [r.status for r in await until_refused(budget_gw, http, RESEARCH)]
    budgets.clock = lambda: today.end + 1  # the first of the next
    after = [r.status for r in await until_refused(budget_gw, http, RESEARCH, most=2)]
    await budgets.sync()
    usage = await budget_gw.gateway.store.query("SELECT period_start, spend_picousd FROM majordomo_budget_spend")
    tomorrow = datetime.fromtimestamp(today.end, UTC).date().isoformat()
    assert (before, after, sorted((r["period_start"], r["spend_picousd"]) for r in usage)) == (
        [200, 200, 200, 200, 429],
        [200, 200],
        [(today.key, 4 * 302_850_000), (tomorrow, 2 * 302_850_000)],
    )
