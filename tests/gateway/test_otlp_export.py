"""The gateway's own span export, as real OTLP receivers decode it: the same span trees as the SDK route.

The receivers are real servers on loopback, an aiohttp OTLP/HTTP one and a grpcio OTLP/gRPC one, each
on its own thread as a collector would be, decoding every request with opentelemetry-proto's
generated classes. The same requests go through a gateway configured by `OTEL_*` variables (the
gateway's encoder) and through one given the SDK's own `OTLPSpanExporter` (the SDK route); the span
trees must be equal as whole values: names, kinds, ids and parents, every attribute with its type,
status, trace state, flags, resource and scope. Then what a failing collector must not do: slow a
request, lose count of a span, or hold more spans than the queue's bound.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from aiohttp import web
from dirty_equals import IsStr
from gateway_harness import sim_settings
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SpanExporter

from majordomo_otel import wire
from majordomo_otel.gateway.app import GATEWAY, Gateway, create_app, runner_options
from majordomo_otel.sim import SimServer
from majordomo_otel.tags import Tags

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
STREAM = CHAT | {"stream": True, "stream_options": {"include_usage": True}}
MESSAGES = {"model": "claude-3-5-haiku-latest", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
TAGS = Tags(feature="research", user_id="u-1", session_id="s-1", extra={"team": "ml"}).headers()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- receivers ------------------------------------------------------------------------------------


@dataclass
class Received:
    """Everything a receiver got: decoded requests, and the headers (or gRPC metadata) they came with."""

    requests: list[ExportTraceServiceRequest] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def span_count(self) -> int:
        return sum(len(ss.spans) for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans)


class HttpReceiver:
    """OTLP/HTTP on its own thread and loop: POST /v1/traces, protobuf (gzip or deflate too), decoded."""

    def __init__(self, port: int = 0, *, reject: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.got = Received()
        self.url = ""
        self._port = port
        self._tls = tls
        self._reject = reject  # report this many spans of each request rejected (OTLP partial success)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="otlp-http-receiver", daemon=True)
        self._runner: web.AppRunner | None = None

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp inflates gzip and deflate bodies, as a Collector does
        if request.headers.get("Content-Type") != "application/x-protobuf":
            return web.Response(status=415)
        self.got.requests.append(ExportTraceServiceRequest.FromString(body))
        self.got.headers.append({k.lower(): v for k, v in request.headers.items()})
        self.got.paths.append(request.path)
        reply = ExportTraceServiceResponse(partial_success=ExportTracePartialSuccess(rejected_spans=self._reject))
        return web.Response(body=reply.SerializeToString(), content_type="application/x-protobuf")

    async def _start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{path:.*}", self._traces)  # /v1/traces, or whatever path TRACES_ENDPOINT names
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self._port, ssl_context=self._tls).start()
        scheme, host = ("https", "localhost") if self._tls else ("http", "127.0.0.1")
        return f"{scheme}://{host}:{self._runner.addresses[0][1]}"

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, got: Received) -> None:
        self.got = got

    def Export(self, request: ExportTraceServiceRequest, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        self.got.requests.append(request)
        self.got.headers.append(dict(context.invocation_metadata()))
        return ExportTraceServiceResponse()


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    got = Received()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(got), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", got
    finally:
        server.stop(grace=None)


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def hung_receiver() -> Iterator[str]:
    """A collector that accepts connections and never answers (a stuck process, a full disk)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


# --- a gateway ------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    request_id: str
    trace_id: str
    seconds: float


@dataclass
class Running:
    url: str
    gateway: Gateway

    async def post(self, http: aiohttp.ClientSession, path: str, body: dict[str, Any], **headers: str) -> Reply:
        started = time.monotonic()
        async with http.post(self.url + path, json=body, headers=headers) as resp:
            await resp.read()
            return Reply(
                resp.status,
                resp.headers.get(wire.REQUEST_ID, ""),
                resp.headers.get(wire.TRACE_ID, ""),
                time.monotonic() - started,
            )

    async def flush(self) -> None:
        """Every span exported or failed (off the loop: a receiver in this process may need it)."""
        assert await asyncio.to_thread(self.gateway.spans.force_flush, 30_000)

    async def readyz_spans(self, http: aiohttp.ClientSession) -> dict[str, int]:
        async with http.get(self.url + "/readyz") as resp:
            return (await resp.json())["spans"]


