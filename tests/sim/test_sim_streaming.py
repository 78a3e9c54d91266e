"""Streams go out event by event: pacing, holding the last event, cutting, and noticing a client that left."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from inline_snapshot import snapshot

from majordomo_otel.sim import SimServer, load_fixtures

STREAM = "openai/chat_stream_usage_text"


async def test_held_stream_sends_first_event_before_release(sim: SimServer, http: aiohttp.ClientSession) -> None:
    fixture = load_fixtures()[STREAM]
    chunks = fixture.wire_chunks()
    async with http.post(sim.url + "/v1/chat/completions", headers={"X-Sim-Fixture": STREAM, "X-Sim-Hold": "1"}) as r:
        received = b""
        while len(received) < len(b"".join(chunks[:-1])):
            received += await asyncio.wait_for(r.content.readany(), 2)
        await asyncio.sleep(0.05)
        assert r.content.at_eof() is False
        assert received == b"".join(chunks[:-1])
        sim.release()
        received += await r.content.read()
    assert received == fixture.wire_body()


async def test_delay_paces_every_write(sim: SimServer, http: aiohttp.ClientSession) -> None:
    events = len(load_fixtures()[STREAM].wire_chunks())
    started = time.monotonic()
    async with http.post(sim.url + "/x", headers={"X-Sim-Fixture": STREAM, "X-Sim-Delay-Ms": "10"}) as r:
        await r.read()
    assert time.monotonic() - started >= events * 0.010


async def test_client_disconnect_mid_stream_is_recorded(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + "/x", headers={"X-Sim-Fixture": STREAM, "X-Sim-Hold": "1"}) as r:
        await r.content.readany()
        r.close()
    await sim.wait_finished()
    assert (sim.requests[0].disconnected, sim.requests[0].finished) == (True, True)


async def test_completed_stream_is_not_marked_disconnected(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + "/x", headers={"X-Sim-Fixture": STREAM}) as r:
        await r.read()
    await sim.wait_finished()
    assert sim.requests[0].disconnected is False


async def test_cut_after_closes_the_connection_after_n_events(sim: SimServer, http: aiohttp.ClientSession) -> None:
    chunks = load_fixtures()[STREAM].wire_chunks()
    received = b""
    error: type[BaseException] | None = None
    async with http.post(sim.url + "/x", headers={"X-Sim-Fixture": STREAM, "X-Sim-Cut-After": "3"}) as r:
        try:
            async for data in r.content.iter_any():
                received += data
        except aiohttp.ClientPayloadError as exc:
            error = type(exc)
    assert (received, error) == (b"".join(chunks[:3]), aiohttp.ClientPayloadError)


async def test_malformed_stream_ends_in_a_broken_event(sim: SimServer, http: aiohttp.ClientSession) -> None:
    chunks = load_fixtures()[STREAM].wire_chunks()
    async with http.post(sim.url + "/x", headers={"X-Sim-Fixture": STREAM, "X-Sim-Malformed": "1"}) as r:
        body = await r.read()
    assert body == b"".join(chunks[: len(chunks) // 2]) + b'data: {"broken": tru\n\n'


async def test_malformed_json_is_cut_in_half(sim: SimServer, http: aiohttp.ClientSession) -> None:
    headers = {"X-Sim-Malformed": "1"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(sim.url + "/v1/chat/completions", json=body, headers=headers) as r:
        text = await r.text()
    assert (r.status, text.startswith('{"id":"chatcmpl-'), text.endswith("}")) == (200, True, False)


async def test_status_header_returns_provider_shaped_errors(sim: SimServer, http: aiohttp.ClientSession) -> None:
    results = {}
    for path in ("/v1/chat/completions", "/v1/messages", "/v1beta/models/gemini-2.5-flash:generateContent"):
        async with http.post(sim.url + path, json={"model": "m"}, headers={"X-Sim-Status": "529"}) as r:
            results[path] = (r.status, await r.json())
    assert results == snapshot(
        {
            "/v1/chat/completions": (
                529,
                {
                    "error": {
                        "message": "sim: error 529 requested with X-Sim-Status",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                },
            ),
            "/v1/messages": (
                529,
                {
                    "type": "error",
                    "error": {
                        "type": "overloaded_error",
                        "message": "sim: error 529 requested with X-Sim-Status",
                    },
                    "request_id": "req_sim",
                },
            ),
            "/v1beta/models/gemini-2.5-flash:generateContent": (
                529,
                {
                    "error": {
                        "code": 529,
                        "message": "sim: error 529 requested with X-Sim-Status",
                        "status": "INTERNAL",
                    }
                },
            ),
        }
    )


async def test_end_delay_ends_the_body_that_long_after_the_last_event(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(sim.url + "/v1/chat/completions", json=body, headers={"X-Sim-End-Delay-Ms": "200"}) as r:
        received = b""
        while not received.endswith(b"data: [DONE]\n\n"):
            received += await asyncio.wait_for(r.content.readany(), 2)
        done_at = time.monotonic()
        rest = await r.content.read()
        gap = time.monotonic() - done_at
    assert (rest, gap >= 0.15) == (b"", True)
