"""`majordomo gateway` as a real process: it serves, says loudly when auth is off, and drains on SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from local_processes import free_port, wait_healthy
from majordomo_otel.sim import SimServer


def test_gateway_serves_and_drains_every_record_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    port = free_port()
    with SimServer.in_thread() as sim:
        env = {
            **os.environ,
            "MAJORDOMO_DATABASE_URL": f"sqlite:///{db}",
            "MAJORDOMO_OPENAI_BASE_URL": sim.url,
            "MAJORDOMO_PORT": str(port),
        }
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "majordomo_otel.cli", "gateway", "--no-auth"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, proc)
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            ids = [
                httpx.post(url + "/v1/chat/completions", json=body, timeout=10).headers["X-Majordomo-Request-Id"]
                for _ in range(20)
            ]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        stderr = proc.stderr.read() if proc.stderr else ""
    assert "AUTH IS OFF (--no-auth)" in stderr
    stored = {row[0] for row in sqlite3.connect(db).execute("SELECT id FROM llm_requests")}
    assert stored == set(ids)
