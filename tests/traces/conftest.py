"""One workflow run per module: a client subprocess, the gateway and stand-in providers in this process.

The client runs in a subprocess so its global OTel state (tracer provider, propagators, patched
httpx) is its own, as an application's is; `tests/client` keeps the process-global provider of this
pytest process. The gateway and the stand-in providers run on their own thread and loop
(`local_stack`), with the gateway's spans exported over OTLP/HTTP to the same local receiver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from majordomo_otel.demo._stack import LocalStack, local_stack

from ._otlp_receiver import OtlpReceiver, ReceivedSpan

CLIENT_SCRIPT = Path(__file__).with_name("_workflow_client.py")
CLIENT_SERVICE = "workflow-client"
GATEWAY_SERVICE = "majordomo-gateway"


@dataclass(frozen=True)
class Workflow:
    stack: LocalStack
    receiver: OtlpReceiver
    trace_ids: dict[str, str]  # user → the run's trace id
    records: list[dict[str, Any]]  # every `llm_requests` row of the workflow

    def spans(self, user: str) -> list[ReceivedSpan]:
        return self.receiver.trace(self.trace_ids[user])

    def records_of(self, user: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["trace_id"] == self.trace_ids[user]]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment minus anything Majordomo or OTel, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAJORDOMO_", "OTEL_", "ANTHROPIC_OPEN"))}
    return env | extra


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def workflow(receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workflow]:
    db = tmp_path_factory.mktemp("traces") / "workflow.db"
    exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=5)
    with local_stack(db, span_exporter=exporter) as stack:
        env = clean_env(
            **stack.client_environ(), OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_SERVICE_NAME=CLIENT_SERVICE
        )
        proc = subprocess.run(
            [sys.executable, str(CLIENT_SCRIPT)], env=env, capture_output=True, text=True, timeout=120
        )
        assert (proc.returncode, proc.stderr) == (0, "")
        trace_ids: dict[str, str] = json.loads(proc.stdout)
        records = stack.query("SELECT * FROM llm_requests ORDER BY requested_at")  # flushes spans too
        for record in records:
            record["raw_metadata"] = json.loads(record["raw_metadata"])
        for trace_id in trace_ids.values():
            expected = sum(1 for r in records if r["trace_id"] == trace_id) * 2  # gateway SERVER + CLIENT
            receiver.wait_for(trace_id, expected + 1)  # and at least one client span
        yield Workflow(stack, receiver, trace_ids, records)
