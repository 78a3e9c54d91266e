"""The aiohttp application: routing, fixture replay, synthetic replies, and sending them event by event."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
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
        self.batches = _anthropic.Batches()
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
                async with asyncio.timeout(_POLL_S * 5):
                    await self._released.wait()
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


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Who answers a request: the provider whose error shape it gets, and its reply builder (None: a 404)."""

    provider: str
    build: Builder | None
    stateful: bool = False
    """Reads or changes the sim's state (message batches): never answered from the reply cache."""


_GEMINI_METHODS = frozenset(
    {"generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents"}
)
_MODELS = re.compile(r"^(?P<base>.*)/models(?:/(?P<id>[^/]+))?$")
_BATCHES = re.compile(r"/v1/messages/batches(?:/(?P<id>[^/]+)(?:/(?P<action>results|cancel))?)?$")
_GEMINI_ROOTS = ("/v1beta", "/v1alpha")


def _route(request: web.Request, state: SimState) -> Endpoint:
    """The endpoint of a request: by path suffix (any prefix works, as behind an OpenAI-compatible preset's
    API path); where paths coincide (`GET /v1/models`), by the family's own headers, as the gateway does."""
    path = request.path
    model_part, colon, method = path.rpartition(":")
    if colon and method in _GEMINI_METHODS:  # the model as decoded (an encoded `%2F` is part of it)
        return _gemini_method(model_part.rpartition("/models/")[2], method, request.query)
    if "/batches" in path and (match := _BATCHES.search(path)) is not None:
        return _batches(request, state.batches, match["id"], match["action"])
    if path.endswith("/messages/count_tokens"):
        return Endpoint("anthropic", _anthropic.count_tokens)
    if path.endswith("/messages"):
        return Endpoint("anthropic", _anthropic.messages)
    if request.method == "GET" and (match := _MODELS.match(path)) is not None:
        return _models(match["base"], match["id"], request)
    if path.endswith("/chat/completions"):
        if "/openai/" in path and path.startswith("/v1beta"):
            return Endpoint("openai", _compat_chat)
        return Endpoint("openai", _openai.chat)
    for suffix, builder in _OPENAI_ROUTES:
        if path.endswith(suffix):
            return Endpoint("openai", builder)
    return Endpoint("openai", None)


def _gemini_method(model: str, method: str, query: Any) -> Endpoint:
    if method in ("generateContent", "streamGenerateContent"):
        stream = method == "streamGenerateContent"
        sse = query.get("alt") == "sse"

        def generate(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
            return _gemini.generate(model, raw, body, controls, stream=stream, sse=sse)

        return Endpoint("gemini", generate)
    if method == "countTokens":
        return Endpoint("gemini", _gemini.count_tokens)
    embed = _gemini.embed_content if method == "embedContent" else _gemini.batch_embed_contents
    return Endpoint("gemini", functools.partial(embed, model))


def _models(base: str, model_id: str | None, request: web.Request) -> Endpoint:
    """`GET .../models[/{id}]`: Gemini's under /v1beta (or with `x-goog-api-key`), Anthropic's with an
    `anthropic-version` header, OpenAI's otherwise (Gemini's OpenAI-compatible /v1beta/openai/models too)."""
    headers = request.headers
    if base in _GEMINI_ROOTS or ("x-goog-api-key" in headers and "anthropic-version" not in headers):
        provider, listing, one = "gemini", _gemini.models, _gemini.model
    elif "anthropic-version" in headers:
        provider, listing, one = "anthropic", _anthropic.models, _anthropic.model
    else:
        provider, listing, one = "openai", _openai.models, _openai.model
    reply = functools.partial(listing, request.query) if model_id is None else functools.partial(one, model_id)
    return Endpoint(provider, _ignoring_body(reply))


def _batches(request: web.Request, batches: _anthropic.Batches, batch_id: str | None, action: str | None) -> Endpoint:
    """Anthropic's Message Batches: POST creates, GET lists or retrieves, `/results` and `/cancel`."""
    origin = f"{request.scheme}://{request.host}"
    method = request.method

    def build(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
        if batch_id is None:
            if method == "POST":
                return batches.create(raw, body, origin)
            return batches.list_page(request.query, origin)
        if action == "cancel" and method == "POST":
            return batches.cancel(batch_id, origin)
        if action == "results":
            return batches.results(batch_id)
        return batches.retrieve(batch_id, origin)

    known = (batch_id is None and method in ("GET", "POST")) or (method == ("POST" if action == "cancel" else "GET"))
    return Endpoint("anthropic", build if known else None, stateful=True)


def _ignoring_body(reply: Callable[[], Reply]) -> Builder:
    def build(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
        return reply()

    return build


def _compat_chat(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
    return _openai.chat(raw, body, controls, compat=True)


_OPENAI_ROUTES: tuple[tuple[str, Builder], ...] = (
    ("/responses", _openai.responses),
    ("/embeddings", _openai.embeddings),
    ("/completions", _openai.completions),
    ("/moderations", _openai.moderations),
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
    endpoint = _route(request, state)
    if endpoint.stateful:
        return _build(endpoint, request, raw, controls)
    key = (request.method, endpoint.provider, request.raw_path, raw, controls.cache_key())
    cached = state.cache.get(key)
    if cached is not None:
        return cached
    reply = _build(endpoint, request, raw, controls)
    if len(state.cache) >= _CACHE_SIZE:
        del state.cache[next(iter(state.cache))]
    state.cache[key] = reply
    return reply


def _build(endpoint: Endpoint, request: web.Request, raw: bytes, controls: Controls) -> Reply:
    provider, builder = endpoint.provider, endpoint.build
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
    paced = delay or controls.hold or controls.cut_after is not None or controls.end_delay_ms
    if not reply.streamed and not paced:
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
        if controls.end_delay_ms:  # the gap between a stream's last event and the end of its body
            await asyncio.sleep(controls.end_delay_ms / 1000)
            if _gone(request):
                raise ConnectionResetError
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
