"""Synthetic replies on the wire: framing details the SDK tests do not see."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from inline_snapshot import snapshot

from majordomo_otel.sim import SimServer

GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
CHAT_STREAM = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "hi"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


async def test_gemini_sse_uses_crlf_separators(sim: SimServer, http: aiohttp.ClientSession) -> None:
    url = sim.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    async with http.post(url, json=GEMINI_BODY, headers={"X-Sim-Chunks": "2"}) as response:
        body = (await response.read()).decode()
    events = body.split("\r\n\r\n")
    assert (response.headers["Content-Type"], len(events), events[-1]) == ("text/event-stream", 3, "")
    assert [json.loads(e.removeprefix("data: "))["candidates"][0]["content"]["parts"] for e in events[:2]] == snapshot(
        [[{"text": "sim answer"}], [{"text": " to: hi"}]]
    )


async def test_gemini_stream_without_alt_sse_is_a_json_array(sim: SimServer, http: aiohttp.ClientSession) -> None:
    url = sim.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    async with http.post(url, json=GEMINI_BODY, headers={"X-Sim-Chunks": "3"}) as response:
        chunks = json.loads(await response.read())
    assert [c["usageMetadata"] for c in chunks] == snapshot(
        [
            {
                "promptTokenCount": 14,
                "totalTokenCount": 14,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 14}],
            },
            {
                "promptTokenCount": 14,
                "totalTokenCount": 14,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 14}],
            },
            {
                "promptTokenCount": 14,
                "candidatesTokenCount": 4,
                "totalTokenCount": 18,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 14}],
            },
        ]
    )


async def test_gemini_reasoning_is_counted_beside_candidates(sim: SimServer, http: aiohttp.ClientSession) -> None:
    url = sim.url + "/v1beta/models/gemini-2.5-flash:generateContent"
    headers = {"X-Sim-Reasoning-Tokens": "10", "X-Sim-Cached-Tokens": "5"}
    async with http.post(url, json=GEMINI_BODY, headers=headers) as response:
        usage = (await response.json())["usageMetadata"]
    assert usage == snapshot(
        {
            "promptTokenCount": 19,
            "candidatesTokenCount": 4,
            "totalTokenCount": 33,
            "cachedContentTokenCount": 5,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 19}],
            "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 5}],
            "thoughtsTokenCount": 10,
        }
    )


async def test_output_tokens_header_sets_the_answer_size(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(sim.url + "/v1/chat/completions", json=body, headers={"X-Sim-Output-Tokens": "50"}) as r:
        reply = await r.json()
    content = reply["choices"][0]["message"]["content"]
    assert (len(content.split()), reply["usage"]["completion_tokens"]) == (50, 50)


async def test_synthetic_stream_is_one_write_per_event_and_holds(sim: SimServer, http: aiohttp.ClientSession) -> None:
    headers = {"X-Sim-Hold": "1", "X-Sim-Chunks": "2"}
    async with http.post(sim.url + "/v1/chat/completions", json=CHAT_STREAM, headers=headers) as response:
        received = b""
        while received.count(b"\n\n") < 5:
            received += await asyncio.wait_for(response.content.readany(), 2)
        await asyncio.sleep(0.05)
        held = received
        sim.release()
        received += await response.content.read()
    assert (held.count(b"\n\n"), held.endswith(b"[DONE]\n\n"), received.endswith(b"data: [DONE]\n\n")) == (
        5,
        False,
        True,
    )


async def test_unknown_path_is_a_404(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + "/v2/unknown", json={}) as response:
        assert (response.status, (await response.json())["error"]["message"]) == snapshot(
            (404, "sim: no synthetic endpoint for POST /v2/unknown")
        )


async def test_non_json_body_is_a_400(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + "/v1/messages", data=b"nope") as response:
        assert (response.status, (await response.json())["error"]) == snapshot(
            (400, {"type": "invalid_request_error", "message": "sim: request body is not JSON"})
        )
