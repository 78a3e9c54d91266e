"""The usage readers' process-wide buffer cap, end to end through the gateway.

Many responses whose big events are all half-read at the same moment: the readers buffer no more
than the cap together, those refused record that their usage was too large to read, and every
client still gets its bytes exactly as the provider sent them. The gateway runs in this process,
so the cap is lowered here with `set_buffer_cap` (a few MiB, not the default 256 MiB).

The stand-in provider is a small aiohttp app rather than `SimServer`: the sim can send one big
event (`X-Sim-Output-Tokens` with `X-Sim-Chunks: 1`) but cannot stop in the middle of it, and
the test needs every response stopped there until all of them have reached their clients.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from gateway_harness import Harness, sim_settings, start_gateway

from majordomo_otel.gateway.usage._budget import BUFFER_BUDGET, set_buffer_cap
from majordomo_otel.sim import SimServer

MIB = 1024 * 1024
CAP = 4 * MIB
STREAMS = 6
CHAT = "/v1/chat/completions"
MODEL = "gpt-4o-mini-2024-07-18"
USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
TOO_LARGE = "usage too large to read: buffers of all streams over the 4 MiB cap"


def _event(body: dict) -> bytes:
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def sse_response(text_bytes: int) -> tuple[bytes, bytes]:
    """(the first event, the whole stream): its second event carries `text_bytes` of text."""
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": MODEL}
    first = _event({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    rest = (
        _event({**chunk, "choices": [{"index": 0, "delta": {"content": "x" * text_bytes}}]})
        + _event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        + _event({**chunk, "choices": [], "usage": USAGE})
        + b"data: [DONE]\n\n"
    )
    return first, first + rest


def json_response(text_bytes: int) -> bytes:
    message = {"role": "assistant", "content": "x" * text_bytes}
    return json.dumps(
        {
            "id": "c",
            "object": "chat.completion",
            "model": MODEL,
            "choices": [{"index": 0, "message": message}],
            "usage": USAGE,
        }
    ).encode()


@dataclass
class Upstream:
    """Answers every chat request with `body`, sending its first `pause_at` bytes, then waiting for `go`."""

    url: str = ""
    body: bytes = b""
    pause_at: int = 0
    content_type: str = "text/event-stream"
    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": self.content_type})
        if self.content_type == "application/json":
            response.content_length = len(self.body)
        await response.prepare(request)
        await response.write(self.body[: self.pause_at])
        await self.go.wait()
        await response.write(self.body[self.pause_at :])
        await response.write_eof()
        return response


@pytest.fixture
def cap() -> Iterator[int]:
    assert BUFFER_BUDGET.used == 0
    previous = set_buffer_cap(CAP)
    try:
        yield CAP
    finally:
        set_buffer_cap(previous)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    app = web.Application()
    app.router.add_post(CHAT, up.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    up.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield up
    finally:
        up.go.set()
        await runner.cleanup()


@pytest.fixture
async def gateway(upstream: Upstream, cap: int, tmp_path: Path) -> AsyncIterator[Harness]:
    async with SimServer() as sim:  # unused: the harness wants one; OpenAI routes go to `upstream`
        db, spool = f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool"
        settings = sim_settings(sim, db, spool, openai_base_url=upstream.url, usage_buffer_bytes=CAP)
        harness = await start_gateway(settings, sim=sim)
        try:
            yield harness
        finally:
            await harness.runner.cleanup()


async def run_streams(gw: Harness, http: aiohttp.ClientSession, up: Upstream, n: int) -> tuple[list, int]:
    """`n` concurrent requests; once every client has its first `up.pause_at` bytes (so the gateway's
    readers have all been fed them), note the budget and let the upstream finish. Returns
    ([(status, fingerprint of the body)] per client, bytes reserved at that moment)."""
    paused = 0
    at_pause: list[int] = []
    stream = up.content_type == "text/event-stream"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}

    async def client() -> tuple[int, bytes]:
        nonlocal paused
        async with http.post(gw.url + CHAT, json=body, headers=gw.headers()) as resp:
            got = bytearray()
            while len(got) < up.pause_at and (chunk := await resp.content.readany()):
                got += chunk
            paused += 1
            if paused == n:
                at_pause.append(BUFFER_BUDGET.used)
                up.go.set()
            await up.go.wait()
            got += await resp.read()
            return resp.status, fingerprint(got)

    replies = await asyncio.wait_for(asyncio.gather(*(client() for _ in range(n))), 30)
    return list(replies), at_pause[0]


def fingerprint(body: bytes | bytearray) -> tuple[int, str]:
    """A body's length and digest: compared exactly, but short when an assert fails."""
    return len(body), hashlib.sha256(body).hexdigest()


def outcomes(rows) -> list[tuple]:
    return sorted((r.usage_status, r.input_tokens, r.output_tokens, r.error_message) for r in rows)


READ = ("reported", 5, 7, None)
REFUSED = ("unparseable", None, None, TOO_LARGE)


async def _assert_one_read_the_rest_refused(gateway: Harness, upstream: Upstream, http: aiohttp.ClientSession) -> None:
    """Every client gets the bytes; at the pause the budget holds 2.5 MiB; one row read, the rest over the cap."""
    replies, held = await run_streams(gateway, http, upstream, STREAMS)
    rows = await gateway.records(expected=STREAMS)
    assert (replies, held, outcomes(rows), BUFFER_BUDGET.used) == (
        [(200, fingerprint(upstream.body))] * STREAMS,
        5 * MIB // 2,
        [READ] + [REFUSED] * (STREAMS - 1),
        0,
    )


async def test_sse_streams_over_the_cap_together_pass_through_and_note_it(
    gateway: Harness, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    """Each big event fits the cap alone, but two half-read ones do not: exactly one stream is read."""
    first, upstream.body = sse_response(3 * MIB)
    upstream.pause_at = len(first) + 5 * MIB // 2  # 2.5 MiB of the big event pending in each reader
    await _assert_one_read_the_rest_refused(gateway, upstream, http)


async def test_json_bodies_over_the_cap_together_pass_through_and_note_it(
    gateway: Harness, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    upstream.body, upstream.content_type = json_response(3 * MIB), "application/json"
    upstream.pause_at = 5 * MIB // 2
    await _assert_one_read_the_rest_refused(gateway, upstream, http)


async def test_sse_streams_within_the_cap_together_are_all_read(
    gateway: Harness, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    """Their big events all fit the cap together, each one half-read or whole."""
    first, upstream.body = sse_response(600 * 1024)
    upstream.pause_at = len(first) + 300 * 1024  # 6 of 300 KiB pending, later 6 of 600 KiB: under 4 MiB
    replies, held = await run_streams(gateway, http, upstream, STREAMS)
    rows = await gateway.records(expected=STREAMS)
    assert (replies, held, outcomes(rows), BUFFER_BUDGET.used) == (
        [(200, fingerprint(upstream.body))] * STREAMS,
        STREAMS * 300 * 1024,
        [READ] * STREAMS,
        0,
    )
