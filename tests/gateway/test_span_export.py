"""Span export over OTLP as configured by the standard `OTEL_*` variables: http/protobuf by default, gRPC on request."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import aiohttp
import grpc
import pytest
from gateway_harness import sim_settings
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from majordomo_otel._otlp import metric_exporter_from_env, span_exporter_from_env
from majordomo_otel.gateway.app import GATEWAY, create_app, runner_options
from majordomo_otel.sim import SimServer


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[tuple[str, str, int]] = []

    def Export(self, request, context):
        for resource_spans in request.resource_spans:
            service = next(a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name")
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend((service, span.name, span.kind) for span in scope_spans.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def grpc_collector() -> Iterator[tuple[str, _Collector]]:
    collector = _Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", collector
    finally:
        server.stop(grace=None)


def test_http_protobuf_is_the_default_and_grpc_is_an_option() -> None:
    http = span_exporter_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    grpc_exporter = span_exporter_from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    )
    assert (type(http).__module__, type(grpc_exporter).__module__) == (
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    )
    metrics = metric_exporter_from_env(
        {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"}
    )
    assert type(metrics).__module__ == "opentelemetry.exporter.otlp.proto.grpc.metric_exporter"
    assert span_exporter_from_env({}) is None
    assert (
        metric_exporter_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_METRICS_EXPORTER": "none"}) is None
    )
    assert span_exporter_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"}) is None


async def test_spans_reach_a_grpc_collector(
    grpc_collector: tuple[str, _Collector], sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, collector = grpc_collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool", auth=False)
    app = create_app(settings)
    from aiohttp import web

    runner = web.AppRunner(app, **runner_options(settings))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http:
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            async with http.post(url + "/v1/chat/completions", json=body) as resp:
                assert resp.status == 200
        app[GATEWAY].spans.force_flush()
    finally:
        await runner.cleanup()
    assert sorted(collector.spans) == [
        ("majordomo-gateway", "POST /v1/chat/completions", 3),  # SPAN_KIND_CLIENT
        ("majordomo-gateway", "gateway chat", 2),  # SPAN_KIND_SERVER
    ]
