"""Real openai SDK clients with default settings through the gateway: streams priced without asking,
calls beyond chat passed through and recorded, a provider of your own from the config file."""

from __future__ import annotations

import json
from pathlib import Path

import openai
from gateway_harness import Harness, sim_settings, start_gateway

from majordomo_otel.sim import SimServer

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def _client(gw: Harness, base: str = "/v1") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + base, api_key="sk-test", default_headers=gw.headers())


async def test_a_stream_that_did_not_ask_for_usage_is_priced_and_the_client_sees_no_usage(gw: Harness) -> None:
    chunks = [
        c async for c in await _client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    ]
    [record] = await gw.records(expected=1)
    [sent] = gw.sim.requests
    assert (
        [c.usage for c in chunks],
        [c.choices == [] for c in chunks],
        json.loads(sent.body)["stream_options"],
        record.usage_status,
        record.pricing_status,
        record.total_cost is not None and record.total_cost > 0,
        record.status_code,
    ) == ([None] * len(chunks), [False] * len(chunks), {"include_usage": True}, "reported", "priced", True, 200)


async def test_a_stream_that_asked_for_usage_gets_it_unchanged(gw: Harness) -> None:
    stream = await _client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    [record] = await gw.records(expected=1)
    assert (
        chunks[-1].choices,
        chunks[-1].usage is not None,
        record.input_tokens == chunks[-1].usage.prompt_tokens,
    ) == (
        [],
        True,
        True,
    )


async def test_models_list_passes_through_and_is_recorded_not_billable(gw: Harness) -> None:
    models = [m.id async for m in _client(gw).models.list()]
    [record] = await gw.records(expected=1)
    assert (models[:2], record.operation, record.status_code, record.pricing_status, record.error_message) == (
        ["gpt-4o", "gpt-4o-mini"],
        "models",
        200,
        "not_billable",
        None,
    )


async def test_a_provider_from_the_config_file_is_routed_priced_and_named(sim: SimServer, tmp_path: Path) -> None:
    settings = sim_settings(
        sim,
        f"sqlite:///{tmp_path / 'g.db'}",
        tmp_path / "spool",
        providers={"vllm": {"base_url": sim.url + "/v1", "price_id": "openai"}},
    )
    gw = await start_gateway(settings, sim=sim)
    try:
        reply = await _client(gw, "/vllm/v1").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        [record] = await gw.records(expected=1)
        gw.gateway.spans.force_flush()
        spans = {s.name: dict(s.attributes or {}) for s in gw.spans.get_finished_spans()}
    finally:
        await gw.runner.cleanup()
    server = next(attrs for attrs in spans.values() if "gen_ai.provider.name" in attrs)
    assert (
        [r.path for r in sim.requests],
        record.provider,
        record.input_tokens == reply.usage.prompt_tokens if reply.usage else None,
        record.pricing_status,
        server["gen_ai.provider.name"],
    ) == (["/v1/chat/completions"], "vllm", True, "priced", "vllm")


async def test_a_model_genai_prices_does_not_know_is_priced_from_the_config(sim: SimServer, tmp_path: Path) -> None:
    settings = sim_settings(
        sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool", prices={"acme-ft-1": {"input": 1, "output": 2}}
    )
    gw = await start_gateway(settings, sim=sim)
    try:
        await _client(gw).chat.completions.create(model="acme-ft-1", messages=MESSAGES)
        [record] = await gw.records(expected=1)
    finally:
        await gw.runner.cleanup()
    expected = (record.input_tokens or 0) * 1 / 1e6 + (record.output_tokens or 0) * 2 / 1e6
    assert (record.pricing_status, float(record.total_cost or 0)) == ("priced_by_config", expected)


async def test_with_stream_usage_off_the_body_goes_as_sent_and_the_row_has_no_usage(
    sim: SimServer, tmp_path: Path
) -> None:
    settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool", stream_usage=False)
    gw = await start_gateway(settings, sim=sim)
    try:
        stream = await _client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        _ = [c async for c in stream]
        [record] = await gw.records(expected=1)
    finally:
        await gw.runner.cleanup()
    assert ("stream_options" in json.loads(sim.requests[0].body), record.pricing_status) == (False, "no_usage")
