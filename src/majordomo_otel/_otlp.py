"""OTLP exporters as the standard `OTEL_*` variables ask, shared by the client, the gateway and the demo.

An endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`, or the per-signal one) turns export on; the protocol is
http/protobuf unless `OTEL_EXPORTER_OTLP_(TRACES_|METRICS_)PROTOCOL` says `grpc`; `OTEL_TRACES_EXPORTER`
/ `OTEL_METRICS_EXPORTER=none` turns it off. Exporter modules are imported only when used.
`traces_target` reads the same variables for the gateway's own span encoder (gateway/otlp/).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("majordomo_otel.otlp")


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


@dataclass(frozen=True, slots=True)
class TracesTarget:
    """Where and how to send spans, read from the same `OTEL_EXPORTER_OTLP_(TRACES_)*` variables, with the
    same precedence and defaults, as the SDK's OTLP span exporters read them (the gateway's own encoder
    sends through this; tests/gateway/test_otlp_export.py checks that what arrives is what they send)."""

    protocol: str  # "grpc" or "http/protobuf"
    endpoint: str  # http: the full URL (…/v1/traces); grpc: host:port
    headers: tuple[tuple[str, str], ...]  # secrets (API keys): never logged
    timeout: float  # seconds, per export request
    compression: str  # "none", "gzip" or "deflate"
    insecure: bool = False  # grpc: plaintext; http: decided by the URL's scheme
    certificate: str | None = None  # CA bundle
    client_key: str | None = None
    client_certificate: str | None = None

    @property
    def shown(self) -> str:
        """The endpoint for a log line or /readyz: no userinfo, no query."""
        parsed = urlparse(self.endpoint if "//" in self.endpoint else f"//{self.endpoint}")
        host = parsed.hostname or ""
        port = f":{parsed.port}" if parsed.port else ""
        return f"{parsed.scheme + '://' if parsed.scheme else ''}{host}{port}{parsed.path} ({self.protocol})"


#: Credential-provider plug-ins (entry points giving a `requests.Session` or gRPC credentials): the SDK loads them.
_CREDENTIAL_PROVIDERS = (
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_GRPC_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_GRPC_TRACES_CREDENTIAL_PROVIDER",
)


def traces_target(environ: Mapping[str, str] | None = None) -> TracesTarget | None:
    """The span export target, or None when traces are not exported or a credential provider needs the SDK."""
    from opentelemetry.util.re import parse_env_headers

    environ = os.environ if environ is None else environ
    protocol = _protocol(environ, "TRACES")
    if protocol is None or any(environ.get(name) for name in _CREDENTIAL_PROVIDERS):
        return None

    def get(name: str) -> str | None:
        return environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or environ.get(f"OTEL_EXPORTER_OTLP_{name}")

    headers = tuple(parse_env_headers(get("HEADERS") or "", liberal=True).items())
    compression = (get("COMPRESSION") or "none").strip().lower()
    if compression not in ("none", "gzip", "deflate"):
        log.warning("OTLP compression %r is not supported; sending spans uncompressed", compression)
        compression = "none"
    try:
        timeout = float(get("TIMEOUT") or 10)
    except ValueError:
        log.warning("OTLP timeout %r is not a number of seconds; using 10", get("TIMEOUT"))
        timeout = 10.0
    names = ("CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE")
    if protocol != "grpc":
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
            f"{environ.get('OTEL_EXPORTER_OTLP_ENDPOINT', '').removesuffix('/')}/v1/traces"
        )
        return TracesTarget("http/protobuf", endpoint, headers, timeout, compression, False, *map(get, names))
    url = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or ""
    parsed = urlparse(url)
    if (flag := get("INSECURE")) is not None and parsed.scheme != "https":
        insecure = flag.lower() == "true"
    else:
        insecure = parsed.scheme == "http"
    # The gRPC exporter takes its TLS files as a trio: the TRACES_ ones if TRACES_CERTIFICATE is set, else the general.
    prefix = (
        "OTEL_EXPORTER_OTLP_TRACES_" if environ.get("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE") else "OTEL_EXPORTER_OTLP_"
    )
    files = (environ.get(prefix + name) for name in names)
    return TracesTarget("grpc", parsed.netloc or url, headers, timeout, compression, insecure, *files)


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
