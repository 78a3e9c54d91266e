"""Why a gateway costs what it costs at low concurrency: how often its event loop sleeps per request.

    python bench/bench_wakeups.py [--baseline-src OLD/src --baseline-name NAME] [--rounds 5] [--seconds 4]

At concurrency 1 a process's CPU per request includes going idle: each time the event loop finds nothing
ready it blocks in epoll, and sleeping and being woken (the scheduler, the loopback interrupt, cold caches)
costs CPU that no instruction count shows. A gateway that does its bookkeeping *after* the response's last
byte is busy while the client reads the response and sends its next request, so that request is waiting
when the loop polls; one that does it *before* (the journal: a client never gets the last byte of a
response whose record a SIGKILL could lose) is done first, and sleeps. This bench shows it: per request,
user and kernel CPU, page faults, and the voluntary context switches of the event loop's thread (each one
a sleep), for this checkout's gateway (SQLite records, a real key), with and without the journal, and any
older checkout (`--baseline-src`), under wrk at chat c1 (or `--connections`), interleaved rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from _gateways import (
    BASE_HEADERS,
    CHAT,
    PATH,
    VENV_BIN,
    add_baseline_arguments,
    baselines,
    clean_env,
    create_key,
    src_env,
)
from _load import run_wrk, wrk_script
from _procs import cpu_times, free_port, require_tools, start, stat_fields, stop


@dataclass
class Target:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    script: Path


@dataclass(frozen=True)
class Sample:
    """/proc counters of a target process: all threads' CPU and faults, the event loop thread's sleeps."""

    user_s: float
    system_s: float
    minor_faults: int
    loop_sleeps: int  # voluntary context switches of the main thread (the event loop's)

    @classmethod
    def of(cls, pid: int) -> Sample:
        fields = stat_fields(pid)
        status = Path(f"/proc/{pid}/task/{pid}/status").read_text()
        [sleeps] = [line.split()[1] for line in status.splitlines() if line.startswith("voluntary_ctxt_switches")]
        return cls(*cpu_times(pid, fields), int(fields[7]), int(sleeps))  # field 10 of the full line: minflt


def _gateway(name: str, tmp: Path, sim_url: str, src: Path | None, env: dict[str, str], core: int) -> Target:
    slug = "".join(c if c.isalnum() else "-" for c in name)
    port = free_port()
    db = f"sqlite:///{tmp / f'{slug}.db'}"
    key = create_key(db, src)
    argv = [str(VENV_BIN / "majordomo"), "gateway", "--port", str(port), "--database-url", db]
    argv += ["--openai-base-url", sim_url, "--spool-dir", str(tmp / f"spool-{slug}")]
    proc = start(argv, core=core, port=port, log=tmp / f"{slug}.log", env=src_env(clean_env(**env), src))
    script = wrk_script(tmp, slug, CHAT, BASE_HEADERS | {"X-Majordomo-Key": key})
    return Target(name, proc, f"http://127.0.0.1:{port}{PATH}", script)


async def _cell(target: Target, connections: int, seconds: float) -> dict[str, float]:
    before = Sample.of(target.proc.pid)
    load = await run_wrk(target.url, target.script, connections=connections, seconds=seconds, core=0)
    await asyncio.sleep(0.3)  # the writer's last batch
    after = Sample.of(target.proc.pid)
    n = max(load.requests, 1)
    return {
        "req/s": load.rps,
        "user ms/req": (after.user_s - before.user_s) * 1000 / n,
        "kernel ms/req": (after.system_s - before.system_s) * 1000 / n,
        "faults/req": (after.minor_faults - before.minor_faults) / n,
        "loop sleeps/req": (after.loop_sleeps - before.loop_sleeps) / n,
    }


async def main_async(args: argparse.Namespace, olds: list[tuple[str, Path]]) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="bench-wakeups-"))
    sim_port = free_port()
    sim = start(
        [str(VENV_BIN / "majordomo"), "sim", "--port", str(sim_port)], core=0, port=sim_port, log=tmp / "sim.log"
    )
    sim_url = f"http://127.0.0.1:{sim_port}"
    targets: list[Target] = []
    try:
        targets.append(_gateway("gateway sqlite+auth", tmp, sim_url, None, {}, core=1))
        targets.append(_gateway("gateway sqlite+auth no-journal", tmp, sim_url, None, {"MAJORDOMO_JOURNAL": "off"}, 1))
        targets += [_gateway(f"gateway sqlite+auth @ {name}", tmp, sim_url, src, {}, core=1) for name, src in olds]
        for target in targets:  # warm-up
            await run_wrk(target.url, target.script, connections=args.connections, seconds=1, core=0)
        results: dict[str, list[dict[str, float]]] = {t.name: [] for t in targets}
        for round_ in range(args.rounds):
            k = round_ % len(targets)
            for target in targets[k:] + targets[:k]:
                results[target.name].append(await _cell(target, args.connections, args.seconds))
    finally:
        for target in targets:
            stop(target.proc)
        stop(sim)
    columns = list(next(iter(results.values()))[0])
    lines = [
        f"# Event-loop sleeps per request, {datetime.now(UTC).isoformat(timespec='seconds')}",
        "",
        f"Non-streaming chat under wrk, {args.connections} connection(s), {args.rounds} interleaved rounds of "
        f"{args.seconds:g} s; gateways on core 1, wrk and the sim on core 0. Medians over rounds. CPU and faults: "
        "all threads; loop sleeps: the voluntary context switches of the event loop's thread.",
        "",
        "| target | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name, rows in results.items():
        cells = [_shown(c, statistics.median(r[c] for r in rows)) for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _shown(column: str, value: float) -> str:
    return f"{value:,.0f}" if column == "req/s" else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="per cell (wrk rounds to whole seconds)")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--out", type=Path, help="results file (default: print only)")
    add_baseline_arguments(parser)
    args = parser.parse_args()
    require_tools("wrk", "taskset")
    olds = baselines(parser, args)
    table = asyncio.run(main_async(args, olds))
    print(table)
    if args.out is not None:
        args.out.write_text(table)
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