@asynccontextmanager
async def running_gateway(
    sim: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    *,
    exporter: SpanExporter | None = None,
) -> AsyncIterator[Running]:
    """A gateway (SQLite, no auth) whose span export is configured by `env` alone, or given `exporter`."""
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    env = {"OTEL_METRICS_EXPORTER": "none"} | env  # these receivers take traces only
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run = tmp_path / uuid.uuid4().hex[:8]
    settings = sim_settings(
        sim,
        f"sqlite:///{run}.db",
        run / "spool",
        auth=False,
        anthropic_base_url=f"http://127.0.0.1:{UNREACHABLE}",  # the same refused port for every gateway here
    )
    app = create_app(settings, span_exporter=exporter)
    for name in env:
        monkeypatch.delenv(name)
    runner = web.AppRunner(app, **runner_options(settings))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield Running(f"http://127.0.0.1:{runner.addresses[0][1]}", app[GATEWAY])
    finally:
        await asyncio.to_thread(lambda: None)  # let a receiver thread finish an in-flight reply
        await runner.cleanup()


UNREACHABLE = _closed_port()


# --- the same requests, both routes -------------------------------------------------------------------


def _caller(i: int) -> str:
    return f"00-{i:032x}-{0xCA11E400 + i:016x}-01"


#: (path, body, headers): traced or not, streamed, upstream error, upstream unreachable, three API families.
REQUESTS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("/v1/chat/completions", CHAT, {"traceparent": _caller(1), "tracestate": "vendor=abc,x=1", **TAGS}),
    ("/v1/chat/completions", CHAT, {**TAGS}),  # no trace context: a root span with the standard usage attributes
    ("/v1/chat/completions", STREAM, {"traceparent": _caller(3), "X-Sim-Chunks": "3"}),
    ("/v1/chat/completions", CHAT, {"traceparent": _caller(4), "X-Sim-Status": "500"}),
    ("/v1/messages", MESSAGES, {"traceparent": _caller(5)}),  # refused: 502, both spans ERROR
    ("/v1beta/models/gemini-2.0-flash:generateContent", GEMINI, {"traceparent": _caller(6)}),
]


async def _drive(gw: Running) -> list[Reply]:
    async with aiohttp.ClientSession() as http:
        replies = [await gw.post(http, path, body, **headers) for path, body, headers in REQUESTS]
    await gw.flush()
    return replies


def trees(got: Received, replies: list[Reply]) -> list[dict[str, Any]]:
    """Each request's spans as whole values, with what differs from run to run named instead of shown.

    Per run: span and request ids, timestamps, time to first byte. Each is checked first (ids join
    as they should, times nest, the request id is the reply's) and then replaced by its role.
    """
    spans: dict[str, list[tuple[dict[str, Any], Any, Any]]] = {}
    for request in got.requests:
        for rs in request.resource_spans:
            resource = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                scope = MessageToDict(ss.scope)
                for span in ss.spans:
                    spans.setdefault(span.trace_id.hex(), []).append((MessageToDict(span), resource, scope))
    out = []
    for index, reply in enumerate(replies):
        caller_id = _caller(index + 1).split("-")[2] if "traceparent" in REQUESTS[index][2] else None
        found = sorted(spans.pop(reply.trace_id, []), key=lambda s: s[0]["kind"])
        by_kind = {s[0]["kind"]: s[0] for s in found}
        server = by_kind["SPAN_KIND_SERVER"]
        labels = {_hex(server["spanId"]): "server", caller_id: "caller"}
        if (client := by_kind.get("SPAN_KIND_CLIENT")) is not None:
            assert (
                int(server["startTimeUnixNano"])
                <= int(client["startTimeUnixNano"])
                <= int(client["endTimeUnixNano"])
                <= int(server["endTimeUnixNano"])
            )
        request = []
        for span, resource, scope in found:
            assert int(span.pop("startTimeUnixNano")) <= int(span.pop("endTimeUnixNano"))
            span["traceId"] = f"request {index}"
            span["spanId"] = span["kind"].removeprefix("SPAN_KIND_").lower()
            if "parentSpanId" in span:
                span["parentSpanId"] = labels.get(_hex(span["parentSpanId"]), span["parentSpanId"])
            for attribute in span.get("attributes", []):
                if attribute["key"] == "majordomo.request_id":
                    assert attribute["value"] == {"stringValue": reply.request_id}
                    attribute["value"] = "<this request's id>"
                if attribute["key"] == "majordomo.time_to_first_byte_ms":
                    assert set(attribute["value"]) == {"doubleValue"}
                    attribute["value"] = "<ms>"
            request.append({"span": span, "resource": resource, "scope": scope})
        out.append({"status": reply.status, "spans": request})
    assert spans == {}, "spans of no request"
    return out


