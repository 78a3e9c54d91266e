"""Pydantic AI's own `gateway/<provider>:<model>` models, pointed at our gateway with two environment
variables: routed, authenticated by the Majordomo key, sent upstream with the gateway's provider key,
tagged by `instrument()`, priced, and Pydantic AI's `operation.cost` equals the row's cost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai import Agent

import majordomo_otel
from majordomo_otel.demo._stack import LocalStack, local_stack, patched_environ
from majordomo_otel.gateway.keys import KEY_PREFIX
from majordomo_otel.propagator import configure
from majordomo_otel.pydantic_ai import create_model
from majordomo_otel.sim import SimServer

from .conftest import API_KEY

GATEWAY_KEYS = {
    "MAJORDOMO_OPENAI_API_KEY": "sk-held-by-the-gateway-openai-01",
    "MAJORDOMO_ANTHROPIC_API_KEY": "sk-ant-held-by-the-gateway-02",
}
#: model string → (provider on the row, the header upstream must carry, its value)
MODELS = {
    "gateway/openai:gpt-4o-mini": ("openai", "authorization", "Bearer sk-held-by-the-gateway-openai-01"),
    "gateway/openai-responses:gpt-4o-mini": ("openai", "authorization", "Bearer sk-held-by-the-gateway-openai-01"),
    "gateway/anthropic:claude-sonnet-4-5": ("anthropic", "x-api-key", "sk-ant-held-by-the-gateway-02"),
}


@pytest.fixture
def paig(exporter: InMemorySpanExporter, gateway: SimServer, tmp_path: Path) -> Iterator[LocalStack]:
    """Our gateway holding provider keys, as `PYDANTIC_AI_GATEWAY_BASE_URL`; the app holds only `mdm_sk_…`."""
    with patched_environ(GATEWAY_KEYS), local_stack(tmp_path / "gw.db") as stack:
        configure([stack.url], stack.key)
        app_env = {"PYDANTIC_AI_GATEWAY_BASE_URL": stack.url, "PYDANTIC_AI_GATEWAY_API_KEY": stack.key}
        try:
            with patched_environ(app_env):
                yield stack
        finally:
            configure([gateway.url], API_KEY)


async def _run(model: str, *, stream: bool) -> None:
    agent = Agent(model)  # instrument() instruments Pydantic AI
    with majordomo_otel.tags(feature="research", user_id="u-42"):
        if stream:
            async with agent.run_stream("Say hi") as result:
                async for _ in result.stream_output(debounce_by=None):
                    pass
        else:
            await agent.run("Say hi")


def _chat_cost(exporter: InMemorySpanExporter) -> Any:
    [chat] = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    return chat.attributes.get("operation.cost") if chat.attributes else None


@pytest.mark.parametrize("stream", [False, True], ids=["run", "stream"])
@pytest.mark.parametrize("model", MODELS)
async def test_a_gateway_model_runs_through_our_gateway(
    paig: LocalStack, exporter: InMemorySpanExporter, model: str, stream: bool
) -> None:
    await _run(model, stream=stream)
    [row] = paig.query("SELECT provider, status_code, pricing_status, total_cost, raw_metadata FROM llm_requests")
    provider, header, value = MODELS[model]
    [upstream] = paig.sim.requests
    assert (row["provider"], row["status_code"], row["pricing_status"], json.loads(row["raw_metadata"])) == (
        provider,
        200,
        "priced",
        {"Feature": "research", "User-Id": "u-42"},
    )
    assert upstream.header(header) == value
    assert not [v for _, v in upstream.headers if KEY_PREFIX in v]
    assert _chat_cost(exporter) == pytest.approx(row["total_cost"], rel=1e-9)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_the_guides_create_model_needs_no_provider_key_in_the_app(
    paig: LocalStack, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAJORDOMO_GATEWAY_URL", paig.url)
    monkeypatch.setenv("MAJORDOMO_API_KEY", paig.key)
    with majordomo_otel.tags(feature="guide"):
        await Agent(create_model(provider)).run("Say hi")  # type: ignore[arg-type]
    [row] = paig.query("SELECT provider, status_code, pricing_status FROM llm_requests")
    [upstream] = paig.sim.requests
    header, value = {
        "openai": MODELS["gateway/openai:gpt-4o-mini"],
        "anthropic": MODELS["gateway/anthropic:claude-sonnet-4-5"],
    }[provider][1:]
    assert (row["provider"], row["status_code"], row["pricing_status"], upstream.header(header)) == (
        provider,
        200,
        "priced",
        value,
    )
