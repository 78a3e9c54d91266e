"""`majordomo sim` (and `python -m majordomo_otel.sim`) serve the stand-in providers on the port asked for."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx
import pytest


@pytest.mark.parametrize(
    "command",
    [["-m", "majordomo_otel.cli", "sim", "--port", "0"], ["-m", "majordomo_otel.sim", "--port", "0"]],
    ids=["majordomo sim", "python -m majordomo_otel.sim"],
)
def test_sim_serves_until_sigterm(command: list[str]) -> None:
    proc = subprocess.Popen([sys.executable, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.fullmatch(r"majordomo sim listening on (http://127\.0\.0\.1:\d+) \(\d+ fixtures\)\n", line)
        assert match, line + (proc.stderr.read() if proc.stderr and proc.poll() is not None else "")
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        reply = httpx.post(match[1] + "/v1/chat/completions", json=body, timeout=10).json()
        assert reply["model"] == "gpt-4o-mini"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_majordomo_help_does_not_load_the_gateway_stack() -> None:
    code = "import sys, majordomo_otel.cli as c; c.build_parser(); print('aiohttp' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
