"""The aiohttp application: routing, fixture replay, synthetic replies, and sending them event by event."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import ClientConnectionResetError, web

from . import _anthropic, _gemini, _openai
from ._controls import Controls
from ._fixtures import Fixture, load_fixtures
from ._fixtures import fixtures_dir as _default_fixtures_dir
from ._recording import RecordedRequest
from ._reply import Reply, error_reply, json_reply, malformed

_CACHE_SIZE = 512
_POLL_S = 0.01

Builder = Callable[[bytes, dict[str, Any], Controls], Reply]


class SimState:
    """Per-app state shared with SimServer: recorded requests, the hold gate, fixtures, reply cache."""

    def __init__(self, fixtures: dict[str, Fixture], record: bool) -> None:
        self.fixtures = fixtures
        self.record = record
        self.requests: list[RecordedRequest] = []
        self.replays: dict[str, Reply] = {key: _fixture_reply(f) for key, f in fixtures.items()}
        self.cache: dict[tuple[Any, ...], Reply] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._released = asyncio.Event()

    def release(self) -> None:
        """Let held streams send their last event. Sticky until `clear()`; safe from any thread."""
        self._in_loop(self._released.set)

    def clear(self) -> None:
        self.requests.clear()
        self._in_loop(self._released.clear)

    def _in_loop(self, fn: Callable[[], None]) -> None:
        loop = self.loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or loop.is_closed():
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    async def wait_released(self, request: web.Request) -> bool:
        """Wait for `release()`; False if the client went away first."""
        while not self._released.is_set():
            if _gone(request):
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), _POLL_S * 5)
        return True


STATE = web.AppKey("majordomo_sim_state", SimState)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _fixture_reply(fixture: Fixture) -> Reply:
    headers = {"-".join(p.capitalize() for p in k.split("-")): v for k, v in fixture.headers.items()}
    streamed = fixture.sse is not None or fixture.stream_format == "json_array"
    return Reply(fixture.status, headers, fixture.wire_chunks(), streamed=streamed)


def create_app(*, fixtures_dir: Path | None = None, record: bool = True) -> web.Application:
    """The sim as an aiohttp app. Fixtures come from `fixtures_dir` (default: `sim.fixtures_dir()`); with
    `record=False` requests are not kept (long runs, benchmarks)."""
    directory = fixtures_dir if fixtures_dir is not None else _default_fixtures_dir()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = SimState(load_fixtures(directory) if directory else {}, record)

    async def on_startup(app: web.Application) -> None:
        app[STATE].loop = asyncio.get_running_loop()

    app.on_startup.append(on_startup)
    app.router.add_get("/_sim/health", _health)
    app.router.add_route("*", "/{tail:.*}", _handle)
    return app


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _route(path: str, query: Any) -> tuple[str, Callable[[bytes, dict[str, Any], Controls], Reply] | None]:
    """(provider for error shapes, reply builder) for a request path; builder None for an unknown path."""
    if path.endswith((":generateContent", ":streamGenerateContent")):
        model_part, _, action = path.rpartition(":")
        model = model_part.rpartition("/models/")[2]
        stream = action == "streamGenerateContent"
        sse = query.get("alt") == "sse"

        def gemini(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
            return _gemini.generate(model, raw, body, controls, stream=stream, sse=sse)

        return "gemini", gemini
    if path.endswith("/messages/count_tokens"):
        return "anthropic", _anthropic.count_tokens
    if path.endswith("/messages"):
        return "anthropic", _anthropic.messages
    if path.endswith("/chat/completions"):
        if "/openai/" in path and path.startswith("/v1beta"):
            return "openai", _compat_chat
        return "openai", _openai.chat
    for suffix, builder in _OPENAI_ROUTES:
        if path.endswith(suffix):
            return "openai", builder
    return "openai", None


def _compat_chat(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
    return _openai.chat(raw, body, controls, compat=True)


_OPENAI_ROUTES: tuple[tuple[str, Builder], ...] = (
    ("/responses", _openai.responses),
    ("/embeddings", _openai.embeddings),
    ("/completions", _openai.completions),
    ("/models", _openai.models),
)


async def _handle(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    raw = await request.read()
    record: RecordedRequest | None = None
    if state.record:
        headers = [
            (k.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape")) for k, v in request.raw_headers
        ]
        record = RecordedRequest(request.method, request.raw_path, headers, raw)
        state.requests.append(record)
    try:
        controls = Controls.from_headers(request.headers)
        reply = _reply_for(state, request, raw, controls)
        if record is not None:
            record.usage = reply.usage
        return await _send(request, state, reply, controls, record)
    finally:
        if record is not None:
            record.finished = True


def _reply_for(state: SimState, request: web.Request, raw: bytes, controls: Controls) -> Reply:
    if controls.fixture is not None:
        reply = state.replays.get(controls.fixture)
        if reply is None:
            return error_reply("openai", 400, f"sim: no fixture named {controls.fixture!r}")
        return malformed(reply) if controls.malformed else reply
    key = (request.raw_path, raw, controls.cache_key())
    cached = state.cache.get(key)
    if cached is not None:
        return cached
    reply = _build(request, raw, controls)
    if len(state.cache) >= _CACHE_SIZE:
        del state.cache[next(iter(state.cache))]
    state.cache[key] = reply
    return reply


def _build(request: web.Request, raw: bytes, controls: Controls) -> Reply:
    provider, builder = _route(request.path, request.query)
    if controls.status is not None and controls.status != 200:
        return error_reply(provider, controls.status)
    if builder is None:
        return error_reply(provider, 404, f"sim: no synthetic endpoint for {request.method} {request.path}")
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return error_reply(provider, 400, "sim: request body is not JSON")
    if not isinstance(body, dict):
        return error_reply(provider, 400, "sim: request body is not a JSON object")
    reply = builder(raw, body, controls)
    return malformed(reply) if controls.malformed else reply


async def _send(
    request: web.Request, state: SimState, reply: Reply, controls: Controls, record: RecordedRequest | None
) -> web.StreamResponse:
    delay = controls.delay_ms / 1000
    if not reply.streamed and not delay and not controls.hold and controls.cut_after is None:
        return web.Response(status=reply.status, headers=reply.headers, body=reply.chunks[0])
    response = web.StreamResponse(status=reply.status, headers=reply.headers)
    if not reply.streamed:
        response.content_length = len(reply.chunks[0])
    try:
        await response.prepare(request)
        last = len(reply.chunks) - 1
        for index, chunk in enumerate(reply.chunks):
            if controls.cut_after is not None and index >= controls.cut_after:
                if record is not None:
                    record.usage = None
                _cut(request)
                return response
            if delay:
                await asyncio.sleep(delay)
            if (controls.hold and index == last and not await state.wait_released(request)) or _gone(request):
                raise ConnectionResetError
            await response.write(chunk)
        await response.write_eof()
    except (ConnectionResetError, ClientConnectionResetError):
        if record is not None:
            record.disconnected = True
    except asyncio.CancelledError:
        if record is not None:
            record.disconnected = True
        raise
    return response


def _cut(request: web.Request) -> None:
    """Close the connection mid-response, the way a dying upstream does (no terminating chunk)."""
    transport = request.transport
    if transport is not None:
        transport.close()


__all__ = ["STATE", "SimState", "create_app", "json_reply"]
