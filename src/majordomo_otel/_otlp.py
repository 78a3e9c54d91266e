"""OTLP exporters as the standard `OTEL_*` variables ask, shared by the client, the gateway and the demo.

An endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`, or the per-signal one) turns export on; the protocol is
http/protobuf unless `OTEL_EXPORTER_OTLP_(TRACES_|METRICS_)PROTOCOL` says `grpc`; `OTEL_TRACES_EXPORTER`
/ `OTEL_METRICS_EXPORTER=none` turns it off. Exporter modules are imported only when used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.sdk.trace.export import SpanExporter


def _protocol(environ: Mapping[str, str], signal: str) -> str | None:
    """The protocol for `signal` (TRACES or METRICS), or None when that signal is not exported."""
    if environ.get(f"OTEL_{signal}_EXPORTER", "otlp") == "none":
        return None
    if not (environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return None
    return environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )


def export_target(signal: str, environ: Mapping[str, str] | None = None) -> str:
    """Where `signal` (TRACES or METRICS) is exported, for a start line: `off`, or endpoint and protocol."""
    environ = os.environ if environ is None else environ
    protocol = _protocol(environ, signal)
    if protocol is None:
        return "off"
    endpoint = environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return f"{endpoint} ({protocol})"


def span_exporter_from_env(environ: Mapping[str, str] | None = None) -> SpanExporter | None:
    protocol = _protocol(os.environ if environ is None else environ, "TRACES")
    if protocol is None:
        return None
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter()


class _FirstMetricFailure(logging.Filter):
    """Lets the first metrics-export failure through, saying what to do; drops the repeats.

    A backend that takes traces only (Jaeger's or Phoenix's OTLP port) refuses every metrics export, and
    the OTLP exporters log each refusal: one error a minute, forever, about the same thing.
    """

    def __init__(self) -> None:
        super().__init__()
        self._seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "metric" not in text.lower() or record.levelno < logging.WARNING:
            return True
        if self._seen:
            return False
        self._seen = True
        record.msg, record.args = (
            f"{text} (reported once: if this backend takes no metrics, set OTEL_METRICS_EXPORTER=none)",
            (),
        )
        return True


_ONCE = _FirstMetricFailure()
_METRIC_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
)


def metric_exporter_from_env(environ: Mapping[str, str] | None = None) -> MetricExporter | None:
    protocol = _protocol(os.environ if environ is None else environ, "METRICS")
    if protocol is None:
        return None
    for name in _METRIC_LOGGERS:
        if _ONCE not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_ONCE)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        return GrpcMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

    return HttpMetricExporter()
