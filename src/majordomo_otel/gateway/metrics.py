"""Gateway metrics (OTel): requests, tokens, cost, upstream duration, gateway overhead.

Attributes are low-cardinality on purpose (provider, model, feature, status class): user and
session ids live on spans and rows, never on metrics, where each distinct value is a new series.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.util.types import AttributeValue

from .. import semconv as sc
from .._otlp import metric_exporter_from_env
from ..tags import NAMED
from .histograms import HistogramExporter, LocalHistogram
from .record import RequestRecord
from .spans import gateway_resource

SCOPE = InstrumentationScope("majordomo_otel.gateway")
_FEATURE = NAMED["feature"]  # the raw_metadata key
_DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def duration_histograms() -> tuple[LocalHistogram, LocalHistogram]:
    """The upstream duration and the gateway's own overhead, per request, in seconds."""
    return (
        LocalHistogram("majordomo.gateway.upstream.duration", unit="s", bounds=_DURATION_BUCKETS),
        LocalHistogram("majordomo.gateway.overhead", unit="s", bounds=_DURATION_BUCKETS),
    )


def build_meter_provider(
    histograms: Sequence[LocalHistogram] = (),
    *,
    exporter: MetricExporter | None = None,
    environ: Mapping[str, str] | None = None,
) -> MeterProvider | None:
    """OTLP metrics when an endpoint is configured (same `OTEL_*` variables as spans) or `exporter` is
    given, else None: measurements nobody reads are not worth their CPU on the hot path. Every export
    carries `histograms` too."""
    environ = os.environ if environ is None else environ
    exporter = exporter or metric_exporter_from_env(environ)
    if exporter is None:
        return None
    resource = gateway_resource(environ)
    if histograms:
        exporter = HistogramExporter(exporter, histograms, scope=SCOPE, resource=resource)
    reader = PeriodicExportingMetricReader(exporter)
    return MeterProvider(resource=resource, metric_readers=[reader])


class NoMetrics:
    """Stands in for `GatewayMetrics` when no metric reader is configured."""

    def record(self, record: RequestRecord, *, upstream_seconds: float | None) -> None:
        pass


class _Series:
    """One series' counter sums; None until a request adds to it (a series is exported once it has a value)."""

    __slots__ = ("attributes", "cost", "input", "output", "requests")

    def __init__(self, attributes: dict[str, AttributeValue]) -> None:
        self.attributes = attributes
        self.requests = 0
        self.input: int | None = None
        self.output: int | None = None
        self.cost: float | None = None


_SeriesKey = tuple[str, str, str, int]  # provider, model, feature, status code


class GatewayMetrics:
    """Counters are summed here, per series, and read by observable instruments at collection time: one
    dict lookup per request instead of an SDK call (~9 µs each, attribute hashing mostly). The two
    histograms are summed here too (`histograms.py`) and added to each export."""

    def __init__(
        self,
        meter: Meter,
        histograms: tuple[LocalHistogram, LocalHistogram],
        provider_names: Mapping[str, str] | None = None,
    ) -> None:
        #: provider name → gen_ai.provider.name (the provider table's), as on the spans
        self._provider_names = provider_names or {}
        self._series: dict[_SeriesKey, _Series] = {}
        meter.create_observable_counter(
            "majordomo.gateway.requests", [self._observe(attrgetter("requests"))], unit="{request}"
        )
        meter.create_observable_counter(
            "majordomo.gateway.tokens",
            [
                self._observe(attrgetter("input"), {sc.GEN_AI_TOKEN_TYPE: "input"}),
                self._observe(attrgetter("output"), {sc.GEN_AI_TOKEN_TYPE: "output"}),
            ],
            unit="{token}",
        )
        meter.create_observable_counter("majordomo.gateway.cost", [self._observe(attrgetter("cost"))], unit="USD")
        self._upstream, self._overhead = histograms

    def _observe(
        self, value_of: Callable[[_Series], float | None], extra: Mapping[str, AttributeValue] | None = None
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            # Runs on the reader's thread: copy first (a C-level copy, atomic under the GIL).
            for series in list(self._series.values()):
                if (value := value_of(series)) is not None:
                    attrs = series.attributes
                    yield Observation(value, {**attrs, **extra} if extra else attrs)

        return callback

    def record(self, record: RequestRecord, *, upstream_seconds: float | None) -> None:
        key = (
            record.provider,
            record.model or "unknown",
            record.raw_metadata.get(_FEATURE, ""),
            record.status_code or 0,
        )
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(
                {
                    sc.GEN_AI_PROVIDER_NAME: self._provider_names.get(record.provider, record.provider),
                    sc.PROVIDER: record.provider,
                    sc.GEN_AI_RESPONSE_MODEL: key[1],
                    sc.FEATURE: key[2],
                    sc.HTTP_RESPONSE_STATUS_CODE: key[3],
                }
            )
        series.requests += 1
        if record.input_tokens:
            series.input = (series.input or 0) + record.input_tokens
        if record.output_tokens:
            series.output = (series.output or 0) + record.output_tokens
        if record.total_cost is not None:
            series.cost = (series.cost or 0.0) + float(record.total_cost)
        if upstream_seconds is not None and record.response_time_ms is not None:
            self._upstream.record(upstream_seconds, key, series.attributes)
            self._overhead.record(max(record.response_time_ms / 1000 - upstream_seconds, 0.0), key, series.attributes)
