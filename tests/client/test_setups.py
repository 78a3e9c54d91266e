"""The same checks under Logfire and under `opentelemetry-instrument`, each in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ._fake import FakeServer
from ._helpers import EXPECTED_HEADERS, parse_traceparent

APPS = Path(__file__).parent / "apps"
TAGS = {
    "majordomo.feature": "research",
    "majordomo.step": "synthesis",
    "majordomo.user_id": "u-1",
    "majordomo.session_id": "s-1",
}


def _env(gateway: FakeServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MAJORDOMO_", "ANTHROPIC_OPEN"))}
    env.update(
        MAJORDOMO_GATEWAY_URL=gateway.url,
        MAJORDOMO_API_KEY="mdm_sk_test",
        APP_BASE_URL=gateway.url,
        PYTHONPATH=str(APPS),
        **extra,
    )
    return env


def test_logfire_first(exporter, gateway: FakeServer) -> None:
    out = subprocess.run(
        [sys.executable, str(APPS / "logfire_app.py")], env=_env(gateway), capture_output=True, text=True, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert [report, gateway.majordomo_headers()] == [
        {
            "same_provider": True,
            "trace_ids": 1,
            "spans": [
                ["invoke_agent researcher", TAGS],
                ["chat gpt-4o", TAGS],
                ["POST", TAGS],
                ["execute_tool lookup", TAGS],
                ["chat gpt-4o", TAGS],
                ["POST", TAGS],
            ],
        },
        [EXPECTED_HEADERS, EXPECTED_HEADERS],
    ]


def _otlp_spans(collector: FakeServer) -> list[tuple[str, str, int, int, int, dict[str, str]]]:
    spans = []
    for raw in collector.otlp:
        request = ExportTraceServiceRequest.FromString(raw)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    attrs = {a.key: a.value.string_value for a in s.attributes if a.key.startswith("majordomo.")}
                    spans.append(
                        (
                            s.name,
                            s.start_time_unix_nano,
                            int.from_bytes(s.trace_id, "big"),
                            int.from_bytes(s.span_id, "big"),
                            int.from_bytes(s.parent_span_id, "big") if s.parent_span_id else 0,
                            attrs,
                        )
                    )
    return sorted(spans, key=lambda s: s[1])


def test_opentelemetry_instrument(exporter, gateway: FakeServer, other_host: FakeServer) -> None:
    env = _env(
        gateway,
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=other_host.url,
        OTEL_SERVICE_NAME="app",
    )
    subprocess.run(
        [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, str(APPS / "app.py")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    spans = _otlp_spans(other_host)
    by_id = {s[3]: s for s in spans}
    links = []
    for request in gateway.requests:
        trace_id, parent_id = parse_traceparent(request.headers["traceparent"])
        http = by_id[parent_id]
        links.append((trace_id == http[2], http[0], by_id[http[4]][0]))
    assert [[(s[0], s[5]) for s in spans], gateway.majordomo_headers(), links] == [
        [
            ("invoke_agent researcher", TAGS),
            ("chat gpt-4o", TAGS),
            ("POST", TAGS),
            ("execute_tool lookup", TAGS),
            ("chat gpt-4o", TAGS),
            ("POST", TAGS),
        ],
        [EXPECTED_HEADERS, EXPECTED_HEADERS],
        [(True, "POST", "chat gpt-4o"), (True, "POST", "chat gpt-4o")],
    ]
