"""The real Anthropic SDK accepts the synthetic Messages replies; usage is as Anthropic reports it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest
from dirty_equals import IsStr
from inline_snapshot import snapshot

from majordomo_otel.sim import SimServer, SimUsage

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
TOOL = {
    "name": "get_capital",
    "input_schema": {
        "type": "object",
        "properties": {"country": {"type": "string"}, "loud": {"type": "boolean"}},
        "required": ["country", "loud"],
    },
}


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="x", max_retries=0) as client:
        yield client


async def test_message_text(sim: SimServer, client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES)  # type: ignore[arg-type]
    assert message.model_dump(exclude_none=True) == snapshot(
        {
            "id": IsStr(regex=r"msg_[0-9a-f]{24}"),
            "content": [{"text": "sim answer to: What is the capital of France?", "type": "text"}],
            "model": "claude-haiku-4-5",
            "role": "assistant",
            "stop_reason": "end_turn",
            "type": "message",
            "usage": {
                "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "input_tokens": 29,
                "output_tokens": 9,
                "service_tier": "standard",
            },
        }
    )
    assert sim.requests[0].usage == SimUsage(
        input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens
    )


async def test_message_tool_use(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=[TOOL],  # type: ignore[list-item]
    )
    block = message.content[0]
    assert (message.stop_reason, block.type, block.name, block.input) == snapshot(
        ("tool_use", "tool_use", "get_capital", {"country": "a", "loud": True})
    )  # type: ignore[union-attr]


async def test_stream_text_with_forced_cache(sim: SimServer, client: anthropic.AsyncAnthropic) -> None:
    headers = {"X-Sim-Cached-Tokens": "1000", "X-Sim-Cache-Write-Tokens": "200"}
    async with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=MESSAGES,  # type: ignore[arg-type]
        extra_headers=headers,
    ) as stream:
        events = [event.type async for event in stream]
        message = await stream.get_final_message()
    usage = message.usage
    assert (events, message.content[0].text, usage.model_dump(exclude_none=True)) == snapshot(
        (
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "text",
                "content_block_delta",
                "text",
                "content_block_delta",
                "text",
                "content_block_delta",
                "text",
                "content_block_delta",
                "text",
                "content_block_delta",
                "text",
                "content_block_delta",
                "text",
                "content_block_delta",
                "text",
                "content_block_delta",
                "text",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ],
            "sim answer to: What is the capital of France?",
            {
                "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 200},
                "cache_creation_input_tokens": 200,
                "cache_read_input_tokens": 1000,
                "input_tokens": 32,
                "output_tokens": 9,
                "service_tier": "standard",
            },
        )
    )  # type: ignore[union-attr]
    assert sim.requests[0].usage == SimUsage(
        input_tokens=usage.input_tokens + 1200,
        output_tokens=usage.output_tokens,
        cache_read_tokens=1000,
        cache_write_tokens=200,
    )


async def test_stream_tool_use_input_reassembles(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=[TOOL],  # type: ignore[list-item]
    ) as stream:
        message = await stream.get_final_message()
    block = message.content[0]
    assert (message.stop_reason, block.name, block.input) == snapshot(
        ("tool_use", "get_capital", {"country": "a", "loud": True})
    )  # type: ignore[union-attr]


async def test_text_answer_once_a_tool_result_is_present(client: anthropic.AsyncAnthropic) -> None:
    messages = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "get_capital", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "Paris"}]},
    ]
    message = await client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=messages,  # type: ignore[arg-type]
        tools=[TOOL],  # type: ignore[list-item]
    )
    assert (message.stop_reason, message.content[0].text) == snapshot(
        ("end_turn", "sim answer to: What is the capital of France?")
    )  # type: ignore[union-attr]


async def test_count_tokens(client: anthropic.AsyncAnthropic) -> None:
    result = await client.messages.count_tokens(model="claude-haiku-4-5", messages=MESSAGES)  # type: ignore[arg-type]
    assert result.input_tokens == snapshot(25)


async def test_error_status_raises_the_sdk_error(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.APIStatusError) as raised:
        await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=10,
            messages=MESSAGES,  # type: ignore[arg-type]
            extra_headers={"X-Sim-Status": "529"},
        )
    assert (raised.value.status_code, raised.value.body) == snapshot(
        (
            529,
            {
                "type": "error",
                "error": {
                    "type": "overloaded_error",
                    "message": "sim: error 529 requested with X-Sim-Status",
                },
                "request_id": "req_sim",
            },
        )
    )
