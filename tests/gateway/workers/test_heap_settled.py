"""A real `majordomo gateway` (one process, or each `--workers` worker) serves with its start-up heap frozen.

A `sitecustomize` on the gateway's path reports, as each process exits, what its collector looked like:
the serving processes froze their start-up heap and raised the young threshold (`heap.settle`); the
supervisor, which serves nothing, left its collector alone.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from _fleet import GatewayProcess, clean_env

from majordomo_otel.gateway.heap import YOUNG_THRESHOLD
from majordomo_otel.sim import SimServer

_REPORT = """
import atexit, gc, json, os, sys

def _report():
    with open(os.path.join({out!r}, f"{{os.getpid()}}.json"), "w") as f:
        json.dump({{"argv": sys.argv, "frozen": gc.get_freeze_count(), "young": gc.get_threshold()[0]}}, f)

atexit.register(_report)
"""


def _reports(out: Path) -> list[dict[str, object]]:
    found = []
    for path in out.glob("*.json"):
        report = json.loads(path.read_text())
        argv = report.pop("argv")
        if "gateway" in argv or "--slot" in argv:  # not the CLI helpers the harness may run
            report["role"] = "worker" if "--slot" in argv else "gateway"
            found.append(report)
    return sorted(found, key=lambda r: str(r["role"]))


@pytest.mark.parametrize("workers", [1, 2])
async def test_serving_processes_freeze_their_start_up_heap(workers: int, sim: SimServer, tmp_path: Path) -> None:
    site, out = tmp_path / "site", tmp_path / "reports"
    site.mkdir()
    out.mkdir()
    (site / "sitecustomize.py").write_text(_REPORT.format(out=str(out)))
    env = clean_env(
        PYTHONPATH=str(site),
        MAJORDOMO_DATABASE_URL=f"sqlite:///{tmp_path / 'gw.db'}",
        MAJORDOMO_OPENAI_BASE_URL=sim.url,
        MAJORDOMO_SPOOL_DIR=str(tmp_path / "spool"),
    )
    args = ("--no-auth",) if workers == 1 else ("--no-auth", "--workers", str(workers))
    gateway = GatewayProcess(tmp_path / "gateway.log", env, *args)
    gateway.start()
    try:
        await gateway.ready()
        async with aiohttp.ClientSession() as http:
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            async with http.post(gateway.url + "/v1/chat/completions", json=body) as resp:
                assert resp.status == 200
        assert await asyncio.to_thread(gateway.stop) == 0
    finally:
        gateway.close()
    settled = {"frozen": True, "young": YOUNG_THRESHOLD}
    reports = [{**r, "frozen": r["frozen"] > 1000} for r in _reports(out)]  # type: ignore[operator]
    if workers == 1:
        assert reports == [{"role": "gateway", **settled}]
    else:
        untouched = {"frozen": False, "young": 700}  # the supervisor serves nothing
        worker = {"role": "worker", **settled}
        assert reports == [{"role": "gateway", **untouched}, worker, worker]
