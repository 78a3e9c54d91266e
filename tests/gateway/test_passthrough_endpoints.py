"""The calls beyond chat that real SDKs make, through the gateway: models lists, moderations, token counts,
embeddings, message batches. Each succeeds, and leaves exactly one row saying what it was and whether it
costs anything: priced where the response reports billable usage, `not_billable` for free operations,
`not_metered` for billed ones whose response carries no usage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from dirty_equals import IsApprox
from e2e_rows import COST_TOLERANCE, sim_cost
from gateway_harness import Harness
from google import genai
from google.genai import types as genai_types

from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.sim import _anthropic as sim_anthropic
from majordomo_otel.sim import _gemini as sim_gemini
from majordomo_otel.sim import _openai as sim_openai

# google-genai subclasses aiohttp.ClientSession; aiohttp warns about that, not about us.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

MESSAGES: Any = [{"role": "user", "content": "What is the capital of France?"}]
BATCH: Any = [
    {"custom_id": f"q{n}", "params": {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": MESSAGES}}
    for n in range(2)
]


@pytest.fixture
async def oai(gw: Harness) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=gw.url + "/v1", api_key="sk-test", max_retries=0, default_headers=gw.headers()
    ) as client:
        yield client


@pytest.fixture
async def claude(gw: Harness) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=gw.url, api_key="sk-ant-test", max_retries=0, default_headers=gw.headers()
    ) as client:
        yield client


@pytest.fixture
async def gemini(gw: Harness) -> AsyncIterator[genai.Client]:
    client = genai.Client(
        api_key="gemini-test", http_options=genai_types.HttpOptions(base_url=gw.url, headers=gw.headers())
    )
    yield client
    await client.aio.aclose()


FIELDS = ("provider", "operation", "request_method", "status_code", "usage_status", "pricing_status", "error_message")


def summary(record: RequestRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in (*FIELDS, "input_tokens", "total_cost")}


def unpriced(provider: str, operation: str, method: str, pricing_status: str = "not_billable") -> dict[str, Any]:
    """A successful row with nothing to price: no tokens, no cost, no error."""
    return {
        "provider": provider,
        "operation": operation,
        "request_method": method,
        "status_code": 200,
        "usage_status": "missing",
        "pricing_status": pricing_status,
        "error_message": None,
        "input_tokens": None,
        "total_cost": None,
    }


async def only_row(gw: Harness) -> dict[str, Any]:
    records = await gw.records(expected=1)
    assert len(records) == 1, [summary(r) for r in records]
    return summary(records[0])


# -- openai SDK ------------------------------------------------------------------------------------------------


async def test_openai_models_list(gw: Harness, oai: openai.AsyncOpenAI) -> None:
    ids = [m.id async for m in oai.models.list()]
    assert (ids, await only_row(gw)) == (list(sim_openai.MODEL_IDS), unpriced("openai", "models", "GET"))


async def test_openai_models_retrieve(gw: Harness, oai: openai.AsyncOpenAI) -> None:
    model = await oai.models.retrieve("gpt-4o-mini")
    assert (model.id, await only_row(gw)) == ("gpt-4o-mini", unpriced("openai", "models", "GET"))


async def test_openai_moderations(gw: Harness, oai: openai.AsyncOpenAI) -> None:
    result = await oai.moderations.create(model="omni-moderation-latest", input=["hello", "world"])
    flagged = [r.flagged for r in result.results]
    assert (flagged, await only_row(gw)) == ([False, False], unpriced("openai", "moderations", "POST"))


async def test_openai_embeddings_are_priced(gw: Harness, oai: openai.AsyncOpenAI) -> None:
    result = await oai.embeddings.create(model="text-embedding-3-small", input=["a", "b", "c"], dimensions=8)
    usage = gw.sim.requests[0].usage
    assert usage is not None
    assert ([len(d.embedding) for d in result.data], await only_row(gw)) == (
        [8, 8, 8],
        {
            "provider": "openai",
            "operation": "embeddings",
            "request_method": "POST",
            "status_code": 200,
            "usage_status": "reported",
            "pricing_status": "priced",
            "error_message": None,
            "input_tokens": result.usage.prompt_tokens,
            "total_cost": IsApprox(sim_cost(usage, "text-embedding-3-small", "openai"), delta=COST_TOLERANCE),
        },
    )


# -- anthropic SDK ---------------------------------------------------------------------------------------------


async def test_anthropic_models_list(gw: Harness, claude: anthropic.AsyncAnthropic) -> None:
    ids = [m.id async for m in claude.models.list()]
    expected_ids = [m[0] for m in sim_anthropic.MODELS]
    assert (ids, await only_row(gw)) == (expected_ids, unpriced("anthropic", "models", "GET"))


async def test_anthropic_models_retrieve_by_alias(gw: Harness, claude: anthropic.AsyncAnthropic) -> None:
    model = await claude.models.retrieve("claude-haiku-4-5")
    assert (model.id, await only_row(gw)) == ("claude-haiku-4-5-20251001", unpriced("anthropic", "models", "GET"))


async def test_anthropic_count_tokens(gw: Harness, claude: anthropic.AsyncAnthropic) -> None:
    counted = await claude.messages.count_tokens(model="claude-haiku-4-5", messages=MESSAGES)
    assert (counted.input_tokens > 0, await only_row(gw)) == (True, unpriced("anthropic", "count_tokens", "POST"))


async def test_anthropic_batch_create_is_recorded_billed_but_unmetered(
    gw: Harness, claude: anthropic.AsyncAnthropic
) -> None:
    """A batch is billed when it runs, in results the gateway never sees: the create row says so."""
    batch = await claude.messages.batches.create(requests=BATCH)
    assert ((batch.processing_status, batch.request_counts.processing), await only_row(gw)) == (
        ("in_progress", 2),
        unpriced("anthropic", "messages_batches", "POST", "not_metered"),
    )


async def test_anthropic_batch_list(gw: Harness, claude: anthropic.AsyncAnthropic) -> None:
    created = await claude.messages.batches.create(requests=BATCH)
    listed = [b async for b in claude.messages.batches.list()]
    records = await gw.records(expected=2)
    seen = [(r.operation, r.request_method, r.status_code, r.error_message) for r in records]
    assert ([(b.id, b.processing_status) for b in listed], seen) == (
        [(created.id, "ended")],
        [("messages_batches", "POST", 200, None), ("messages_batches", "GET", 200, None)],
    )


async def test_anthropic_batch_list_is_not_billable(gw: Harness, claude: anthropic.AsyncAnthropic) -> None:
    _ = [b async for b in claude.messages.batches.list()]
    assert await only_row(gw) == unpriced("anthropic", "messages_batches", "GET")


# A batch's `results_url` points at the gateway, so the SDK fetches the results through it. Left as the
# provider sent it, `batches.results()` would go to the provider directly: unrecorded, and with whatever key
# sits in the SDK's slot (a Majordomo key, with the gateway holding the provider key) sent to the provider.


async def test_an_ended_batch_names_the_gateway_as_where_its_results_are(
    gw: Harness, claude: anthropic.AsyncAnthropic
) -> None:
    created = await claude.messages.batches.create(requests=BATCH)
    again = await claude.messages.batches.retrieve(created.id)
    listed = [b async for b in claude.messages.batches.list()]
    expected = f"{gw.url}/v1/messages/batches/{created.id}/results"
    assert (created.results_url, again.results_url, [b.results_url for b in listed]) == (None, expected, [expected])


async def test_the_sdk_downloads_batch_results_through_the_gateway(
    gw: Harness, claude: anthropic.AsyncAnthropic
) -> None:
    created = await claude.messages.batches.create(requests=BATCH)
    await claude.messages.batches.retrieve(created.id)
    results = [r async for r in await claude.messages.batches.results(created.id)]
    records = await gw.records(expected=3)
    assert (
        [(r.custom_id, r.result.type) for r in results],
        [(r.request_method, r.request_path, r.status_code, r.pricing_status) for r in records][-1],
        (gw.sim.requests[-1].path, gw.sim.requests[-1].header("authorization")),
    ) == (
        [("q0", "succeeded"), ("q1", "succeeded")],
        ("GET", f"/v1/messages/batches/{created.id}/results", 200, "not_billable"),
        (f"/v1/messages/batches/{created.id}/results", "Bearer sk-ant-test"),  # the SDK's key, via the gateway
    )


async def test_behind_a_load_balancer_the_forwarded_origin_is_used(gw: Harness, http: aiohttp.ClientSession) -> None:
    headers = {**gw.headers(), "anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}
    async with http.post(gw.url + "/v1/messages/batches", json={"requests": BATCH}, headers=headers) as resp:
        batch_id = (await resp.json())["id"]
    forwarded = {**headers, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "llm.example.com"}
    async with http.get(f"{gw.url}/v1/messages/batches/{batch_id}", headers=forwarded) as resp:
        body = await resp.json()
    assert body["results_url"] == f"https://llm.example.com/v1/messages/batches/{batch_id}/results"


async def test_a_provider_prefix_the_client_used_is_kept(gw: Harness, http: aiohttp.ClientSession) -> None:
    headers = {**gw.headers(), "anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}
    url = gw.url + "/anthropic/v1/messages/batches"
    async with http.post(url, json={"requests": BATCH}, headers=headers) as resp:
        batch_id = (await resp.json())["id"]
    async with http.get(f"{url}/{batch_id}", headers=headers) as resp:
        body = await resp.json()
    assert body["results_url"] == f"{gw.url}/anthropic/v1/messages/batches/{batch_id}/results"


# -- google-genai SDK ------------------------------------------------------------------------------------------


async def test_gemini_count_tokens(gw: Harness, gemini: genai.Client) -> None:
    counted = await gemini.aio.models.count_tokens(model="gemini-2.5-flash", contents="What is the capital of France?")
    assert ((counted.total_tokens or 0) > 0, await only_row(gw)) == (True, unpriced("gemini", "count_tokens", "POST"))


async def test_gemini_embed_content_is_recorded_billed_but_unmetered(gw: Harness, gemini: genai.Client) -> None:
    """The Gemini API bills embeddings but reports no usage for them: nothing to price, and the row says so."""
    result = await gemini.aio.models.embed_content(
        model="gemini-embedding-001",
        contents=["a", "b"],
        config=genai_types.EmbedContentConfig(output_dimensionality=8),
    )
    lengths = [len(e.values or ()) for e in result.embeddings or ()]
    assert (lengths, gw.sim.requests[0].path, await only_row(gw)) == (
        [8, 8],
        "/v1beta/models/gemini-embedding-001:batchEmbedContents",
        unpriced("gemini", "embeddings", "POST", "not_metered"),
    )


async def test_gemini_models_list(gw: Harness, gemini: genai.Client) -> None:
    names = [m.name async for m in await gemini.aio.models.list()]
    expected = [f"models/{m[0]}" for m in sim_gemini.MODELS]
    assert (names, await only_row(gw)) == (expected, unpriced("gemini", "models", "GET"))


async def test_gemini_models_get(gw: Harness, gemini: genai.Client) -> None:
    model = await gemini.aio.models.get(model="gemini-2.5-flash")
    assert ((model.name, model.output_token_limit), await only_row(gw)) == (
        ("models/gemini-2.5-flash", 65536),
        unpriced("gemini", "models", "GET"),
    )
