"""Requests per second the sim serves (it is the "direct" baseline of the gateway benchmarks).

The sim runs in its own process (`python -m majordomo_otel.sim --port 0`, one core); an aiohttp client drives
it at concurrency 1 and 64 for a fixed time per scenario. Loopback only, bounded in time. On a 2-core machine
the Python client is usually the bottleneck, so the sim's own CPU use is measured too: "req/s per sim core"
is what one fully busy sim core would serve.

    python bench/bench_sim.py [--seconds 3] [--concurrency 1 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

CHAT = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is the capital of France?"}]})


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    body: str
    headers: dict[str, str]


SCENARIOS = [
    Scenario("chat, synthetic, JSON", "/v1/chat/completions", CHAT, {}),
    Scenario(
        "chat, synthetic, SSE (12 events)",
        "/v1/chat/completions",
        json.dumps({**json.loads(CHAT), "stream": True, "stream_options": {"include_usage": True}}),
        {},
    ),
    Scenario(
        "fixture replay, JSON gzip", "/v1/chat/completions", "{}", {"X-Sim-Fixture": "openai/chat_cache_read_gzip"}
    ),
    Scenario(
        "fixture replay, SSE (76 events)", "/v1/messages", "{}", {"X-Sim-Fixture": "anthropic/messages_stream_text"}
    ),
]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to tell a busy sim from a busy client."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(url: str, scenario: Scenario, concurrency: int, seconds: float) -> tuple[float, float]:
    """(requests/s, mean latency ms) over `seconds` with `concurrency` workers."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Content-Type": "application/json", **scenario.headers}
    done = 0
    latency = 0.0
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done, latency
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.post(url + scenario.path, data=scenario.body, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latency += time.perf_counter() - started
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return done / elapsed, latency / max(done, 1) * 1000


async def main(seconds: float, levels: list[int]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "majordomo_otel.sim", "--port", "0", stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        url = line.split(" on ")[1].split()[0]
        print(f"sim at {url}, {seconds:g}s per run, client: aiohttp, one process each\n")
        print(f"{'scenario':36} {'conc':>5} {'req/s':>9} {'mean ms':>8} {'sim CPU':>8} {'req/s per sim core':>19}")
        for scenario in SCENARIOS:
            await run(url, scenario, 4, 0.3)  # warm-up: connections, caches
            for concurrency in levels:
                cpu = cpu_seconds(process.pid)
                rps, ms = await run(url, scenario, concurrency, seconds)
                busy = (cpu_seconds(process.pid) - cpu) / seconds
                print(
                    f"{scenario.name:36} {concurrency:>5} {rps:>9.0f} {ms:>8.2f} {busy:>8.0%} {rps / busy:>19.0f}",
                    flush=True,
                )
    finally:
        process.terminate()
        await process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.concurrency))
