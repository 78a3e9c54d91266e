"""The google-genai SDK accepts the synthetic Gemini replies (generateContent, SSE stream, function calls)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from google.genai.types import MediaModality
from inline_snapshot import snapshot

from majordomo_otel.sim import SimServer, SimUsage

# google-genai subclasses aiohttp.ClientSession; aiohttp warns about that, not about us.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

PROMPT = "What is the capital of France?"


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[genai.Client]:
    client = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=sim.url))
    yield client
    await client.aio.aclose()


async def test_generate_content_text(sim: SimServer, client: genai.Client) -> None:
    response = await client.aio.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    usage = response.usage_metadata
    assert usage is not None
    assert (response.text, response.model_version, usage.model_dump(exclude_none=True)) == snapshot(
        (
            "sim answer to: What is the capital of France?",
            "gemini-2.5-flash",
            {
                "candidates_token_count": 9,
                "prompt_token_count": 21,
                "prompt_tokens_details": [{"modality": MediaModality.TEXT, "token_count": 21}],
                "total_token_count": 30,
            },
        )
    )
    assert (sim.requests[0].path, sim.requests[0].usage) == (
        "/v1beta/models/gemini-2.5-flash:generateContent",
        SimUsage(input_tokens=usage.prompt_token_count or 0, output_tokens=usage.candidates_token_count or 0),
    )


async def test_stream_is_sse_with_cumulative_usage(sim: SimServer, client: genai.Client) -> None:
    stream = await client.aio.models.generate_content_stream(
        model="gemini-2.5-flash",
        contents=PROMPT,
        config={"http_options": {"headers": {"X-Sim-Reasoning-Tokens": "16"}}},
    )
    chunks = [chunk async for chunk in stream]
    last = chunks[-1].usage_metadata
    assert last is not None
    assert (
        sim.requests[0].path,
        "".join(c.text or "" for c in chunks),
        [c.usage_metadata.candidates_token_count for c in chunks],  # type: ignore[union-attr]
        last.thoughts_token_count,
    ) == snapshot(
        (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            "sim answer to: What is the capital of France?",
            [None, None, None, None, None, None, None, None, 9],
            16,
        )
    )


async def test_function_call_from_declaration(sim: SimServer, client: genai.Client) -> None:
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_capital",
                parameters_json_schema={
                    "type": "object",
                    "properties": {"country": {"type": "string"}, "year": {"type": "integer"}},
                    "required": ["country", "year"],
                },
            )
        ]
    )
    response = await client.aio.models.generate_content(
        model="gemini-2.5-flash",
        contents=PROMPT,
        config=types.GenerateContentConfig(
            tools=[tool], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
        ),
    )
    call = response.function_calls[0]  # type: ignore[index]
    assert (call.name, call.args) == snapshot(("get_capital", {"country": "a", "year": 1}))


async def test_count_tokens(sim: SimServer, client: genai.Client) -> None:
    counted = await client.aio.models.count_tokens(model="gemini-2.5-flash", contents=PROMPT)
    assert (counted.total_tokens, sim.requests[0].path) == snapshot((21, "/v1beta/models/gemini-2.5-flash:countTokens"))


async def test_embed_content_is_one_embedding_per_content_and_no_usage(sim: SimServer, client: genai.Client) -> None:
    result = await client.aio.models.embed_content(
        model="gemini-embedding-001", contents=["a", "b"], config=types.EmbedContentConfig(output_dimensionality=4)
    )
    assert ([e.values for e in result.embeddings or ()], sim.requests[0].usage) == snapshot(
        ([[-0.441176, -0.382353, -0.323529, -0.264706], [-0.382353, -0.264706, -0.147059, -0.029412]], None)
    )


async def test_embed_content_single_endpoint(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 2}
    async with http.post(sim.url + "/v1beta/models/gemini-embedding-001:embedContent", json=body) as response:
        assert (response.status, await response.json()) == snapshot(
            (200, {"embedding": {"values": [-0.441176, -0.382353]}})
        )


async def test_batch_embed_with_another_model_in_a_request_is_a_400(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    body = {"requests": [{"model": "models/other", "content": {"parts": [{"text": "a"}]}}]}
    async with http.post(sim.url + "/v1beta/models/gemini-embedding-001:batchEmbedContents", json=body) as response:
        assert (response.status, (await response.json())["error"]["status"]) == (400, "INVALID_ARGUMENT")


async def test_models_list_pages_with_page_tokens(sim: SimServer, client: genai.Client) -> None:
    names = [m.name async for m in await client.aio.models.list(config={"page_size": 2})]
    assert (names, len(sim.requests)) == snapshot(
        (
            [
                "models/gemini-2.5-pro",
                "models/gemini-2.5-flash",
                "models/gemini-2.5-flash-lite",
                "models/gemini-2.0-flash",
                "models/gemini-embedding-001",
            ],
            3,
        )
    )


async def test_models_get(client: genai.Client) -> None:
    model = await client.aio.models.get(model="gemini-embedding-001")
    assert (model.name, model.supported_actions, model.input_token_limit) == snapshot(
        (
            "models/gemini-embedding-001",
            ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"],
            2048,
        )
    )


async def test_models_get_unknown_is_the_sdk_not_found_error(client: genai.Client) -> None:
    with pytest.raises(genai_errors.ClientError) as raised:
        await client.aio.models.get(model="gemini-nope")
    assert (raised.value.code, raised.value.status) == (404, "NOT_FOUND")


@pytest.mark.parametrize("query", ["pageToken=-1", "pageToken=x", "pageSize=x"])
async def test_models_list_with_a_bad_page_is_a_400(sim: SimServer, http: aiohttp.ClientSession, query: str) -> None:
    async with http.get(f"{sim.url}/v1beta/models?{query}") as response:
        assert (response.status, (await response.json())["error"]["status"]) == (400, "INVALID_ARGUMENT")
