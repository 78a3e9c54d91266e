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


async def test_models_list_pages_newest_first(sim: SimServer, client: anthropic.AsyncAnthropic) -> None:
    ids = [m.id async for m in client.models.list(limit=2)]
    assert (ids, [r.path for r in sim.requests]) == snapshot(
        (
            [
                "claude-haiku-4-5-20251001",
                "claude-sonnet-4-5-20250929",
                "claude-opus-4-1-20250805",
                "claude-sonnet-4-20250514",
                "claude-3-5-haiku-20241022",
            ],
            [
                "/v1/models?limit=2",
                "/v1/models?limit=2&after_id=claude-sonnet-4-5-20250929",
                "/v1/models?limit=2&after_id=claude-sonnet-4-20250514",
            ],
        )
    )


async def test_models_list_before_id_is_the_page_before(client: anthropic.AsyncAnthropic) -> None:
    page = await client.models.list(limit=2, before_id="claude-sonnet-4-20250514")
    assert ([m.id for m in page.data], page.has_more) == snapshot(
        (["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805"], True)
    )


async def test_models_retrieve_by_alias(client: anthropic.AsyncAnthropic) -> None:
    model = await client.models.retrieve("claude-sonnet-4-5")
    assert model.model_dump(mode="json", exclude_none=True) == snapshot(
        {
            "id": "claude-sonnet-4-5-20250929",
            "created_at": "2025-09-29T00:00:00Z",
            "display_name": "Claude Sonnet 4.5",
            "lifecycle": "active",
            "max_input_tokens": 200000,
            "max_tokens": 64000,
            "type": "model",
        }
    )


async def test_models_retrieve_unknown_is_the_sdk_not_found_error(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        await client.models.retrieve("claude-nope")


BATCH = [
    {"custom_id": f"q{n}", "params": {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": MESSAGES}}
    for n in range(2)
]


async def test_batch_is_in_progress_when_created_and_ended_when_looked_at_again(
    client: anthropic.AsyncAnthropic,
) -> None:
    created = await client.messages.batches.create(requests=BATCH)  # type: ignore[arg-type]
    again = await client.messages.batches.retrieve(created.id)
    assert (
        (created.processing_status, created.request_counts.processing, created.results_url),
        (again.processing_status, again.request_counts.succeeded, again.ended_at is not None),
        again.results_url is not None and again.results_url.endswith(f"/v1/messages/batches/{created.id}/results"),
    ) == (("in_progress", 2, None), ("ended", 2, True), True)


async def test_batch_results_are_the_messages_each_request_would_get(client: anthropic.AsyncAnthropic) -> None:
    created = await client.messages.batches.create(requests=BATCH)  # type: ignore[arg-type]
    results = [r async for r in await client.messages.batches.results(created.id)]
    assert [(r.custom_id, r.result.type, r.result.message.content[0].text) for r in results] == snapshot(  # type: ignore[union-attr]
        [
            ("q0", "succeeded", "sim answer to: What is the capital of France?"),
            ("q1", "succeeded", "sim answer to: What is the capital of France?"),
        ]
    )


async def test_batch_canceled_before_it_ended_has_canceled_results(client: anthropic.AsyncAnthropic) -> None:
    created = await client.messages.batches.create(requests=BATCH)  # type: ignore[arg-type]
    canceling = await client.messages.batches.cancel(created.id)
    results = [r async for r in await client.messages.batches.results(created.id)]
    ended = await client.messages.batches.retrieve(created.id)
    assert (
        canceling.processing_status,
        [r.result.type for r in results],
        (ended.processing_status, ended.request_counts.canceled),
    ) == ("canceling", ["canceled", "canceled"], ("ended", 2))


async def test_batch_list_is_newest_first(client: anthropic.AsyncAnthropic) -> None:
    first = await client.messages.batches.create(requests=BATCH)  # type: ignore[arg-type]
    second = await client.messages.batches.create(requests=BATCH)  # type: ignore[arg-type]
    listed = [b.id async for b in client.messages.batches.list()]
    assert (listed, first.id != second.id) == ([second.id, first.id], True)


async def test_batch_without_custom_ids_is_a_400(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.batches.create(requests=[{"params": BATCH[0]["params"]}])  # type: ignore[typeddict-item, list-item]


async def test_unknown_batch_is_the_sdk_not_found_error(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.batches.retrieve("msgbatch_nope")
