"""The guide's SQL, verbatim, on both stores, over records the gateway wrote for a known set of tagged requests.

The expected sums are computed apart from the gateway: genai-prices applied to the usage the stand-in
provider says it sent, grouped by the tags each request carried.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from e2e_rows import COST_TOLERANCE, sim_cost
from gateway_harness import Harness, sim_settings, start_gateway

from majordomo_otel.sim import SimServer

COST_PER_USER = """SELECT raw_metadata->>'User-Id' AS user_id, SUM(total_cost) AS total_cost, COUNT(*) AS requests FROM llm_requests WHERE raw_metadata->>'Feature' = 'document-qa' GROUP BY raw_metadata->>'User-Id' ORDER BY total_cost DESC;"""  # noqa: E501 - verbatim
COST_PER_STEP = """SELECT raw_metadata->>'Step' AS step, SUM(total_cost) AS total_cost, AVG(response_time_ms) AS avg_latency_ms FROM llm_requests WHERE raw_metadata->>'Feature' = 'research' GROUP BY raw_metadata->>'Step';"""  # noqa: E501 - verbatim


@dataclass(frozen=True)
class Call:
    feature: str | None
    step: str
    user: str
    provider: str
    model: str
    stream: bool
    output_tokens: int
    status: int = 200


CALLS = [
    Call("document-qa", "retrieve", "alice", "openai", "gpt-4o-mini", False, 50),
    Call("document-qa", "answer", "alice", "anthropic", "claude-haiku-4-5", True, 200),
    Call("document-qa", "retrieve", "bob", "gemini", "gemini-2.5-flash", True, 20),
    Call("document-qa", "answer", "bob", "openai", "gpt-4o", False, 400),
    Call("document-qa", "answer", "carol", "anthropic", "claude-haiku-4-5", False, 30),
    Call("document-qa", "answer", "carol", "openai", "gpt-4o", True, 9, status=500),  # counted, never priced
    Call("research", "search", "alice", "openai", "gpt-4o-mini", True, 30),
    Call("research", "search", "bob", "gemini", "gemini-2.5-flash", False, 100),
    Call("research", "summarise", "carol", "anthropic", "claude-haiku-4-5", True, 300),
    Call("research", "summarise", "alice", "openai", "gpt-4o", False, 80),
    Call(None, "search", "alice", "openai", "gpt-4o", False, 500),  # untagged: in neither report
]


def wire(call: Call, index: int) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Path, body and provider headers for one call, in its provider's own API."""
    text = [{"role": "user", "content": f"question {index} about the documents"}]
    if call.provider == "openai":
        body: dict[str, Any] = {"model": call.model, "messages": text}
        if call.stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return "/v1/chat/completions", body, {"Authorization": "Bearer sk-test"}
    if call.provider == "anthropic":
        body = {"model": call.model, "max_tokens": 1000, "messages": text, "stream": call.stream}
        return "/v1/messages", body, {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    action = "streamGenerateContent?alt=sse" if call.stream else "generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": text[0]["content"]}]}]}
    return f"/v1beta/models/{call.model}:{action}", body, {"x-goog-api-key": "gemini-test"}


def tag_headers(call: Call) -> dict[str, str]:
    tags = {"X-Majordomo-Step": call.step, "X-Majordomo-User-Id": call.user}
    return tags | ({"X-Majordomo-Feature": call.feature} if call.feature else {})


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite, then PostgreSQL (a fresh schema)."""
    return f"sqlite:///{tmp_path / 'guide.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
async def gw_on(database_url: str, sim: SimServer, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await start_gateway(sim_settings(sim, database_url, tmp_path / "spool"), sim=sim)
    try:
        yield harness
    finally:
        await harness.runner.cleanup()


async def send_all(gw: Harness, http: aiohttp.ClientSession) -> list[Decimal]:
    """Send CALLS one by one; return each call's independently computed cost (0 when the sim sent no usage)."""
    costs = []
    for index, call in enumerate(CALLS):
        path, body, headers = wire(call, index)
        sim_headers = {"X-Sim-Output-Tokens": str(call.output_tokens), "X-Sim-Status": str(call.status)}
        headers = gw.headers(**headers, **tag_headers(call), **sim_headers)
        async with http.post(gw.url + path, data=json.dumps(body), headers=headers) as resp:
            await resp.read()
            assert resp.status == call.status
        usage = gw.sim.requests[index].usage
        costs.append(sim_cost(usage, call.model, call.provider) if usage is not None else Decimal(0))
    await gw.records(expected=len(CALLS))
    return costs


def close_to(value: Any, expected: Decimal) -> bool:
    return abs(Decimal(str(value)) - expected) < COST_TOLERANCE


async def test_cost_per_user_for_a_feature(gw_on: Harness, http: aiohttp.ClientSession) -> None:
    costs = await send_all(gw_on, http)
    expected: dict[str, list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for call, cost in zip(CALLS, costs, strict=True):
        if call.feature == "document-qa":
            expected[call.user][0] += cost
            expected[call.user][1] += 1
    by_cost = sorted(expected, key=lambda user: expected[user][0], reverse=True)

    rows = await gw_on.gateway.store.query(COST_PER_USER)

    assert [(r["user_id"], r["requests"]) for r in rows] == [(user, expected[user][1]) for user in by_cost]
    assert [close_to(r["total_cost"], expected[r["user_id"]][0]) for r in rows] == [True] * len(by_cost)
    assert [r["user_id"] for r in rows] == ["bob", "alice", "carol"]  # the known set's ranking, stated plainly


async def test_cost_and_latency_per_step(gw_on: Harness, http: aiohttp.ClientSession) -> None:
    costs = await send_all(gw_on, http)
    records = await gw_on.gateway.store.get_records()
    expected_cost: dict[str, Decimal] = defaultdict(Decimal)
    for call, cost in zip(CALLS, costs, strict=True):
        if call.feature == "research":
            expected_cost[call.step] += cost
    latencies: dict[str, list[float]] = defaultdict(list)
    for record in records:
        if record.raw_metadata.get("Feature") == "research":
            latencies[record.raw_metadata["Step"]].append(record.response_time_ms or 0.0)

    rows = {r["step"]: r for r in await gw_on.gateway.store.query(COST_PER_STEP)}

    assert sorted(rows) == ["search", "summarise"]
    assert {step: close_to(r["total_cost"], expected_cost[step]) for step, r in rows.items()} == {
        "search": True,
        "summarise": True,
    }
    assert {step: round(float(r["avg_latency_ms"]), 6) for step, r in rows.items()} == {
        step: round(sum(values) / len(values), 6) for step, values in latencies.items()
    }
