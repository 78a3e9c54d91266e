"""The google-genai SDK accepts the synthetic Gemini replies (generateContent, SSE stream, function calls)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from google import genai
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
