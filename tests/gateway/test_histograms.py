"""The gateway's own histograms: bucketed as the SDK would, in the exporter's temporality, merged into
every export, and decoded as OTLP histograms by a real receiver."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web
from gateway_harness import CapturedMetrics, serving
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality as ProtoTemporality
from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from majordomo_otel.gateway.histograms import HistogramExporter, LocalHistogram
from majordomo_otel.gateway.metrics import SCOPE, GatewayMetrics, build_meter_provider, duration_histograms
from majordomo_otel.gateway.record import RequestRecord

BOUNDS = (0.001, 0.01, 0.1)
ATTRS = {"majordomo.provider": "openai"}
CUMULATIVE = AggregationTemporality.CUMULATIVE
DELTA = AggregationTemporality.DELTA


def _point(metric: Metric | None) -> HistogramDataPoint:
    assert metric is not None
    assert isinstance(metric.data, Histogram)
    [point] = metric.data.data_points
    return point


def test_a_value_on_a_bound_counts_in_the_bucket_below_it_and_past_the_last_in_the_overflow() -> None:
    h = LocalHistogram("d", unit="s", bounds=BOUNDS)
    for value in (0.0005, 0.001, 0.0011, 0.1, 7.0):
        h.record(value, "k", ATTRS)
    start = h._start
    assert _point(h.collect(CUMULATIVE, now=start + 5)) == HistogramDataPoint(
        attributes=ATTRS,
        start_time_unix_nano=start,
        time_unix_nano=start + 5,
        count=5,
        sum=pytest.approx(7.1026),
        bucket_counts=(2, 1, 1, 1),
        explicit_bounds=BOUNDS,
        min=0.0005,
        max=7.0,
    )


def test_cumulative_keeps_summing_from_the_start() -> None:
    h = LocalHistogram("d", unit="s", bounds=BOUNDS)
    h.record(0.005, "k", ATTRS)
    first = _point(h.collect(CUMULATIVE, now=h._start + 1))
    h.record(0.05, "k", ATTRS)
    second = _point(h.collect(CUMULATIVE, now=h._start + 2))
    assert (first.count, first.bucket_counts) == (1, (0, 1, 0, 0))
    assert (second.count, second.bucket_counts, second.start_time_unix_nano) == (
        2,
        (0, 1, 1, 0),
        first.start_time_unix_nano,
    )


def test_delta_reports_each_interval_once_and_an_empty_one_not_at_all() -> None:
    h = LocalHistogram("d", unit="s", bounds=BOUNDS)
    h.record(0.005, "k", ATTRS)
    t1 = h._start + 10
    first = _point(h.collect(DELTA, now=t1))
    h.record(0.05, "k", ATTRS)
    second = _point(h.collect(DELTA, now=t1 + 10))
    assert (first.count, first.bucket_counts) == (1, (0, 1, 0, 0))
    assert (second.count, second.bucket_counts, second.start_time_unix_nano, second.min) == (
        1,
        (0, 0, 1, 0),
        t1,
        0.05,
    )
    assert h.collect(DELTA, now=t1 + 20) is None


def test_each_series_is_its_own_data_point() -> None:
    h = LocalHistogram("d", unit="s", bounds=BOUNDS)
    h.record(0.005, ("openai", 200), {"status": 200})
    h.record(0.005, ("openai", 500), {"status": 500})
    h.record(0.005, ("openai", 500), {"status": 500})
    metric = h.collect(CUMULATIVE, now=h._start + 1)
    assert metric is not None
    assert isinstance(metric.data, Histogram)
    assert sorted((dict(p.attributes or {})["status"], p.count) for p in metric.data.data_points) == [
        (200, 1),
        (500, 2),
    ]


def test_no_measurement_is_lost_to_a_delta_collect_racing_the_recorder() -> None:
    h = LocalHistogram("d", unit="s", bounds=BOUNDS)
    recorded = 200_000
    collected: list[int] = []
    done = threading.Event()

    def collect_until_done() -> None:
        while not done.is_set():
            if (metric := h.collect(DELTA, now=0)) is not None:
                collected.append(_point(metric).count)

    collector = threading.Thread(target=collect_until_done)
    collector.start()
    for _ in range(recorded):
        h.record(0.005, "k", ATTRS)
    done.set()
    collector.join()
    if (metric := h.collect(DELTA, now=0)) is not None:
        collected.append(_point(metric).count)
    assert (sum(collected), len(collected) > 1) == (recorded, True)


def _exporter(histograms: list[LocalHistogram]) -> tuple[HistogramExporter, CapturedMetrics]:
    captured = CapturedMetrics()
    return HistogramExporter(captured, histograms, scope=SCOPE, resource=Resource({"service.name": "gw"})), captured


def _sum_metric(name: str) -> Metric:
    point = NumberDataPoint(attributes={}, start_time_unix_nano=1, time_unix_nano=2, value=3)
    return Metric(name, None, None, Sum([point], CUMULATIVE, is_monotonic=True))


def _names(data: MetricsData) -> list[tuple[str, str, list[str]]]:
    return [
        (str(r.resource.attributes.get("service.name")), s.scope.name, [m.name for m in s.metrics])
        for r in data.resource_metrics
        for s in r.scope_metrics
    ]


def _recorded(name: str) -> LocalHistogram:
    h = LocalHistogram(name, unit="s", bounds=BOUNDS)
    h.record(0.005, "k", ATTRS)
    return h


def test_the_histograms_join_the_gateway_scope_of_the_batch() -> None:
    exporter, captured = _exporter([_recorded("h")])
    batch = MetricsData(
        [
            ResourceMetrics(
                Resource({"service.name": "from-sdk"}),
                [
                    ScopeMetrics(InstrumentationScope("other"), [_sum_metric("x")], ""),
                    ScopeMetrics(InstrumentationScope(SCOPE.name), [_sum_metric("requests")], ""),
                ],
                "",
            )
        ]
    )
    exporter.export(batch)
    assert captured.last is not None
    assert _names(captured.last) == [("from-sdk", "other", ["x"]), ("from-sdk", SCOPE.name, ["requests", "h"])]


def test_a_batch_without_the_gateway_scope_gets_one() -> None:
    exporter, captured = _exporter([_recorded("h")])
    exporter.export(MetricsData([ResourceMetrics(Resource({"service.name": "from-sdk"}), [], "")]))
    assert captured.last is not None
    assert _names(captured.last) == [("from-sdk", SCOPE.name, ["h"])]


def test_an_empty_batch_gets_the_gateway_resource() -> None:
    exporter, captured = _exporter([_recorded("h"), LocalHistogram("never", unit="s", bounds=BOUNDS)])
    exporter.export(MetricsData([]))
    assert captured.last is not None
    assert _names(captured.last) == [("gw", SCOPE.name, ["h"])]


def test_without_values_the_batch_goes_out_as_it_came() -> None:
    exporter, captured = _exporter([LocalHistogram("never", unit="s", bounds=BOUNDS)])
    batch = MetricsData([])
    exporter.export(batch)
    assert captured.last is batch


def test_the_inner_exporters_temporality_is_kept() -> None:
    inner = CapturedMetrics()
    inner._preferred_temporality = {HistogramInstrument: DELTA}
    exporter = HistogramExporter(inner, [], scope=SCOPE, resource=Resource({}))
    assert (exporter._preferred_temporality, exporter._temporality) == ({HistogramInstrument: DELTA}, DELTA)


@pytest.fixture
async def otlp_metrics() -> AsyncIterator[tuple[str, list[ExportMetricsServiceRequest]]]:
    """An OTLP/HTTP metrics receiver that decodes every request it gets."""
    received: list[ExportMetricsServiceRequest] = []

    async def metrics(request: web.Request) -> web.Response:
        message = ExportMetricsServiceRequest()
        message.ParseFromString(await request.read())
        received.append(message)
        return web.Response(content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/metrics", metrics)
    async with serving(app) as url:
        yield url, received


@pytest.mark.parametrize(
    ("preference", "temporality"),
    [
        ("cumulative", ProtoTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE),
        ("delta", ProtoTemporality.AGGREGATION_TEMPORALITY_DELTA),
    ],
)
async def test_a_real_otlp_receiver_decodes_the_gateways_histograms(
    otlp_metrics: tuple[str, list[ExportMetricsServiceRequest]],
    monkeypatch: pytest.MonkeyPatch,
    preference: str,
    temporality: int,
) -> None:
    """Wired as `create_app` wires them, sent by the real OTLP/HTTP exporter."""
    url, received = otlp_metrics
    for name in ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    histograms = duration_histograms()
    provider = build_meter_provider(histograms)
    assert provider is not None
    metrics = GatewayMetrics(provider.get_meter(SCOPE.name), histograms)
    for upstream_seconds, total_ms in ((0.0005, 2.5), (0.05, 54.0)):
        record = RequestRecord(
            id="r", provider="openai", request_path="/v1/chat/completions", request_method="POST",
            requested_at=datetime.now(UTC), model="gpt-4o", status_code=200, response_time_ms=total_ms,
        )  # fmt: skip
        metrics.record(record, upstream_seconds=upstream_seconds)
    await asyncio.to_thread(provider.force_flush)
    await asyncio.to_thread(provider.shutdown)

    [first, *_] = received
    [upstream, overhead] = [
        (m.name, m.unit, m.histogram.aggregation_temporality, p.count, p.sum, list(p.bucket_counts), p.min, p.max)
        for r in first.resource_metrics
        for s in r.scope_metrics
        if s.scope.name == SCOPE.name
        for m in s.metrics
        if m.HasField("histogram")
        for p in m.histogram.data_points
    ]
    buckets = [1, 0, 0, 0, 0, 0, 1] + [0] * 11  # 0.0005 in (0, 0.0005]; 0.05 in (0.025, 0.05]
    assert upstream == ("majordomo.gateway.upstream.duration", "s", temporality, 2, 0.0505, buckets, 0.0005, 0.05)
    assert overhead == (
        "majordomo.gateway.overhead",
        "s",
        temporality,
        2,
        pytest.approx(0.006),
        [0, 0, 1, 1] + [0] * 14,  # 0.002 in (0.001, 0.0025]; 0.004 in (0.0025, 0.005]
        pytest.approx(0.002),
        pytest.approx(0.004),
    )
