"""Gateway metrics: counts, tokens and cost per low-cardinality series; never a user or session id."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
from dirty_equals import IsFloat
from gateway_harness import CapturedMetrics, metric_points, sim_settings, start_gateway
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, MetricsData

from majordomo_otel.gateway.metrics import SCOPE, GatewayMetrics, duration_histograms
from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.sim import SimServer

CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


def _points(data: MetricsData) -> dict[str, list[tuple[dict, float]]]:
    out: dict[str, list[tuple[dict, float]]] = {}
    for name, point in metric_points(data):
        value = getattr(point, "value", None)
        if value is None:
            value = point.count
        out.setdefault(name, []).append((dict(point.attributes), value))
    return out


async def test_requests_tokens_cost_and_durations_are_measured_without_user_ids(
    sim: SimServer, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    captured = CapturedMetrics()
    gw = await start_gateway(
        sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool"), sim=sim, metric_exporter=captured
    )
    try:
        tags = {"X-Majordomo-Feature": "research", "X-Majordomo-User-Id": "u-42", "X-Majordomo-Session-Id": "s-9"}
        for _ in range(2):
            async with http.post(gw.url + "/v1/chat/completions", json=CHAT_BODY, headers=gw.headers(**tags)) as resp:
                assert resp.status == 200
        [record, _] = await gw.records(expected=2)
    finally:
        await gw.runner.cleanup()  # the meter provider's shutdown exports one last time

    assert captured.last is not None
    points = _points(captured.last)
    series = {
        "gen_ai.provider.name": "openai",
        "majordomo.provider": "openai",
        "gen_ai.response.model": "gpt-4o-mini",
        "majordomo.feature": "research",
        "http.response.status_code": 200,
    }
    assert points["majordomo.gateway.requests"] == [(series, 2)]
    assert sorted(points["majordomo.gateway.tokens"], key=lambda p: p[0]["gen_ai.token.type"]) == [
        ({**series, "gen_ai.token.type": "input"}, 2 * record.input_tokens),
        ({**series, "gen_ai.token.type": "output"}, 2 * record.output_tokens),
    ]
    [(cost_attrs, cost)] = points["majordomo.gateway.cost"]
    assert (cost_attrs, round(cost, 12)) == (series, round(2 * float(record.total_cost), 12))
    assert points["majordomo.gateway.upstream.duration"] == [(series, 2)]
    assert points["majordomo.gateway.overhead"] == [(series, 2)]
    every_attribute = {key for values in points.values() for attrs, _ in values for key in attrs} | {
        value for values in points.values() for attrs, _ in values for value in attrs.values()
    }
    assert not {"u-42", "s-9", "majordomo.user_id", "user.id", "session.id"} & every_attribute


def _histogram(data: MetricsData, name: str) -> HistogramDataPoint:
    [point] = [p for metric, p in metric_points(data) if metric == name]
    assert isinstance(point, HistogramDataPoint)
    return point


async def test_durations_are_explicit_bucket_histograms_of_each_request(
    sim: SimServer, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    captured = CapturedMetrics()
    gw = await start_gateway(
        sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool"), sim=sim, metric_exporter=captured
    )
    try:
        for _ in range(3):
            async with http.post(gw.url + "/v1/chat/completions", json=CHAT_BODY, headers=gw.headers()) as resp:
                assert resp.status == 200
        records = await gw.records(expected=3)
        data = gw.metrics(captured)
    finally:
        await gw.runner.cleanup()

    series = {
        "gen_ai.provider.name": "openai",
        "majordomo.provider": "openai",
        "gen_ai.response.model": "gpt-4o-mini",
        "majordomo.feature": "",
        "http.response.status_code": 200,
    }
    bounds = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
    upstream = _histogram(data, "majordomo.gateway.upstream.duration")
    overhead = _histogram(data, "majordomo.gateway.overhead")
    for point in (upstream, overhead):
        assert point == HistogramDataPoint(
            attributes=series,
            start_time_unix_nano=point.start_time_unix_nano,
            time_unix_nano=point.time_unix_nano,
            count=3,
            sum=IsFloat(ge=3 * point.min, le=3 * point.max),
            bucket_counts=point.bucket_counts,
            explicit_bounds=bounds,
            min=IsFloat(ge=0),
            max=IsFloat(ge=point.min),
            exemplars=[],
        )
        assert len(point.bucket_counts) == len(bounds) + 1
        assert sum(point.bucket_counts) == 3
        assert point.start_time_unix_nano < point.time_unix_nano
    # Upstream time plus the gateway's own time is each request's whole response time.
    total = sum(r.response_time_ms for r in records if r.response_time_ms is not None) / 1000
    assert upstream.sum + overhead.sum == IsFloat(approx=total, delta=1e-6)


def test_a_series_reports_only_what_its_requests_had() -> None:
    """A failed request (no tokens, no price) counts as a request and nothing else; a free model's cost is a 0."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = GatewayMetrics(provider.get_meter(SCOPE.name), duration_histograms(), {"openai": "openai"})
    common = {"provider": "openai", "request_path": "/v1/chat/completions", "request_method": "POST"}
    failed = RequestRecord(id="a", requested_at=datetime.now(UTC), model="gpt-4o", status_code=502, **common)
    free = RequestRecord(
        id="b", requested_at=datetime.now(UTC), model="free-model", status_code=200, input_tokens=3,
        output_tokens=0, total_cost=Decimal(0), **common,
    )  # fmt: skip
    for record in (failed, free, free):
        metrics.record(record, upstream_seconds=None)
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        name: sorted((p[0]["gen_ai.response.model"], p[0].get("gen_ai.token.type"), p[1]) for p in values)
        for name, values in _points(data).items()
    }
    assert points == {
        "majordomo.gateway.requests": [("free-model", None, 2), ("gpt-4o", None, 1)],
        "majordomo.gateway.tokens": [("free-model", "input", 6)],
        "majordomo.gateway.cost": [("free-model", None, 0.0)],
    }
    provider.shutdown()
