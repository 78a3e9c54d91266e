"""Through the real gateway (`local_stack`: SQLite, auth on): tag values of any Unicode text reach its
record exactly, from aiohttp (google-genai's async client) and httpx2 alike, and the aiohttp client span
carries the record's id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import types
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import majordomo_otel
from majordomo_otel.demo._stack import LocalStack, local_stack
from majordomo_otel.propagator import configure
from majordomo_otel.sim import SimServer

from .conftest import API_KEY

UNICODE_TAGS = {
    "feature": "Zoë",
    "step": "東京 の 調査",
    "user_id": " 🚀 launch 🇯🇵 ",  # edge spaces: dropped by servers, refused by h11, unless encoded
    "session_id": "a\r\nb\tc\x01\x7f\u0085",
    "percent": "100% %41 + %",
    "invisible": "\u202e\ufeff\u2028\uffff",
    "longest": "🚀" * 256,
}
EXPECTED_METADATA = {
    "Feature": "Zoë",
    "Step": "東京 の 調査",
    "User-Id": " 🚀 launch 🇯🇵 ",
    "Session-Id": "a\r\nb\tc\x01\x7f\u0085",
    "Percent": "100% %41 + %",
    "Invisible": "\u202e\ufeff\u2028\uffff",
    "Longest": "🚀" * 256,
}


@pytest.fixture
def real_gateway(exporter, gateway: SimServer, tmp_path: Path) -> Iterator[LocalStack]:
    """The real gateway as the configured origin; the package's stand-in gateway again afterwards."""
    with local_stack(tmp_path / "gw.db") as stack:
        configure([stack.url], stack.key)
        try:
            yield stack
        finally:
            configure([gateway.url], API_KEY)


async def _genai(url: str) -> None:
    async with genai.Client(api_key="k", http_options=types.HttpOptions(base_url=url)).aio as client:
        await client.models.generate_content(model="gemini-2.0-flash", contents="hi")


async def _httpx2(url: str) -> None:
    async with httpx2.AsyncClient() as http:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        (await http.post(f"{url}/v1/chat/completions", json=body)).raise_for_status()


def _records(stack: LocalStack) -> list[dict[str, Any]]:
    return stack.query("SELECT id, provider, raw_metadata, error_message FROM llm_requests")


@pytest.mark.parametrize(("send", "provider"), [(_genai, "gemini"), (_httpx2, "openai")], ids=["aiohttp", "httpx2"])
async def test_unicode_tag_values_arrive_exactly(real_gateway: LocalStack, send: Any, provider: str) -> None:
    with majordomo_otel.tags(**UNICODE_TAGS):
        await send(real_gateway.url)
    [record] = _records(real_gateway)
    assert (record["provider"], json.loads(record["raw_metadata"]), record["error_message"]) == (
        provider,
        EXPECTED_METADATA,
        None,
    )


async def test_aiohttp_client_span_carries_the_record_id(
    real_gateway: LocalStack, exporter: InMemorySpanExporter
) -> None:
    await _genai(real_gateway.url)
    [record] = real_gateway.query("SELECT id, parent_span_id FROM llm_requests")
    by_id = {format(s.context.span_id, "016x"): s for s in exporter.get_finished_spans()}
    client_span = by_id[record["parent_span_id"]]  # the gateway's span hangs under the client's HTTP span
    assert (client_span.name, client_span.kind, (client_span.attributes or {}).get("majordomo.request_id")) == (
        "POST",
        SpanKind.CLIENT,
        record["id"],
    )