def _hex(b64: str) -> str:
    return base64.b64decode(b64).hex()


def _shape(tree: list[dict[str, Any]]) -> list[Any]:
    return [
        (
            t["status"],
            [
                (s["span"]["name"], s["span"]["spanId"], s["span"].get("parentSpanId"), s["span"]["status"])
                for s in t["spans"]
            ],
        )
        for t in tree
    ]


async def _sdk_route_trees(sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    with HttpReceiver() as receiver:
        exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=5)
        async with running_gateway(sim, tmp_path, monkeypatch, {}, exporter=exporter) as gw:
            replies = await _drive(gw)
        return trees(receiver.got, replies)


async def test_otlp_http_span_trees_equal_the_sdk_route_s(
    http_receiver: HttpReceiver, sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": http_receiver.url}
    async with running_gateway(sim, tmp_path, monkeypatch, env) as gw:
        replies = await _drive(gw)
    ours = trees(http_receiver.got, replies)
    assert ours == await _sdk_route_trees(sim, tmp_path, monkeypatch)
    assert _shape(ours) == [
        (200, [("POST /v1/chat/completions", "client", "server", {}), ("gateway chat", "server", "caller", {})]),
        (200, [("POST /v1/chat/completions", "client", "server", {}), ("gateway chat", "server", None, {})]),
        (200, [("POST /v1/chat/completions", "client", "server", {}), ("gateway chat", "server", "caller", {})]),
        (
            500,
            [
                ("POST /v1/chat/completions", "client", "server", {}),
                ("gateway chat", "server", "caller", {"code": "STATUS_CODE_ERROR", "message": IsStr(min_length=1)}),
            ],
        ),
        (
            502,
            [
                ("POST /v1/messages", "client", "server", {"code": "STATUS_CODE_ERROR"}),
                ("gateway chat", "server", "caller", {"code": "STATUS_CODE_ERROR", "message": IsStr(min_length=1)}),
            ],
        ),
        (
            200,
            [
                ("POST /v1beta/models/gemini-2.0-flash:generateContent", "client", "server", {}),
                ("gateway generate_content", "server", "caller", {}),
            ],
        ),
    ]
    assert {(s["resource"]["service.name"], s["scope"]["name"]) for t in ours for s in t["spans"]} == {
        ("majordomo-gateway", "majordomo_otel.gateway")
    }


async def test_otlp_grpc_span_trees_equal_the_sdk_route_s(
    grpc_receiver: tuple[str, Received], sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, got = grpc_receiver
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    async with running_gateway(sim, tmp_path, monkeypatch, env) as gw:
        replies = await _drive(gw)
    ours = trees(got, replies)
    assert len(ours) == len(REQUESTS)
    assert ours == await _sdk_route_trees(sim, tmp_path, monkeypatch)


async def test_headers_and_gzip_reach_the_receiver_and_stats_count_every_span(
    http_receiver: HttpReceiver, sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{http_receiver.url}/v1/traces",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20s3cret,x-tenant=acme",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    }
    async with running_gateway(sim, tmp_path, monkeypatch, env) as gw, aiohttp.ClientSession() as http:
        replies = [await gw.post(http, "/v1/chat/completions", CHAT) for _ in range(3)]
        await gw.flush()
        stats = await gw.readyz_spans(http)
    assert [r.status for r in replies] == [200] * 3
    assert {(h["authorization"], h["x-tenant"], h["content-encoding"]) for h in http_receiver.got.headers} == {
        ("Bearer s3cret", "acme", "gzip")
    }
    assert (http_receiver.got.span_count(), stats) == (
        6,
        {"ended": 6, "exported": 6, "failed": 0, "dropped": 0, "queued": 0, "pending_or_dropped": 0},
    )


async def test_spans_the_receiver_rejects_count_as_failed(
    sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpReceiver(reject=1) as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2"}
        async with running_gateway(sim, tmp_path, monkeypatch, env) as gw, aiohttp.ClientSession() as http:
            for _ in range(3):
                await gw.post(http, "/v1/chat/completions", CHAT)
                await gw.flush()
            stats = await gw.readyz_spans(http)
    assert (len(receiver.got.requests), stats["exported"], stats["failed"]) == (3, 3, 3)


async def test_with_the_receiver_down_requests_are_served_and_every_span_counts_as_failed(
    sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer s3cret",
    }
    async with running_gateway(sim, tmp_path, monkeypatch, env) as gw, aiohttp.ClientSession() as http:
        replies = [await gw.post(http, "/v1/chat/completions", CHAT) for _ in range(4)]
        await gw.flush()
        stats = await gw.readyz_spans(http)
        await gw.gateway.writer.flush()
        rows = await gw.gateway.store.get_records()
    assert ([r.status for r in replies], {r.id for r in rows}) == ([200] * 4, {r.request_id for r in replies})
    assert stats == {"ended": 8, "exported": 0, "failed": 8, "dropped": 0, "queued": 0, "pending_or_dropped": 0}
    assert "span export to http://127.0.0.1" in caplog.text
    assert "s3cret" not in caplog.text


async def test_a_receiver_that_comes_back_gets_the_spans_of_later_requests(
    sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_TIMEOUT": "1"}
    async with running_gateway(sim, tmp_path, monkeypatch, env) as gw, aiohttp.ClientSession() as http:
        await gw.post(http, "/v1/chat/completions", CHAT)
        await gw.flush()
        with HttpReceiver(port) as receiver:
            await gw.post(http, "/v1/chat/completions", CHAT)
            await gw.flush()
            stats = await gw.readyz_spans(http)
    assert (receiver.got.span_count(), stats["exported"], stats["failed"]) == (2, 2, 2)


@pytest.fixture
async def hung_run(
    hung_receiver: str, sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Reply], dict[str, int]]:
    """12 requests against a collector that never answers: a queue of 8 spans, batches of 2."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": hung_receiver,
        "OTEL_EXPORTER_OTLP_TIMEOUT": "5",
        "OTEL_BSP_MAX_QUEUE_SIZE": "8",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2",
        "OTEL_BSP_SCHEDULE_DELAY": "20",
        "OTEL_BSP_EXPORT_TIMEOUT": "200",  # shutdown gives up on the hung collector quickly
    }
    async with running_gateway(sim, tmp_path, monkeypatch, env) as gw, aiohttp.ClientSession() as http:
        replies = []
        for _ in range(12):
            replies.append(await gw.post(http, "/v1/chat/completions", CHAT))
            await asyncio.sleep(0.01)  # the export thread takes its first batch, and hangs on it
        stats = await gw.readyz_spans(http)
    return replies, stats


async def test_a_hung_receiver_stalls_no_request(hung_run: tuple[list[Reply], dict[str, int]]) -> None:
    replies, _ = hung_run
    assert [r.status for r in replies] == [200] * 12
    assert max(r.seconds for r in replies) < 2.5  # each would wait out the 5 s export timeout if it waited on export


async def test_a_full_queue_drops_spans_and_counts_them(hung_run: tuple[list[Reply], dict[str, int]]) -> None:
    _, stats = hung_run
    # 2 spans in flight to the hung collector, 8 queued (the bound), the other 14 of 24 dropped
    assert stats == {"ended": 24, "exported": 0, "failed": 0, "dropped": 14, "queued": 10, "pending_or_dropped": 24}


# --- the OTEL_EXPORTER_OTLP_* variables: what arrives is what the SDK's exporters send ------------------


def _one_request_through(output: Any) -> None:
    from majordomo_otel.gateway.spans import GatewaySpans, SpanUsagePolicy

    spans = GatewaySpans(output, SpanUsagePolicy.AUTO)
    plan = spans.begin({"traceparent": _caller(1)})
    plan.upstream_name, plan.upstream_start_ns = "POST /v1/chat/completions", plan.now_ns()
    spans.finish(plan, _record())
    assert spans.force_flush(10_000)
    spans.shutdown()


def _record() -> Any:
    from datetime import UTC, datetime

    from majordomo_otel.gateway.record import RequestRecord

    return RequestRecord(
        id="r-1", provider="openai", request_path="/v1/chat/completions", request_method="POST",
        requested_at=datetime.now(UTC), operation="chat_completions", status_code=200,
    )  # fmt: skip


def _sdk_and_ours(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """One request's spans through the SDK's own exporter built from `env`, then through ours."""
    from majordomo_otel._otlp import span_exporter_from_env
    from majordomo_otel.gateway.spans import build_span_pipeline

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _one_request_through(build_span_pipeline(exporter=span_exporter_from_env())[0])
    ours, _ = build_span_pipeline()
    assert type(ours).__name__ == "OtlpSpans"
    _one_request_through(ours)


@pytest.mark.parametrize(
    "env",
    [
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "{url}/",
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20s3cret,X-Tenant=acme",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        },
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9/ignored",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{url}/custom/traces",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-general=1",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-traces=2",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "deflate",
        },
    ],
    ids=["general", "traces-specific"],
)
def test_otlp_http_variables_send_what_the_sdk_exporter_sends(
    env: dict[str, str], http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sdk_and_ours(monkeypatch, {k: v.format(url=http_receiver.url) for k, v in env.items()})
    shown = ("authorization", "x-tenant", "x-general", "x-traces", "content-encoding", "content-type")
    sdk, ours = (
        (path, {k: v for k, v in headers.items() if k in shown})
        for path, headers in zip(http_receiver.got.paths, http_receiver.got.headers, strict=True)
    )
    assert ours == sdk
    assert http_receiver.got.span_count() == 4


def test_otlp_grpc_variables_send_what_the_sdk_exporter_sends(
    grpc_receiver: tuple[str, Received], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, got = grpc_receiver
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "authorization=Bearer s3cret,x-tenant=acme",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    }
    _sdk_and_ours(monkeypatch, env)
    sdk, ours = ({k: v for k, v in h.items() if k in ("authorization", "x-tenant")} for h in got.headers)
    assert (ours, got.span_count()) == (sdk, 4)


# --- TLS -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (its own CA) and its key, as PEM files."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _export_one(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, int]:
    from majordomo_otel.gateway.spans import build_span_pipeline

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    output, stats = build_span_pipeline()
    _one_request_through(output)
    return stats.snapshot()


def test_https_to_a_receiver_the_configured_ca_vouches_for(
    tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with HttpReceiver(tls=context) as receiver:
        stats = _export_one(
            monkeypatch, {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_EXPORTER_OTLP_CERTIFICATE": str(cert)}
        )
    assert (receiver.got.span_count(), stats["exported"]) == (2, 2)


def test_https_to_a_receiver_nobody_vouches_for_sends_nothing(
    tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with HttpReceiver(tls=context) as receiver:
        stats = _export_one(monkeypatch, {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url})
    assert (receiver.got.span_count(), stats["exported"], stats["failed"]) == (0, 0, 2)


def test_grpc_over_tls_to_a_receiver_the_configured_ca_vouches_for(
    tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tls_files
    got = Received()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(got), server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())]))
    server.start()
    try:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://localhost:{port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": str(cert),
        }
        stats = _export_one(monkeypatch, env)
    finally:
        server.stop(grace=None)
    assert (got.span_count(), stats["exported"]) == (2, 2)
