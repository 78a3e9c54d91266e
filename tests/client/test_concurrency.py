"""Tags follow contextvars: concurrent runs never see each other's, in headers or in spans."""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import majordomo_otel
from majordomo_otel.sim import SimServer

from ._helpers import make_agent, make_model

_PROMPT_USER = re.compile(r"for user (u-\d+)")


def _header_users_match_prompts(gateway: SimServer) -> set[bool]:
    """For each request: does X-Majordomo-User-Id equal the user named in its own prompt?"""
    return {
        r.header_values("X-Majordomo-User-Id") == [_PROMPT_USER.search(r.body.decode()).group(1)]  # type: ignore[union-attr]
        for r in gateway.requests
    }


def _span_users_per_trace(exporter) -> list[int]:
    users: dict[int, set[str]] = defaultdict(set)
    for span in exporter.get_finished_spans():
        users[span.context.trace_id].add(span.attributes.get("majordomo.user_id"))
    return [*sorted({len(v) for v in users.values()}), len({next(iter(v)) for v in users.values()})]


async def test_200_concurrent_tasks(exporter, gateway: SimServer) -> None:
    agent = make_agent(make_model("openai", gateway.url))

    async def one(i: int) -> None:
        with majordomo_otel.tags(user_id=f"u-{i}"):
            await asyncio.sleep(0)
            await agent.run(f"Answer for user u-{i}")

    await asyncio.gather(*(one(i) for i in range(200)))
    assert [len(gateway.requests), _header_users_match_prompts(gateway), _span_users_per_trace(exporter)] == [
        400,
        {True},
        [1, 200],
    ]


def test_thread_pool(exporter, gateway: SimServer) -> None:
    def one(i: int) -> None:
        agent = make_agent(make_model("openai", gateway.url))
        with majordomo_otel.tags(user_id=f"u-{i}"):
            agent.run_sync(f"Answer for user u-{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(40)))
    assert [len(gateway.requests), _header_users_match_prompts(gateway), _span_users_per_trace(exporter)] == [
        80,
        {True},
        [1, 40],
    ]
