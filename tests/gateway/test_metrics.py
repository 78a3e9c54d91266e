"""Gateway metrics: counts, tokens and cost per low-cardinality series; never a user or session id."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from gateway_harness import sim_settings, start_gateway
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from majordomo_otel.sim import SimServer

CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


def _points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict, float]]]:
    data = reader.get_metrics_data()
    out: dict[str, list[tuple[dict, float]]] = {}
    for resource_metrics in data.resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:
                        value = point.count
                    out.setdefault(metric.name, []).append((dict(point.attributes), value))
    return out


async def test_requests_tokens_cost_and_durations_are_measured_without_user_ids(
    sim: SimServer, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    reader = InMemoryMetricReader()
    gw = await start_gateway(
        sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool"), sim=sim, metric_reader=reader
    )
    try:
        tags = {"X-Majordomo-Feature": "research", "X-Majordomo-User-Id": "u-42", "X-Majordomo-Session-Id": "s-9"}
        for _ in range(2):
            async with http.post(gw.url + "/v1/chat/completions", json=CHAT_BODY, headers=gw.headers(**tags)) as resp:
                assert resp.status == 200
        [record, _] = await gw.records(expected=2)
    finally:
        await gw.runner.cleanup()

    points = _points(reader)
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
