"""`majordomo gateway` as a real process: it serves, says loudly when auth is off, and drains on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from majordomo_otel.sim import SimServer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(url + "/health", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("gateway did not become healthy")


def test_gateway_serves_and_drains_every_record_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    port = _free_port()
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
            _wait_healthy(url, proc)
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
