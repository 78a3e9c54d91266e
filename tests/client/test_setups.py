"""The same checks under Logfire and under `opentelemetry-instrument`, each in a fresh process.

The `opentelemetry-instrument` app exports with the SDK's console exporter: its spans come back on stdout,
so no collector stand-in is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from majordomo_otel.sim import SimServer

from ._helpers import EXPECTED_HEADERS, majordomo_headers, parse_traceparent

APPS = Path(__file__).parent / "apps"
TAGS = {
    "majordomo.feature": "research",
    "majordomo.step": "synthesis",
    "majordomo.user_id": "u-1",
    "majordomo.session_id": "s-1",
}


def _env(gateway: SimServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MAJORDOMO_", "ANTHROPIC_OPEN"))}
    env.update(
        MAJORDOMO_GATEWAY_URL=gateway.url,
        MAJORDOMO_API_KEY="mdm_sk_test",
        APP_BASE_URL=gateway.url,
        PYTHONPATH=str(APPS),
        **extra,
    )
    return env


def test_logfire_first(exporter, gateway: SimServer) -> None:
    out = subprocess.run(
        [sys.executable, str(APPS / "logfire_app.py")], env=_env(gateway), capture_output=True, text=True, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert [report, majordomo_headers(gateway)] == [
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


def _console_spans(stdout: str) -> list[tuple[str, int, int, int, dict[str, str]]]:
    """(name, trace id, span id, parent id or 0, majordomo attributes) of each span the SDK's console
    exporter printed, in start order (a child that starts in its parent's microsecond comes after it)."""
    decoder = json.JSONDecoder()
    raw: list[dict[str, Any]] = []
    text = stdout.strip()
    while text:
        span, end = decoder.raw_decode(text)
        raw.append(span)
        text = text[end:].strip()
    by_id = {s["context"]["span_id"]: s for s in raw}

    def depth(span: dict[str, Any]) -> int:
        parent = span["parent_id"]
        return 0 if parent not in by_id else 1 + depth(by_id[parent])

    return [
        (
            s["name"],
            int(s["context"]["trace_id"], 16),
            int(s["context"]["span_id"], 16),
            int(s["parent_id"], 16) if s["parent_id"] else 0,
            {k: v for k, v in s["attributes"].items() if k.startswith("majordomo.")},
        )
        for s in sorted(raw, key=lambda s: (s["start_time"], depth(s)))
    ]


def test_opentelemetry_instrument(exporter, gateway: SimServer) -> None:
    env = _env(
        gateway,
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_SERVICE_NAME="app",
    )
    out = subprocess.run(
        [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, str(APPS / "app.py")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    spans = _console_spans(out.stdout)
    by_id = {s[2]: s for s in spans}
    links = []
    for request in gateway.requests:
        trace_id, parent_id = parse_traceparent(request.header("traceparent"))
        http = by_id[parent_id]
        links.append((trace_id == http[1], http[0], by_id[http[3]][0]))
    assert [[(s[0], s[4]) for s in spans], majordomo_headers(gateway), links] == [
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
