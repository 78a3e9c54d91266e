"""Every built-in preset of the provider table, end to end with the openai SDK.

The client knows only a base URL, `<gateway>/<preset><its API path>` (Azure: `AzureOpenAI` with its
deployment path, `api-key` header and `api-version`); the stand-in upstream records what arrives (path,
query, key header) and answers as that provider does. A chat and a streamed chat each leave one row with the
preset's name, priced with the preset's genai-prices id, and a gateway span naming its
`gen_ai.provider.name`. Parametrized over the table: a new preset is covered without editing this file.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
import openai
import pytest
from dirty_equals import IsApprox
from e2e_rows import COST_TOLERANCE
from gateway_harness import Harness, sim_settings, start_gateway
from genai_prices import data_snapshot
from opentelemetry.trace import SpanKind

from majordomo_otel.gateway.providers import BUILTIN, Provider, StreamUsage
from majordomo_otel.sim import RecordedRequest, SimServer

PRESETS = [p for p in BUILTIN if p.preset]
MESSAGES: Any = [{"role": "user", "content": "What is the capital of France?"}]
ANSWER = "sim answer to: What is the capital of France?"
AZURE = "azure"  # deployment paths, `api-key`, `api-version`: its own SDK client


@functools.cache
def priced_model(price_id: str) -> str:
    """The first model (by id) genai-prices charges for tokens at this provider, as a client names it (its
    id, or the exact name its match rule wants: Fireworks' `accounts/fireworks/models/...`)."""
    [provider] = [p for p in data_snapshot.get_snapshot().providers if p.id == price_id]
    usage = genai_prices.Usage(input_tokens=1000, output_tokens=1000)
    for model in sorted(provider.models, key=lambda m: m.id):
        for name in (model.id, getattr(model.match, "equals", None)):
            try:
                if name and genai_prices.calc_price(usage, name, provider_id=price_id).total_price > 0:
                    return name
            except LookupError:
                continue
    raise AssertionError(f"genai-prices prices no model of {price_id!r} by tokens")


def provider_key(preset: Provider) -> str:
    return f"key-{preset.name}"


@pytest.fixture
async def gw(sim: SimServer, tmp_path: Path) -> AsyncIterator[Harness]:
    """A gateway whose presets all live at the stand-in, each under its own API path."""
    providers = {p.name: {"base_url": sim.url + p.api_path} for p in PRESETS}
    settings = sim_settings(sim, f"sqlite:///{tmp_path / 'gw.db'}", tmp_path / "spool", providers=providers)
    harness = await start_gateway(settings, sim=sim)
    try:
        yield harness
    finally:
        await harness.runner.cleanup()


def client(gw: Harness, preset: Provider, model: str, **headers: str) -> openai.AsyncOpenAI:
    default_headers = gw.headers(**headers)
    if preset.name == AZURE:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=f"{gw.url}/{preset.name}",
            azure_deployment=model,
            api_version=dict(preset.query)["api-version"],
            api_key=provider_key(preset),
            max_retries=0,
            default_headers=default_headers,
        )
    return openai.AsyncOpenAI(
        base_url=f"{gw.url}/{preset.name}{preset.api_path}",
        api_key=provider_key(preset),
        max_retries=0,
        default_headers=default_headers,
    )


def stream_headers(preset: Provider) -> dict[str, str]:
    """The stand-in reports stream usage unasked where the preset's provider does (Mistral)."""
    return {"X-Sim-Stream-Usage": "always"} if preset.stream_usage is StreamUsage.ALWAYS else {}


def arrived(request: RecordedRequest, preset: Provider) -> tuple[Any, ...]:
    """What the upstream got: method, path and query, the key in the provider's header, no gateway key."""
    return (request.method, request.path, request.header(preset.key_header), request.header("X-Majordomo-Key"))


def expected_arrival(preset: Provider, model: str) -> tuple[Any, ...]:
    key = provider_key(preset)
    if preset.name == AZURE:
        path = f"{preset.api_path}/deployments/{model}/chat/completions?api-version={dict(preset.query)['api-version']}"
    else:
        path = f"{preset.api_path}/chat/completions"
    return ("POST", path, key if preset.key_header != "authorization" else f"Bearer {key}", None)


def row(record: Any) -> dict[str, Any]:
    return {
        "provider": record.provider,
        "model": record.model,
        "operation": record.operation,
        "streamed": record.streamed,
        "status_code": record.status_code,
        "usage_status": record.usage_status,
        "pricing_status": record.pricing_status,
        "total_cost": record.total_cost,
        "error_message": record.error_message,
    }


def expected_row(preset: Provider, model: str, usage: Any, *, streamed: bool) -> dict[str, Any]:
    assert usage is not None, "the stand-in sent no usage"
    assert preset.price_id is not None
    prices_usage = genai_prices.Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    cost: Decimal = genai_prices.calc_price(prices_usage, model, provider_id=preset.price_id).total_price
    return {
        "provider": preset.name,
        "model": model,
        "operation": "chat_completions",
        "streamed": streamed,
        "status_code": 200,
        "usage_status": "reported",
        "pricing_status": "priced",
        "total_cost": IsApprox(cost, delta=COST_TOLERANCE),
        "error_message": None,
    }


def server_span_provider(gw: Harness) -> list[Any]:
    gw.gateway.spans.force_flush()
    spans = gw.spans.get_finished_spans()
    return [dict(s.attributes or {}).get("gen_ai.provider.name") for s in spans if s.kind is SpanKind.SERVER]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
async def test_preset_chat(gw: Harness, preset: Provider) -> None:
    model = priced_model(str(preset.price_id))
    async with client(gw, preset, model) as oai:
        reply = await oai.chat.completions.create(model=model, messages=MESSAGES)
    [record] = await gw.records(expected=1)
    [sent] = gw.sim.requests
    assert (
        reply.choices[0].message.content,
        arrived(sent, preset),
        row(record),
        server_span_provider(gw),
    ) == (
        ANSWER,
        expected_arrival(preset, model),
        expected_row(preset, model, sent.usage, streamed=False),
        [preset.otel_name],
    )


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
async def test_preset_stream_is_priced_and_the_client_sees_only_what_the_provider_sends_unasked(
    gw: Harness, preset: Provider
) -> None:
    model = priced_model(str(preset.price_id))
    async with client(gw, preset, model, **stream_headers(preset)) as oai:
        stream = await oai.chat.completions.create(model=model, messages=MESSAGES, stream=True)
        chunks = [c async for c in stream]
    [record] = await gw.records(expected=1)
    [sent] = gw.sim.requests
    unasked_usage = preset.stream_usage is StreamUsage.ALWAYS
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks),
        [bool(c.choices) for c in chunks],
        [n for n, c in enumerate(chunks) if c.usage is not None],
        (sent.json or {}).get("stream_options"),
        arrived(sent, preset),
        row(record),
        server_span_provider(gw),
    ) == (
        ANSWER,
        [True] * len(chunks),
        [len(chunks) - 1] if unasked_usage else [],
        None if unasked_usage else {"include_usage": True},
        expected_arrival(preset, model),
        expected_row(preset, model, sent.usage, streamed=True),
        [preset.otel_name],
    )
