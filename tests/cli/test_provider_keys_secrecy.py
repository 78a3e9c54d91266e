"""A provider key held by the gateway never shows: not in the gateway's logs (DEBUG, access log on), not in
rows, spool or journal files, `/readyz`, or any command's output; a database dump holds only its encrypted form."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from local_processes import free_port, wait_healthy
from majordomo_otel.sim import SimServer

SECRET = "operator-secret-0123456789-abcdef"
OPENAI_KEY = "sk-proj-OPENAI-PLAINTEXT-never-shown-1111"
GEMINI_KEY = "AIza-GEMINI-PLAINTEXT-never-shown-2222"
ANTHROPIC_KEY = "sk-ant-ENV-PLAINTEXT-never-shown-3333"
PLAINTEXTS = (OPENAI_KEY, GEMINI_KEY, ANTHROPIC_KEY, SECRET)


def _majordomo(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "majordomo_otel.cli", *args], env=env, input=stdin, capture_output=True, text=True
    )


@pytest.fixture
def everything_the_gateway_left(tmp_path: Path, pg_url: str, pg_schema: str) -> tuple[str, str]:
    """Run the gateway with stored and environment keys through successes and failures; return all
    it left behind as one text, and the database dump."""
    port = free_port()
    spool = tmp_path / "spool"
    with SimServer.in_thread() as sim:
        env = {
            **os.environ,
            "MAJORDOMO_DATABASE_URL": pg_url,
            "MAJORDOMO_SPOOL_DIR": str(spool),
            "MAJORDOMO_SECRET_KEY": SECRET,
            "MAJORDOMO_ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "MAJORDOMO_OPENAI_BASE_URL": sim.url,
            "MAJORDOMO_ANTHROPIC_BASE_URL": sim.url,
            "MAJORDOMO_GEMINI_BASE_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens: 502s
            "MAJORDOMO_PORT": str(port),
            "MAJORDOMO_LOG_LEVEL": "DEBUG",
            "MAJORDOMO_ACCESS_LOG": "on",
        }
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        outputs = []
        created = _majordomo(env, "keys", "create", "app")
        key = created.stdout.strip()
        outputs += [created.stderr]
        for provider, value in (("openai", OPENAI_KEY), ("gemini", GEMINI_KEY)):
            done = _majordomo(env, "credentials", "set", provider, stdin=value + "\n")
            assert done.returncode == 0, done.stderr
            outputs += [done.stdout, done.stderr]
        proc = subprocess.Popen(
            [sys.executable, "-m", "majordomo_otel.cli", "gateway"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, proc)
            bearer = {"Authorization": f"Bearer {key}"}
            chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            statuses = [
                httpx.post(url + "/v1/chat/completions", json=chat, headers=bearer, timeout=10).status_code,
                httpx.post(
                    url + "/v1/chat/completions", json=chat, headers={**bearer, "X-Sim-Status": "401"}, timeout=10
                ).status_code,
                httpx.post(
                    url + "/v1/messages",
                    json={"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": chat["messages"]},
                    headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
                    timeout=10,
                ).status_code,
                httpx.post(
                    url + f"/v1beta/models/gemini-2.0-flash:generateContent?key={key}",
                    json={"contents": [{"parts": [{"text": "hi"}]}]},
                    timeout=10,
                ).status_code,
            ]
            readyz = httpx.get(url + "/readyz", timeout=10)
            outputs.append(readyz.text)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        assert statuses == [200, 401, 200, 502]
        outputs += [proc.stdout.read() if proc.stdout else "", proc.stderr.read() if proc.stderr else ""]
        for args in (("credentials", "list"), ("keys", "list"), ("costs", "--by", "provider")):
            shown = _majordomo(env, *args)
            assert shown.returncode == 0, shown.stderr
            outputs += [shown.stdout, shown.stderr]
    outputs += [p.read_bytes().decode("utf-8", "replace") for p in spool.rglob("*") if p.is_file()]
    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-n", pg_schema, "test"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "\n".join(outputs), dump


def test_no_provider_key_in_logs_files_endpoints_or_command_output(
    everything_the_gateway_left: tuple[str, str],
) -> None:
    left, _ = everything_the_gateway_left
    assert "GET /readyz 200" in left  # the access log did run, at DEBUG
    assert [p for p in PLAINTEXTS if p in left] == []


def test_a_database_dump_holds_only_the_encrypted_form(everything_the_gateway_left: tuple[str, str]) -> None:
    _, dump = everything_the_gateway_left
    assert [p for p in PLAINTEXTS if p in dump] == []
    assert dump.count("gAAAAA") == 2  # the two stored keys, as Fernet tokens
