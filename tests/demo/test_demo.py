"""`majordomo demo`, run as a user runs it (a subprocess, no keys, no network), checked against its database."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dirty_equals import IsPositiveFloat
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SQL_BY = {
    "feature": "raw_metadata->>'Feature'",
    "step": "raw_metadata->>'Step'",
    "user": "raw_metadata->>'User-Id'",
}


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    stdout: str
    stderr: str
    db: Path


def _clean_env() -> dict[str, str]:
    """No keys, no gateway, no collector: what a newcomer's shell has."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MAJORDOMO_", "OTEL_"))
        and k not in {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"}
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    proc = subprocess.run(
        [sys.executable, "-m", "majordomo_otel.cli", "demo", "--keep", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
    )
    return DemoRun(proc.returncode, proc.stdout, proc.stderr, db)


def _printed_totals(stdout: str, by: str) -> dict[str, Decimal]:
    """The `Cost by <by>` table the demo printed: group → cost (total line excluded)."""
    section = stdout.split(f"Cost by {by} ", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in section.splitlines()[2:] if line and not line.startswith("-")][:-1]
    return {row.split()[0]: Decimal(row.split()[-2]) for row in rows}


def _sql_totals(db: Path, by: str) -> dict[str, float]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT {SQL_BY[by]}, SUM(total_cost) FROM llm_requests GROUP BY 1").fetchall()
    return {group: cost for group, cost in rows}


def test_demo_exits_zero(demo: DemoRun) -> None:
    assert (demo.returncode, demo.stderr) == (0, "")


@pytest.mark.parametrize(
    ("by", "groups"),
    [("feature", ["research"]), ("step", ["query-gen", "synthesis"]), ("user", ["alice", "bob", "carol"])],
)
def test_printed_costs_equal_the_sql_totals(demo: DemoRun, by: str, groups: list[str]) -> None:
    printed = _printed_totals(demo.stdout, by)
    sql = _sql_totals(demo.db, by)
    assert sorted(printed) == groups
    assert {g: float(c) for g, c in printed.items()} == {g: pytest.approx(sql[g], rel=1e-9) for g in groups}


@pytest.mark.parametrize("by", ["feature", "step", "user"])
def test_every_printed_cost_is_positive(demo: DemoRun, by: str) -> None:
    costs = _printed_totals(demo.stdout, by)
    assert {g: float(c) for g, c in costs.items()} == {g: IsPositiveFloat() for g in costs}


def test_every_request_is_priced_and_tagged(demo: DemoRun) -> None:
    with sqlite3.connect(demo.db) as conn:
        rows = conn.execute(
            "SELECT provider, model, raw_metadata->>'Feature', raw_metadata->>'Step', raw_metadata->>'User-Id', "
            "pricing_status, streamed FROM llm_requests ORDER BY 5, 4, requested_at"
        ).fetchall()
    tool_call_then_text = 2
    assert rows == [
        *[("openai", "gpt-4o-mini", "research", "query-gen", "alice", "priced", 0)] * tool_call_then_text,
        ("anthropic", "claude-sonnet-4-6", "research", "synthesis", "alice", "priced", 1),
        *[("anthropic", "claude-3-5-haiku-latest", "research", "query-gen", "bob", "priced", 0)] * tool_call_then_text,
        ("gemini-openai", "gemini-3.5-flash-lite", "research", "synthesis", "bob", "priced", 1),
        *[("gemini-openai", "gemini-3.5-flash-lite", "research", "query-gen", "carol", "priced", 0)]
        * tool_call_then_text,
        ("openai", "gpt-4o-mini", "research", "synthesis", "carol", "priced", 1),
    ]


def test_span_tree_shows_each_gateway_span_with_its_record_cost(demo: DemoRun) -> None:
    trace_id = re.search(r"Span tree of alice's run, trace ([0-9a-f]{32})", demo.stdout)
    assert trace_id is not None
    printed = re.findall(r"\[gateway SERVER\]\s+(\S+)\s+cost \$(\S+)", demo.stdout)
    with sqlite3.connect(demo.db) as conn:
        rows = conn.execute(
            "SELECT model, total_cost FROM llm_requests WHERE trace_id = ? ORDER BY requested_at", (trace_id[1],)
        ).fetchall()
    assert [(m, float(c)) for m, c in printed] == [(m, pytest.approx(c, rel=1e-9)) for m, c in rows]
    assert len(rows) == 3


def test_span_tree_nests_gateway_spans_under_the_agent_http_calls(demo: DemoRun) -> None:
    tree = demo.stdout.split("Span tree of", 1)[1].split("\n\n", 1)[0]
    shape = []
    for line in tree.splitlines()[2:-1]:
        prefix, _, label = line.partition("─ ")
        name = label.split("  ")[0].replace("gpt-4o-mini", "M").replace("claude-sonnet-4-6", "M")
        shape.append(f"{prefix}─ {name}")
    assert shape == [
        "└─ research solid-state batteries",
        "   ├─ invoke_agent query-gen",
        "   │  ├─ chat M",
        "   │  │  └─ POST",
        "   │  │     └─ gateway chat",
        "   │  │        └─ POST /v1/chat/completions",
        "   │  ├─ execute_tool search_web",
        "   │  └─ chat M",
        "   │     └─ POST",
        "   │        └─ gateway chat",
        "   │           └─ POST /v1/chat/completions",
        "   └─ invoke_agent synthesis",
        "      └─ chat M",
        "         └─ POST",
        "            └─ gateway chat",
        "               └─ POST /v1/messages",
    ]


def test_prints_where_the_database_is_and_a_query_to_try(demo: DemoRun) -> None:
    lines = demo.stdout.splitlines()
    query = next(line for line in lines if line.strip().startswith("sqlite3 "))
    assert [f"Database: {demo.db}" in lines, query.split()[1] == str(demo.db)] == [True, True]
    result = subprocess.run(
        ["sqlite3", str(demo.db), query.strip().split(" ", 2)[2].strip('"')], capture_output=True, text=True
    )
    assert (result.returncode, len(result.stdout.splitlines())) == (0, 6)


def test_without_keep_the_database_is_deleted(tmp_path: Path) -> None:
    env = _clean_env() | {"TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "majordomo_otel.cli", "demo"], capture_output=True, text=True, timeout=120, env=env
    )
    assert (proc.returncode, list(tmp_path.iterdir())) == (0, [])


class _OtlpReceiver(ThreadingHTTPServer):
    """A local OTLP/HTTP endpoint that keeps every decoded trace export."""

    def __init__(self) -> None:
        self.exports: list[ExportTraceServiceRequest] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/traces":
                    receiver.exports.append(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def otlp_receiver() -> Iterator[_OtlpReceiver]:
    server = _OtlpReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_with_an_otlp_endpoint_both_sides_export_one_trace_per_run(otlp_receiver: _OtlpReceiver) -> None:
    endpoint = f"http://127.0.0.1:{otlp_receiver.server_address[1]}"
    proc = subprocess.run(
        [sys.executable, "-m", "majordomo_otel.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env() | {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
    )
    services_per_trace: dict[bytes, set[str]] = {}
    gateway_servers = 0
    for export in otlp_receiver.exports:
        for resource_spans in export.resource_spans:
            service = next(a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    services_per_trace.setdefault(span.trace_id, set()).add(service)
                    gateway_servers += service == "majordomo-gateway" and span.kind == span.SPAN_KIND_SERVER
    assert (proc.returncode, gateway_servers, sorted(map(sorted, services_per_trace.values()))) == (
        0,
        9,
        [["majordomo-demo", "majordomo-gateway"]] * 3,
    )
