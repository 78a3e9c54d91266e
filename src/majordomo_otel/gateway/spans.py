"""The gateway's spans: one SERVER span per request, a CLIENT child for the upstream call.

The SERVER span is a child of the caller's `traceparent`, so the gateway's work shows up inside the
agent's own trace, and its ids go on the record so SQL rows and spans join on `trace_id`. Both are
rendered from the same `RequestRecord` as the SQL row, so they cannot disagree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from operator import attrgetter
from typing import Any, Final, Protocol

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import StatusCode

from .. import semconv as sc
from .._otlp import span_exporter_from_env, traces_target
from .otlp.export import OtlpSpans
from .otlp.queue import ExportStats, QueueLimits
from .otlp.sdk import SdkSpans
from .providers import BUILTIN
from .record import RequestRecord
from .settings import SpanUsagePolicy
from .span_plan import SpanPlan, SpanStatus, parse_traceparent

# OTel GenAI semantic conventions.
_OPERATION_NAMES: Final = {
    "chat_completions": "chat",
    "responses": "chat",
    "messages": "chat",
    "generate_content": "generate_content",
    "completions": "text_completion",
    "embeddings": "embeddings",
    "count_tokens": "count_tokens",
}
#: Built-in provider name → gen_ai.provider.name, from the provider table (the app passes its own table's).
_PROVIDER_NAMES: Final = {p.name: p.otel_name for p in BUILTIN}


def gateway_resource(environ: Mapping[str, str]) -> Resource:
    """`service.name` majordomo-gateway unless `OTEL_SERVICE_NAME` says otherwise; shared by spans and metrics."""
    return Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or "majordomo-gateway"})


_UNSET: Final[SpanStatus] = (StatusCode.UNSET, None)
_UPSTREAM_FAILED: Final[SpanStatus] = (StatusCode.ERROR, None)


class SpanOutput(Protocol):
    """Where finished requests' spans go: `OtlpSpans` (the gateway's own encoder) or `SdkSpans`."""

    @property
    def stats(self) -> ExportStats: ...

    def emit(
        self, plan: SpanPlan, name: str, attributes: Mapping[str, Any], status: SpanStatus, upstream_status: SpanStatus
    ) -> None: ...

    def force_flush(self, timeout_s: float) -> bool: ...

    def shutdown(self) -> None: ...


def build_span_pipeline(
    *, exporter: SpanExporter | None = None, environ: Mapping[str, str] | None = None
) -> tuple[SpanOutput | None, ExportStats]:
    """The gateway's own export pipeline (never the global provider): `service.name` majordomo-gateway.

    Configured by the `OTEL_*` variables, spans are encoded by the gateway itself and posted as
    OTLP/HTTP or OTLP/gRPC (`otlp/`), for a sixth of the SDK exporters' CPU (bench/README.md). An
    `exporter` passed in by code gets SDK `ReadableSpan`s, as does a configuration only the SDK's
    exporters understand (a credential-provider plug-in). Either way export runs on its own thread
    behind a bounded queue, so a slow or dead collector drops spans, counted in `ExportStats`,
    but never delays a proxied request. No exporter configured: no output, and no span is built.
    """
    environ = os.environ if environ is None else environ
    resource = gateway_resource(environ)
    scope = InstrumentationScope("majordomo_otel.gateway", _version())
    limits = QueueLimits.from_env(environ)
    if exporter is None:
        if (target := traces_target(environ)) is not None:
            output: SpanOutput = OtlpSpans(target, resource, scope, limits)
            return output, output.stats
        exporter = span_exporter_from_env(environ)
        if exporter is None:
            return None, ExportStats()
    output = SdkSpans(exporter, resource, scope, limits)
    return output, output.stats


# (span attribute, record column): ours always, the standard ones only per `SpanUsagePolicy`.
_MAJORDOMO_USAGE: Final = (
    (sc.USAGE_INPUT_TOKENS, "input_tokens"),
    (sc.USAGE_OUTPUT_TOKENS, "output_tokens"),
    (sc.USAGE_CACHE_READ_TOKENS, "cached_tokens"),
    (sc.USAGE_CACHE_WRITE_TOKENS, "cache_creation_tokens"),
    (sc.USAGE_REASONING_TOKENS, "reasoning_tokens"),
)
_STANDARD_USAGE: Final = (
    (sc.GEN_AI_USAGE_INPUT_TOKENS, "input_tokens"),
    (sc.GEN_AI_USAGE_OUTPUT_TOKENS, "output_tokens"),
    (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, "cached_tokens"),
    (sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, "cache_creation_tokens"),
)
# Each table's attribute names, and one call that reads all its columns (not a getattr per column).
_MAJORDOMO_NAMES: Final = tuple(attribute for attribute, _ in _MAJORDOMO_USAGE)
_MAJORDOMO_VALUES: Final = attrgetter(*(column for _, column in _MAJORDOMO_USAGE))
_STANDARD_NAMES: Final = tuple(attribute for attribute, _ in _STANDARD_USAGE)
_STANDARD_VALUES: Final = attrgetter(*(column for _, column in _STANDARD_USAGE))


class GatewaySpans:
    """Renders each finished `RequestRecord` as a SERVER span and its upstream CLIENT child.

    The request is over when its spans are made, so they are rendered once, finished, and handed
    to the output (`SpanOutput`): no live span objects, no per-attribute validation on the hot
    path, and nothing at all when export is off (ids are still made, for the record).
    """

    def __init__(
        self,
        output: SpanOutput | None,
        policy: SpanUsagePolicy,
        provider_names: Mapping[str, str] = _PROVIDER_NAMES,
    ) -> None:
        self._provider_names = provider_names
        self._output = output
        self._policy = policy

    @property
    def exporting(self) -> bool:
        return self._output is not None

    def begin(self, headers: Mapping[str, str]) -> SpanPlan:
        return SpanPlan(parse_traceparent(headers.get("traceparent")), headers.get("tracestate"))

    def finish(self, plan: SpanPlan, record: RequestRecord) -> None:
        plan.end_ns = plan.now_ns()
        if self._output is None or not plan.sampled:
            return
        operation = operation_name(record.operation)
        self._output.emit(
            plan,
            f"gateway {operation}",
            self.server_attributes(plan, record, operation),
            _status(record),
            _UPSTREAM_FAILED if record.status_code in (502, 504) else _UNSET,
        )

    def server_attributes(self, plan: SpanPlan, record: RequestRecord, operation: str) -> dict[str, Any]:
        """The SERVER span's attributes; `operation` is `operation_name(record.operation)`, made once by `finish`."""
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: operation,
            sc.GEN_AI_PROVIDER_NAME: self._provider_names.get(record.provider, record.provider),
            sc.HTTP_REQUEST_METHOD: record.request_method,
            sc.URL_PATH: record.request_path,
            sc.PROVIDER: record.provider,
            **plan.server_attributes,
            sc.REQUEST_ID: record.id,
            sc.STREAMED: record.streamed,
            sc.USAGE_STATUS: record.usage_status,
            sc.COST_STATUS: record.pricing_status,
        }
        if record.request_model:
            attrs[sc.GEN_AI_REQUEST_MODEL] = record.request_model
        if record.model:
            attrs[sc.GEN_AI_RESPONSE_MODEL] = record.model
        if record.status_code is not None:
            attrs[sc.HTTP_RESPONSE_STATUS_CODE] = record.status_code
        if record.time_to_first_token_ms is not None:
            attrs[sc.TIME_TO_FIRST_BYTE_MS] = record.time_to_first_token_ms
        if record.error_message:
            attrs[sc.ERROR] = record.error_message
        for attribute, value in zip(_MAJORDOMO_NAMES, _MAJORDOMO_VALUES(record), strict=True):
            if value is not None:
                attrs[attribute] = value
        total = None if record.total_cost is None else float(record.total_cost)  # Decimal: a float once
        if total is not None:
            attrs[sc.COST_INPUT] = float(record.input_cost or 0)
            attrs[sc.COST_OUTPUT] = float(record.output_cost or 0)
            attrs[sc.COST_TOTAL] = total
        if self._policy is SpanUsagePolicy.ALWAYS or (self._policy is SpanUsagePolicy.AUTO and plan.parent is None):
            # Standard attributes only where nobody else reports them: no double counting.
            for attribute, value in zip(_STANDARD_NAMES, _STANDARD_VALUES(record), strict=True):
                if value is not None:
                    attrs[attribute] = value
            if total is not None:
                attrs[sc.OPERATION_COST] = total
        return attrs

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Every span of a finished request exported (or failed) before this returns."""
        return self._output.force_flush(timeout_millis / 1000) if self._output is not None else True

    def shutdown(self) -> None:
        if self._output is not None:
            self._output.shutdown()


def _status(record: RequestRecord) -> SpanStatus:
    if record.status_code is not None and record.status_code >= 500:
        return (StatusCode.ERROR, record.error_message or f"HTTP {record.status_code}")
    if record.status_code == 499:
        return (StatusCode.ERROR, record.error_message or "client disconnected")
    return _UNSET


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("majordomo-otel")
    except Exception:  # pragma: no cover - running from a source tree without metadata
        return "0"


def operation_name(operation: str) -> str:
    return _OPERATION_NAMES.get(operation, operation)
