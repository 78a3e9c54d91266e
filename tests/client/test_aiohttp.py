"""aiohttp (google-genai's async client sends through it) is scoped like httpx: tags, key and baggage
for the gateway only, traceparent everywhere, and a client span under the caller's current span."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from google import genai
from google.genai import types
from opentelemetry import baggage, context, trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import majordomo_otel
from majordomo_otel.propagator import configure
from majordomo_otel.pydantic_ai import build_extra_headers
from majordomo_otel.sim import SimServer

from ._helpers import EXPECTED_HEADERS, header_set, majordomo_headers, parse_traceparent
from .conftest import API_KEY

TAGS = {"feature": "research", "step": "synthesis", "user_id": "u-1", "session_id": "s-1"}


async def _generate(base_url: str) -> None:
    """One `generate_content` call through google-genai's async client (aiohttp, since it is installed)."""
    async with genai.Client(api_key="k", http_options=types.HttpOptions(base_url=base_url)).aio as client:
        await client.models.generate_content(model="gemini-2.0-flash", contents="What is it?")


async def _get(url: str, headers: dict[str, str] | None = None) -> None:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        await response.read()


def _leaks(server: SimServer) -> list[dict[str, Any]]:
    return [header_set(r, ("x-majordomo-", "baggage")) for r in server.requests]


async def test_genai_async_request_carries_the_tags_and_key(exporter, gateway: SimServer) -> None:
    with majordomo_otel.tags(**TAGS):
        await _generate(gateway.url)
    assert majordomo_headers(gateway) == [EXPECTED_HEADERS]


async def test_genai_async_request_span_is_a_child_of_the_current_span(
    exporter: InMemorySpanExporter, gateway: SimServer
) -> None:
    with trace.get_tracer("test").start_as_current_span("work") as work:
        await _generate(gateway.url)
    trace_id, span_id = parse_traceparent(gateway.requests[0].header("traceparent"))
    [client_span] = [s for s in exporter.get_finished_spans() if s.context.span_id == span_id]
    assert (client_span.name, client_span.kind, client_span.parent, trace_id) == (
        "POST",
        SpanKind.CLIENT,
        work.get_span_context(),
        work.get_span_context().trace_id,
    )


async def test_other_host_gets_nothing_majordomo_even_if_set_explicitly(exporter, other_host: SimServer) -> None:
    token = context.attach(baggage.set_baggage("gen_ai.agent.name", "researcher"))
    try:
        with majordomo_otel.tags(**TAGS):
            await _get(other_host.url, headers={**build_extra_headers(feature="f"), "baggage": "a=b"})
    finally:
        context.detach(token)
    assert _leaks(other_host) == [{}]


async def test_other_host_still_gets_traceparent(exporter, other_host: SimServer) -> None:
    with majordomo_otel.tags(**TAGS):
        await _get(other_host.url)
    assert len(other_host.requests[0].header_values("traceparent")) == 1


async def test_gateway_gets_baggage(exporter, gateway: SimServer) -> None:
    token = context.attach(baggage.set_baggage("gen_ai.agent.name", "researcher"))
    try:
        await _get(gateway.url)
    finally:
        context.detach(token)
    assert gateway.requests[0].header_values("baggage") == ["gen_ai.agent.name=researcher"]


async def test_explicit_header_wins_over_context(exporter, gateway: SimServer) -> None:
    with majordomo_otel.tags(feature="from-context", step="ctx-step"):
        await _get(gateway.url, headers={"X-Majordomo-Feature": "explicit"})
    assert majordomo_headers(gateway) == [
        {"x-majordomo-feature": "explicit", "x-majordomo-step": "ctx-step", "x-majordomo-key": API_KEY}
    ]


async def test_base_url_session_is_scoped_by_the_joined_url(exporter, gateway: SimServer) -> None:
    with majordomo_otel.tags(feature="joined"):
        async with aiohttp.ClientSession(base_url=gateway.url) as session, session.get("/v1/models") as response:
            await response.read()
    assert majordomo_headers(gateway) == [{"x-majordomo-feature": "joined", "x-majordomo-key": API_KEY}]


@pytest.fixture
async def redirecting_gateway(gateway: SimServer, other_host: SimServer) -> AsyncIterator[str]:
    """A gateway origin that answers 307 to the other host (aiohttp follows redirects by default)."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(other_host.url + "/elsewhere")

    app = web.Application()
    app.router.add_get("/", redirect)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        configure([url], API_KEY)
        try:
            yield url
        finally:
            configure([gateway.url], API_KEY)


async def test_redirect_away_from_the_gateway_takes_nothing_majordomo_along(
    exporter, redirecting_gateway: str, other_host: SimServer
) -> None:
    with majordomo_otel.tags(**TAGS):
        await _get(redirecting_gateway + "/")
    assert [(r.path, header_set(r, ("x-majordomo-", "baggage"))) for r in other_host.requests] == [("/elsewhere", {})]
