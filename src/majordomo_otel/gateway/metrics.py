"""Gateway metrics (OTel): requests, tokens, cost, upstream duration, gateway overhead.

Attributes are low-cardinality on purpose (provider, model, feature, status class): user and
session ids live on spans and rows, never on metrics, where each distinct value is a new series.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.util.types import AttributeValue

from .. import semconv as sc
from .._otlp import metric_exporter_from_env
from ..tags import NAMED
from .record import RequestRecord
from .spans import gateway_resource

_DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def build_meter_provider(
    *, reader: MetricReader | None = None, environ: Mapping[str, str] | None = None
) -> MeterProvider | None:
    """OTLP metrics when an endpoint is configured (same `OTEL_*` variables as spans), else None:
    measurements nobody reads are not worth their CPU on the hot path."""
    environ = os.environ if environ is None else environ
    readers: list[MetricReader] = [reader] if reader is not None else []
    if reader is None and (exporter := metric_exporter_from_env(environ)) is not None:
        readers.append(PeriodicExportingMetricReader(exporter))
    if not readers:
        return None
    return MeterProvider(resource=gateway_resource(environ), metric_readers=readers)


class NoMetrics:
    """Stands in for `GatewayMetrics` when no metric reader is configured."""

    def record(self, record: RequestRecord, *, upstream_seconds: float | None) -> None:
        pass


class GatewayMetrics:
    def __init__(self, meter: Meter, provider_names: Mapping[str, str] | None = None) -> None:
        #: provider name → gen_ai.provider.name (the provider table's), as on the spans
        self._provider_names = provider_names or {}
        self._requests = meter.create_counter("majordomo.gateway.requests", unit="{request}")
        self._tokens = meter.create_counter("majordomo.gateway.tokens", unit="{token}")
        self._cost = meter.create_counter("majordomo.gateway.cost", unit="USD")
        self._upstream = meter.create_histogram(
            "majordomo.gateway.upstream.duration", unit="s", explicit_bucket_boundaries_advisory=_DURATION_BUCKETS
        )
        self._overhead = meter.create_histogram(
            "majordomo.gateway.overhead", unit="s", explicit_bucket_boundaries_advisory=_DURATION_BUCKETS
        )

    def record(self, record: RequestRecord, *, upstream_seconds: float | None) -> None:
        attrs: dict[str, AttributeValue] = {
            sc.GEN_AI_PROVIDER_NAME: self._provider_names.get(record.provider, record.provider),
            sc.PROVIDER: record.provider,
            sc.GEN_AI_RESPONSE_MODEL: record.model or "unknown",
            sc.FEATURE: record.raw_metadata.get(NAMED["feature"], ""),
            sc.HTTP_RESPONSE_STATUS_CODE: record.status_code or 0,
        }
        self._requests.add(1, attrs)
        if record.input_tokens:
            self._tokens.add(record.input_tokens, {**attrs, sc.GEN_AI_TOKEN_TYPE: "input"})
        if record.output_tokens:
            self._tokens.add(record.output_tokens, {**attrs, sc.GEN_AI_TOKEN_TYPE: "output"})
        if record.total_cost is not None:
            self._cost.add(float(record.total_cost), attrs)
        if upstream_seconds is not None and record.response_time_ms is not None:
            self._upstream.record(upstream_seconds, attrs)
            self._overhead.record(max(record.response_time_ms / 1000 - upstream_seconds, 0.0), attrs)
