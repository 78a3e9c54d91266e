"""A backend that takes traces only: the refused metrics exports are reported once, with what to do."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from gateway_harness import serving

from majordomo_otel import _otlp
from majordomo_otel.gateway.metrics import build_meter_provider


@pytest.fixture
async def traces_only() -> AsyncIterator[str]:
    """An OTLP/HTTP receiver like Jaeger's port 4318: 200 for /v1/traces, 404 for /v1/metrics."""
    app = web.Application()
    app.router.add_post("/v1/traces", lambda r: web.Response())
    async with serving(app) as url:
        yield url


async def test_refused_metrics_exports_are_reported_once(
    traces_only: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING)
    for name in ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", traces_only)  # the exporter itself reads it from there
    monkeypatch.setattr(_otlp._ONCE, "_seen", False)  # once per process: as if this process just started
    provider = build_meter_provider()
    assert provider is not None
    counter = provider.get_meter("test").create_counter("requests")
    for _ in range(3):  # three export rounds, each refused with 404
        counter.add(1)
        await asyncio.to_thread(provider.force_flush)
    await asyncio.to_thread(provider.shutdown)
    refused = [r.getMessage() for r in caplog.records if "metric" in r.getMessage().lower()]
    assert refused == [
        "Failed to export metrics batch code: 404, reason: Not Found "
        "(reported once: if this backend takes no metrics, set OTEL_METRICS_EXPORTER=none)"
    ]
