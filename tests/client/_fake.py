"""A recording stand-in for the gateway (and for "another host") until `majordomo_otel.sim` lands.

It answers like OpenAI chat completions, Anthropic messages and Gemini generateContent: one tool
call (`lookup`) first, then text once a tool result is in the conversation; streaming and not. It
runs in its own thread and loop, so tests on any event loop (or threads) can use it; port 0.
It also accepts OTLP/HTTP traces at /v1/traces (for the `opentelemetry-instrument` set-up).
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; last value wins
    body: Any


def _has_tool_result(body: Any) -> bool:
    """True once a tool result is in the conversation, or when no tools are offered (answer at once)."""
    if not (isinstance(body, dict) and body.get("tools")):
        return True
    text = json.dumps(body)
    return '"role": "tool"' in text or '"tool_result"' in text or '"functionResponse"' in text


def _sse(events: list[Any], named: bool = False) -> bytes:
    out = []
    for event in events:
        if named:
            out.append(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n")
        else:
            out.append(f"data: {json.dumps(event)}\n\n")
    return "".join(out).encode()


def _openai(body: Any) -> web.Response:
    model = body.get("model", "gpt-4o")
    done = _has_tool_result(body)
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": "The answer is 42." if done else None}
        if not done:
            message["tool_calls"] = [call]
        payload = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop" if done else "tool_calls"}],
            "usage": usage,
        }
        return web.json_response(payload)
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": model}
    delta: dict[str, Any] = (
        {"role": "assistant", "content": "The answer is 42."}
        if done
        else {"role": "assistant", "tool_calls": [{"index": 0, **call}]}
    )
    chunks = [
        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop" if done else "tool_calls"}]},
        {**base, "choices": [], "usage": usage},
    ]
    return web.Response(body=_sse(chunks) + b"data: [DONE]\n\n", content_type="text/event-stream")


def _anthropic(body: Any) -> web.Response:
    model = body.get("model", "claude-sonnet-4-20250514")
    done = _has_tool_result(body)
    block: dict[str, Any] = (
        {"type": "text", "text": "The answer is 42."}
        if done
        else {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}
    )
    stop = "end_turn" if done else "tool_use"
    if not body.get("stream"):
        return web.json_response(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [block],
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 5},
            }
        )
    start = {**block, "text": ""} if done else {**block, "input": {}}
    delta = (
        {"type": "text_delta", "text": "The answer is 42."}
        if done
        else {"type": "input_json_delta", "partial_json": '{"q": "x"}'}
    )
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    events = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": start},
        {"type": "content_block_delta", "index": 0, "delta": delta},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ]
    return web.Response(body=_sse(events, named=True), content_type="text/event-stream")


def _gemini(body: Any, model: str, stream: bool) -> web.Response:
    done = _has_tool_result(body)
    part = {"text": "The answer is 42."} if done else {"functionCall": {"name": "lookup", "args": {"q": "x"}}}
    payload = {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
        "modelVersion": model,
        "responseId": "resp-1",
    }
    if stream:
        return web.Response(body=_sse([payload]), content_type="text/event-stream")
    return web.json_response(payload)


@dataclass
class FakeServer:
    requests: list[Recorded] = field(default_factory=list)
    otlp: list[bytes] = field(default_factory=list)
    url: str = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if request.path == "/v1/traces":
            self.otlp.append(raw)
            return web.Response(body=b"", content_type="application/x-protobuf")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append(
            Recorded(request.method, request.path, {k.lower(): v for k, v in request.headers.items()}, body)
        )
        path = request.path
        if path.endswith("/chat/completions"):
            return _openai(body)
        if path.endswith("/messages"):
            return _anthropic(body)
        if ":generateContent" in path or ":streamGenerateContent" in path:
            model = path.rsplit("/", 1)[-1].split(":")[0]
            return _gemini(body, model, "stream" in path)
        return web.json_response({"ok": True})

    def start(self) -> FakeServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.url = f"http://127.0.0.1:{port}"
            ready.set()

        def run() -> None:
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def majordomo_headers(self) -> list[dict[str, str]]:
        return [{k: v for k, v in r.headers.items() if k.startswith("x-majordomo-")} for r in self.requests]
