"""The real OpenAI SDK accepts every synthetic OpenAI reply and reads the usage the sim sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from dirty_equals import IsStr
from inline_snapshot import snapshot

from majordomo_otel.sim import SimServer, SimUsage

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "units": {"enum": ["c", "f"]},
            },
            "required": ["city", "days", "units"],
        },
    },
}


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="x", max_retries=0) as client:
        yield client


async def test_chat_text(sim: SimServer, client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.model_dump(exclude_none=True) == snapshot(
        {
            "id": IsStr(regex=r"chatcmpl-[0-9a-f]{24}"),
            "choices": [
                {
                    "finish_reason": "stop",
                    "index": 0,
                    "message": {
                        "content": "sim answer to: What is the capital of France?",
                        "role": "assistant",
                        "annotations": [],
                    },
                }
            ],
            "created": completion.created,
            "model": "gpt-4o-mini",
            "object": "chat.completion",
            "service_tier": "default",
            "usage": {
                "completion_tokens": 9,
                "prompt_tokens": 23,
                "total_tokens": 32,
                "completion_tokens_details": {
                    "accepted_prediction_tokens": 0,
                    "audio_tokens": 0,
                    "reasoning_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
                "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0},
            },
        }
    )
    usage = completion.usage
    assert usage is not None
    assert sim.requests[0].usage == SimUsage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens)


async def test_chat_tool_call_from_schema(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=[WEATHER_TOOL])
    call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (completion.choices[0].finish_reason, call.function.name, call.function.arguments) == snapshot(
        ("tool_calls", "get_weather", '{"city":"a","days":1,"units":"c"}')
    )


async def test_chat_stream_with_usage(sim: SimServer, client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert usage is not None
    assert (text, len(chunks), chunks[-1].choices, usage.prompt_tokens, usage.completion_tokens) == snapshot(
        ("sim answer to: What is the capital of France?", 12, [], 37, 9)
    )
    assert sim.requests[0].usage == SimUsage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens)


async def test_chat_stream_without_usage_has_none(sim: SimServer, client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert ([c.usage for c in chunks if c.usage], sim.requests[0].usage) == ([], None)


async def test_chat_stream_tool_call_arguments_reassemble(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        tools=[WEATHER_TOOL],
        stream=True,
        extra_headers={"X-Sim-Chunks": "5"},
    )
    deltas = [c.choices[0].delta.tool_calls async for c in stream if c.choices and c.choices[0].delta.tool_calls]
    arguments = "".join(d[0].function.arguments or "" for d in deltas if d[0].function)
    assert (deltas[0][0].function.name, len(deltas), arguments) == snapshot(  # type: ignore[union-attr]
        ("get_weather", 6, '{"city":"a","days":1,"units":"c"}')
    )


async def test_chat_forced_cache_and_reasoning(sim: SimServer, client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="gpt-5",
        messages=MESSAGES,
        extra_headers={
            "X-Sim-Cached-Tokens": "1024",
            "X-Sim-Reasoning-Tokens": "64",
            "X-Sim-Output-Tokens": "20",
        },
    )
    usage = completion.usage
    assert usage is not None
    assert usage.model_dump(exclude_none=True) == snapshot(
        {
            "completion_tokens": 84,
            "prompt_tokens": 1046,
            "total_tokens": 1130,
            "completion_tokens_details": {
                "accepted_prediction_tokens": 0,
                "audio_tokens": 0,
                "reasoning_tokens": 64,
                "rejected_prediction_tokens": 0,
            },
            "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 1024},
        }
    )
    assert sim.requests[0].usage == SimUsage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cache_read_tokens=1024,
        reasoning_tokens=64,
    )


async def test_responses_text(sim: SimServer, client: openai.AsyncOpenAI) -> None:
    response = await client.responses.create(model="gpt-4o", input="What is the capital of France?")
    assert (response.output_text, response.model, response.usage.model_dump(exclude_none=True)) == snapshot(  # type: ignore[union-attr]
        (
            "sim answer to: What is the capital of France?",
            "gpt-4o",
            {
                "input_tokens": 14,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 9,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 23,
            },
        )
    )


async def test_responses_stream_function_call(sim: SimServer, client: openai.AsyncOpenAI) -> None:
    tool = {
        "type": "function",
        "name": "get_weather",
        **{"parameters": WEATHER_TOOL["function"]["parameters"]},
    }
    stream = await client.responses.create(model="gpt-4o", input="weather?", tools=[tool], stream=True)  # type: ignore[list-item]
    events = [event async for event in stream]
    final = events[-1].response  # type: ignore[union-attr]
    item = final.output[0]
    assert ([e.type for e in events], item.type, item.arguments, final.usage.output_tokens) == snapshot(  # type: ignore[union-attr]
        (
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ],
            "function_call",
            '{"city":"a","days":1,"units":"c"}',
            11,
        )
    )


async def test_responses_stream_text_deltas(client: openai.AsyncOpenAI) -> None:
    stream = await client.responses.create(model="gpt-4o", input="hello", stream=True)
    deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
    assert deltas == snapshot(["sim", " answer", " to:", " hello"])


async def test_embeddings(sim: SimServer, client: openai.AsyncOpenAI) -> None:
    result = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=4)
    assert ([len(d.embedding) for d in result.data], result.model, result.usage.prompt_tokens) == snapshot(
        ([4, 4], "text-embedding-3-small", 23)
    )


async def test_legacy_completions(client: openai.AsyncOpenAI) -> None:
    result = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    assert (result.choices[0].text, result.usage.completion_tokens) == snapshot(("sim answer to: Say hi", 5))  # type: ignore[union-attr]


async def test_error_status_raises_the_sdk_error(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as raised:
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers={"X-Sim-Status": "500"})
    assert raised.value.status_code == 500


async def test_chat_stream_reporting_usage_unasked_puts_it_on_the_last_chunk(
    sim: SimServer, client: openai.AsyncOpenAI
) -> None:
    stream = await client.chat.completions.create(
        model="mistral-small-latest", messages=MESSAGES, stream=True, extra_headers={"X-Sim-Stream-Usage": "always"}
    )
    chunks = [chunk async for chunk in stream]
    usage = chunks[-1].usage
    assert usage is not None
    assert (
        [bool(c.choices) for c in chunks],
        [c.usage is not None for c in chunks[:-1]],
        chunks[-1].choices[0].finish_reason,
        sim.requests[0].usage,
    ) == (
        [True] * len(chunks),
        [False] * (len(chunks) - 1),
        "stop",
        SimUsage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens),
    )


async def test_models_list_and_retrieve(client: openai.AsyncOpenAI) -> None:
    ids = [m.id async for m in client.models.list()]
    model = await client.models.retrieve("gpt-4o")
    assert (ids, model.model_dump(exclude_none=True)) == snapshot(
        (
            ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini", "text-embedding-3-small", "omni-moderation-latest"],
            {"id": "gpt-4o", "created": 1715367049, "object": "model", "owned_by": "system"},
        )
    )


async def test_models_retrieve_unknown_is_the_sdk_not_found_error(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        await client.models.retrieve("gpt-nope")
    assert raised.value.body == snapshot(
        {
            "message": "The model 'gpt-nope' does not exist",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    )


async def test_moderations_one_unflagged_result_per_text(sim: SimServer, client: openai.AsyncOpenAI) -> None:
    result = await client.moderations.create(model="omni-moderation-latest", input=["hello", "world"])
    first = result.results[0]
    assert (
        result.model,
        [r.flagged for r in result.results],
        any(first.categories.model_dump().values()),
        first.category_applied_input_types.violence,
        sim.requests[0].usage,
    ) == ("omni-moderation-latest", [False, False], False, ["text"], None)


async def test_moderations_of_an_image_apply_image_categories_once(client: openai.AsyncOpenAI) -> None:
    parts: Any = [
        {"type": "text", "text": "hello"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    result = await client.moderations.create(model="omni-moderation-latest", input=parts)
    [only] = result.results
    assert (only.category_applied_input_types.violence, only.category_applied_input_types.hate) == (
        ["text", "image"],
        ["text"],
    )


async def test_moderations_without_input_is_a_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        await client.moderations.create(model="omni-moderation-latest", input=[])
