"""Nothing Majordomo, and no baggage, leaves for a host other than the gateway."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
from opentelemetry import baggage, context

import majordomo_otel
from majordomo_otel.pydantic_ai import build_extra_headers
from majordomo_otel.sim import SimServer

from ._helpers import header_set, majordomo_headers, make_agent, make_model, run_agent

TAGS = {"feature": "research", "step": "synthesis", "user_id": "u-1", "session_id": "s-1"}


def _leaks(server: SimServer) -> list[dict[str, Any]]:
    return [header_set(r, ("x-majordomo-", "baggage")) for r in server.requests]


async def test_agent_run_to_other_host_sends_nothing_majordomo(exporter, other_host: SimServer) -> None:
    agent = make_agent(make_model("openai", other_host.url))
    with majordomo_otel.tags(**TAGS):
        await run_agent(agent)
    assert _leaks(other_host) == [{}, {}]


async def test_other_host_still_gets_traceparent(exporter, other_host: SimServer) -> None:
    agent = make_agent(make_model("openai", other_host.url))
    with majordomo_otel.tags(**TAGS):
        await run_agent(agent)
    assert [len(r.header_values("traceparent")) for r in other_host.requests] == [1, 1]


async def test_explicit_majordomo_headers_are_stripped_for_other_host(exporter, other_host: SimServer) -> None:
    async with httpx2.AsyncClient() as client:
        await client.get(other_host.url, headers={**build_extra_headers(feature="f"), "baggage": "a=b"})
    assert _leaks(other_host) == [{}]


async def test_gateway_gets_baggage_other_host_does_not(exporter, gateway: SimServer, other_host: SimServer) -> None:
    token = context.attach(baggage.set_baggage("gen_ai.agent.name", "researcher"))
    try:
        async with httpx2.AsyncClient() as client:
            await client.get(gateway.url)
            await client.get(other_host.url)
    finally:
        context.detach(token)
    assert [r.header_values("baggage") for r in gateway.requests + other_host.requests] == [
        ["gen_ai.agent.name=researcher"],
        [],
    ]


def test_legacy_httpx_sync_client_is_scoped_too(exporter, gateway: SimServer, other_host: SimServer) -> None:
    with majordomo_otel.tags(feature="legacy"), httpx.Client() as client:
        client.get(gateway.url)
        client.get(other_host.url)
    assert [majordomo_headers(gateway), _leaks(other_host)] == [
        [{"x-majordomo-feature": "legacy", "x-majordomo-key": "mdm_sk_test"}],
        [{}],
    ]


async def test_explicit_header_wins_over_context(exporter, gateway: SimServer) -> None:
    async with httpx2.AsyncClient() as client:
        with majordomo_otel.tags(feature="from-context", step="ctx-step"):
            await client.get(gateway.url, headers={"X-Majordomo-Feature": "explicit"})
    assert majordomo_headers(gateway) == [
        {"x-majordomo-feature": "explicit", "x-majordomo-step": "ctx-step", "x-majordomo-key": "mdm_sk_test"}
    ]


async def test_no_tags_sends_only_the_key(exporter, gateway: SimServer) -> None:
    async with httpx2.AsyncClient() as client:
        await client.get(gateway.url)
    assert majordomo_headers(gateway) == [{"x-majordomo-key": "mdm_sk_test"}]
