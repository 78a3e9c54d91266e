"""`majordomo gateway --workers 1` against `--workers 2` (issue 11): req/s and gateway CPU per request.

    python bench/bench_workers.py [--rounds 3] [--seconds 5] [--pg URL | --pg ''] [--out FILE]

Non-streaming OpenAI chat at concurrency 64 (wrk) against the stand-in provider, a real key sent as
`X-Majordomo-Key`. Targets, interleaved in every round (order rotated), the floor measured in the same
rounds: the aiohttp + aiohttp pass-through (`_passthrough_aiohttp.py`, the gateway's stack doing nothing
else), the gateway with SQLite records (`--workers 1`, `--workers 2`), and with `--pg` the same with full
accounting: PostgreSQL records and OTLP span export to a local sink (`_otlp_sink.py`).

Layout on 2 cores: the sim, wrk, the OTLP sink and this script on core 0; the pass-through and every
`--workers 1` gateway on core 1; `--workers 2` on cores 0 and 1 (taskset), so its second worker shares
core 0 with the load generator and the sim: this machine has no third core to give it. CPU per request =
utime + stime of the supervising parent and all its workers (/proc, all threads), measured once the rows
of the cell are in the database, divided by the requests wrk completed. Figures are medians over rounds;
`x floor` is the target's req/s over the pass-through's in the same round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import uvloop

sys.path.insert(0, str(Path(__file__).parent))

from _gateways import BASE_HEADERS, CHAT, PATH, clean_env, create_key
from _load import LoadResult, run_wrk, wrk_script
from _procs import PG_DEFAULT, cpu_seconds, free_port, require_tools, start, stop, wait_listening
from bench_gateway import _pg_counter, _sqlite_counter

BENCH = Path(__file__).parent
VENV_BIN = Path(sys.executable).parent
LOAD_CORE, GATEWAY_CORE = 0, 1
CONNECTIONS = 64


@dataclass
class Target:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    headers: dict[str, str] = field(default_factory=lambda: dict(BASE_HEADERS))
    count_rows: Callable[[], Awaitable[int]] | None = None
    script: Path | None = None

    def cpu(self) -> float:
        """CPU seconds of the process and its direct children (a supervisor's workers)."""
        pid = self.proc.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return cpu_seconds(pid) + sum(cpu_seconds(int(child)) for child in children)


@dataclass(frozen=True, slots=True)
class Cell:
    load: LoadResult
    cpu_ms: float
    rows_per_request: float | None


def _gateway(name: str, tmp: Path, sim_url: str, database_url: str, workers: int, env: dict[str, str]) -> Target:
    port = free_port()
    key = create_key(database_url)
    argv = [str(VENV_BIN / "majordomo"), "gateway", "--port", str(port), "--database-url", database_url]
    argv += ["--openai-base-url", sim_url, "--spool-dir", str(tmp / f"spool-{port}"), "--workers", str(workers)]
    argv += ["--log-level", "INFO"]  # the supervisor's "workers listening" line; nothing is logged per request
    cores = str(GATEWAY_CORE) if workers == 1 else f"{LOAD_CORE},{GATEWAY_CORE}"
    with (tmp / f"{name}.log").open("wb") as out:
        proc = subprocess.Popen(["taskset", "-c", cores, *argv], stdout=out, stderr=subprocess.STDOUT, env=env)
    wait_listening(port, proc)
    target = Target(name, f"http://127.0.0.1:{port}", proc)
    target.headers["X-Majordomo-Key"] = key
    deadline = time.monotonic() + 30
    while workers > 1 and "workers listening" not in (tmp / f"{name}.log").read_text():
        assert time.monotonic() < deadline, f"{name}: workers not listening after 30 s"
        time.sleep(0.05)
    return target


async def _settled(count: Callable[[], Awaitable[int]], at_least: int, wait: float = 15.0) -> int:
    """The row count once the writers have flushed: stable for 0.3 s with every expected row present."""
    deadline = time.monotonic() + wait
    last = await count()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        now = await count()
        if now == last and now >= at_least:
            return now
        last = now
    return last


async def run_cell(target: Target, seconds: float, tmp: Path) -> Cell:
    if target.script is None:
        target.script = wrk_script(tmp, target.name.replace(" ", "-"), CHAT, target.headers)
    rows_before = await target.count_rows() if target.count_rows else 0
    cpu_before = target.cpu()
    load = await run_wrk(target.url + PATH, target.script, connections=CONNECTIONS, seconds=seconds, core=LOAD_CORE)
    rows = None
    if target.count_rows is not None:
        rows = (await _settled(target.count_rows, rows_before + load.requests) - rows_before) / max(load.requests, 1)
    return Cell(load, (target.cpu() - cpu_before) / max(load.requests, 1) * 1000, rows)


def _med(values: list[float]) -> float:
    return statistics.median(values)


def summarise(results: dict[str, list[Cell]], floor: str) -> list[str]:
    lines = [
        "| target | req/s | x floor | gw CPU ms/req | p50 ms | p99 ms | rows/req | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, cells in results.items():
        ratio = _med([c.load.rps / f.load.rps for c, f in zip(cells, results[floor], strict=True)])
        rows = [c.rows_per_request for c in cells if c.rows_per_request is not None]
        lines.append(
            f"| {name} | {_med([c.load.rps for c in cells]):,.0f} | {ratio:.2f} "
            f"| {_med([c.cpu_ms for c in cells]):.3f} "
            f"| {_med([c.load.p50_ms for c in cells]):.2f} | {_med([c.load.p99_ms for c in cells]):.2f} "
            f"| {f'{_med(rows):.3f}' if rows else '-'} | {sum(c.load.errors for c in cells)} |"
        )
    pairs = [(n, n.replace("--workers 1", "--workers 2")) for n in results if "--workers 1" in n]
    lines.append("")
    for one, two in pairs:
        if two in results:
            rps = _med([b.load.rps / a.load.rps for a, b in zip(results[one], results[two], strict=True)])
            cpu = _med([b.cpu_ms / a.cpu_ms for a, b in zip(results[one], results[two], strict=True)])
            lines.append(
                f"- `{two}` / `{one}`: req/s x {rps:.2f}, CPU per request x {cpu:.2f} (medians of per-round ratios)"
            )
    return lines


async def main_async(args: argparse.Namespace) -> int:
    os.sched_setaffinity(0, {LOAD_CORE})
    tmp = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    schema = f"bench_workers_{uuid.uuid4().hex[:10]}"
    aux: list[subprocess.Popen[bytes]] = []
    targets: list[Target] = []
    try:
        sim_port, sink_port = free_port(), free_port()
        sim = [sys.executable, "-m", "majordomo_otel.sim", "--port", str(sim_port)]
        aux.append(start(sim, core=LOAD_CORE, port=sim_port, log=tmp / "sim.log", env=clean_env()))
        sink = [sys.executable, str(BENCH / "_otlp_sink.py"), "--port", str(sink_port)]
        aux.append(start(sink, core=LOAD_CORE, port=sink_port, log=tmp / "otlp.log", env=clean_env()))
        sim_url = f"http://127.0.0.1:{sim_port}"

        floor_port = free_port()
        floor = [
            sys.executable,
            str(BENCH / "_passthrough_aiohttp.py"),
            "--port",
            str(floor_port),
            "--upstream",
            sim_url,
        ]
        floor_proc = start(floor, core=GATEWAY_CORE, port=floor_port, log=tmp / "floor.log", env=clean_env())
        targets.append(Target("aiohttp+aiohttp pass-through (floor)", f"http://127.0.0.1:{floor_port}", floor_proc))
        for workers in (1, 2):
            db = tmp / f"w{workers}.db"
            t = _gateway(
                f"gateway sqlite+auth --workers {workers}", tmp, sim_url, f"sqlite:///{db}", workers, clean_env()
            )
            t.count_rows = _sqlite_counter(db)
            targets.append(t)
        if args.pg:
            conn = await asyncpg.connect(args.pg)
            await conn.execute(f'CREATE SCHEMA "{schema}"')
            await conn.close()
            otlp = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_port}")
            for workers in (1, 2):
                name = f"gateway postgres+auth+OTLP --workers {workers}"
                t = _gateway(name, tmp, sim_url, f"{args.pg}?schema={schema}", workers, otlp)
                t.count_rows = _pg_counter(args.pg, schema)
                targets.append(t)

        print(f"targets up (temp dir {tmp}); warming up", flush=True)
        for target in targets:
            await run_cell(target, args.warmup_seconds, tmp)
        results: dict[str, list[Cell]] = {t.name: [] for t in targets}
        for r in range(args.rounds):
            for target in targets[r % len(targets) :] + targets[: r % len(targets)]:
                cell = await run_cell(target, args.seconds, tmp)
                results[target.name].append(cell)
                print(
                    f"round {r + 1} {target.name:44} {cell.load.rps:8,.0f} req/s cpu {cell.cpu_ms:.3f} ms/req "
                    f"p50 {cell.load.p50_ms:.2f} ms err {cell.load.errors}",
                    flush=True,
                )

        out = [
            f"# Gateway workers, {datetime.now(UTC).isoformat(timespec='seconds')}",
            "",
            f"{os.cpu_count()} cores, load average at start {args.load_at_start}. Non-streaming chat, c={CONNECTIONS}, "
            f"{args.rounds} interleaved rounds of {args.seconds:g} s. Floor and `--workers 1` on core {GATEWAY_CORE}; "
            f"`--workers 2` on cores {LOAD_CORE},{GATEWAY_CORE}, sharing core {LOAD_CORE} with wrk and the sim. "
            "CPU = parent + workers utime+stime per completed request, the writers flushed.",
            "",
            *summarise(results, targets[0].name),
            "",
        ]
        text = "\n".join(out)
        print(text)
        dest = Path(args.out) if args.out else BENCH / "results" / f"workers-{datetime.now(UTC):%Y-%m-%d}.md"
        dest.parent.mkdir(exist_ok=True)
        dest.write_text(text + "\n")
        print(f"written to {dest}")
        return 0
    finally:
        for target in targets:
            stop(target.proc, timeout=60)
        for proc in aux:
            stop(proc)
        if args.pg:
            conn = await asyncpg.connect(args.pg)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5, help="per cell (wrk rounds to whole seconds)")
    parser.add_argument("--warmup-seconds", type=float, default=1, help="per target, before the rounds")
    parser.add_argument("--pg", default=PG_DEFAULT, help="'' skips full accounting")
    parser.add_argument("--out", help="results file (default bench/results/workers-<date>.md)")
    args = parser.parse_args()
    args.load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    require_tools("wrk", "taskset")
    return uvloop.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
