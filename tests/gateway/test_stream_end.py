"""A finished stream is a success, whatever the client does next.

The openai SDK stops reading at `data: [DONE]` and closes the connection (the sync client at once, the
async one after draining the body for at most 100 ms); the provider ends the body a moment later. Before
the fix the gateway recorded those complete, delivered streams as 499 "client disconnected" (3 of 20 with
a 1 ms gap, 19 of 20 with 5 ms). Here the real SDK reads 20 streams per gap from a stand-in that ends the
body that long after `[DONE]`: every row is a priced 200 with no error."""

from __future__ import annotations

import asyncio

import openai
import pytest
from gateway_harness import Harness

STREAMS = 20
MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Hi"}]
ASYNC_DRAIN_MS = 100
"""How long the async client reads on after `[DONE]` before it closes (openai's `_DRAIN_TIMEOUT`)."""
HANG_UP_GAP_MS = 400


def _sync_streams(gw: Harness, gap_ms: int, count: int) -> list[str]:
    headers = gw.headers(**{"X-Sim-End-Delay-Ms": str(gap_ms)})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-test", max_retries=0, default_headers=headers) as client:
        streams = (
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) for _ in range(count)
        )
        return ["".join(c.choices[0].delta.content or "" for c in s if c.choices) for s in streams]


async def _async_streams(gw: Harness, gap_ms: int, count: int) -> list[str]:
    headers = gw.headers(**{"X-Sim-End-Delay-Ms": str(gap_ms)})
    async with openai.AsyncOpenAI(
        base_url=gw.url + "/v1", api_key="sk-test", max_retries=0, default_headers=headers
    ) as client:
        texts = []
        for _ in range(count):
            stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
            texts.append("".join([c.choices[0].delta.content or "" async for c in stream if c.choices]))
        return texts


async def _outcomes(gw: Harness, count: int) -> list[tuple[object, ...]]:
    records = await gw.records(expected=count)
    await gw.sim.wait_finished()
    return [(r.status_code, r.usage_status, r.pricing_status, r.error_message) for r in records]


SUCCESS = (200, "reported", "priced", None)


@pytest.mark.parametrize("gap_ms", [1, 5, 50])
async def test_sync_client_closing_at_done_leaves_priced_successes(gw: Harness, gap_ms: int) -> None:
    texts = await asyncio.to_thread(_sync_streams, gw, gap_ms, STREAMS)
    assert (len(set(texts)), bool(texts[0]), await _outcomes(gw, STREAMS)) == (1, True, [SUCCESS] * STREAMS)


async def test_async_client_closing_after_its_drain_leaves_priced_successes(gw: Harness) -> None:
    texts = await _async_streams(gw, ASYNC_DRAIN_MS + 30, STREAMS)
    assert (len(set(texts)), bool(texts[0]), await _outcomes(gw, STREAMS)) == (1, True, [SUCCESS] * STREAMS)


async def test_the_clients_do_hang_up_before_the_body_ends(gw: Harness) -> None:
    """What the tests above rely on: the SDK is gone before the body's end, so the gateway hangs up on the
    provider too, and the sim sees each disconnect (a long gap, so a busy machine notices in time)."""
    await asyncio.to_thread(_sync_streams, gw, HANG_UP_GAP_MS, 1)
    await _async_streams(gw, HANG_UP_GAP_MS, 1)
    outcomes = await _outcomes(gw, 2)
    assert ([r.disconnected for r in gw.sim.requests], outcomes) == ([True, True], [SUCCESS] * 2)
