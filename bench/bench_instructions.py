"""Instructions per request under callgrind: the gateway against an older checkout of itself and the aiohttp floor.

    python bench/bench_instructions.py [--requests 400] [--baseline-src OLD/src --baseline-name NAME]

Why: this machine is shared, and its speed swings 2-3x between sessions and ±10 % between rounds, so CPU
time per request (bench_gateway.py) cannot tell a 5 % change from noise. Valgrind's callgrind counts the
instructions a process executes (all threads), which barely depends on what else the machine runs: on a
quiet machine the same gateway gives the same count within about 1 % run after run. Under load each request
takes longer, so the gateway's timers (the writer's linger, key and budget refreshes) run more often per
request and every target's count rises a few %: hence interleaved rounds, the lowest count of each kept,
and ratios read within one run. Instructions are not time (a cache miss costs more than an add), but
between two versions of the same Python code on the same interpreter and libraries they track CPU time
closely, and their ratio is the regression figure that holds still.

How: every target runs under `valgrind --tool=callgrind` (about 50x slower, so a few hundred requests per
cell) in front of the stand-in provider (`majordomo sim`, native); after a warm-up, for each cell its counters
are zeroed (`callgrind_control -z`), a fixed number of requests is sent by an aiohttp client at the cell's
concurrency (each response read to its end), and the counters dumped (`callgrind_control -d`): instructions
executed / requests. Timers (key refresh, metrics) run at 1/50 of the request rate they see natively, so
their share is slightly overstated, the same for every target.

Targets: `gateway sqlite+auth` (this checkout, a real key), `gateway postgres+auth+OTLP` (full accounting:
PostgreSQL records, spans and metrics exported to a local OTLP sink), `gateway postgres+auth+OTLP traces`
(the same with `OTEL_METRICS_EXPORTER=none`: PostgreSQL and spans only), `gateway sqlite+auth no-journal`
(`MAJORDOMO_JOURNAL=off`: what the journal costs), `gateway postgres+auth` (PostgreSQL records, nothing
exported: the store's share of full accounting), `gateway sqlite+auth @ NAME` (another
checkout's `src/`, with --baseline-src; with `gateway postgres+auth+OTLP` selected, that checkout's full
accounting runs too, as `gateway postgres+auth+OTLP @ NAME`) and `aiohttp+aiohttp` (the pass-through floor).
Workloads: bench_gateway's chat and 20-chunk stream bodies, at concurrency 1 and 64.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).parent))

from _gateways import VENV_BIN, add_baseline_arguments, baselines, clean_env, create_key, send, src_env
from _procs import PG_DEFAULT, free_port, stop, wait_listening

BENCH = Path(__file__).parent
CELLS = (("chat c1", False, 1), ("chat c64", False, 64), ("stream c1", True, 1), ("stream c64", True, 64))
FLOOR = "aiohttp+aiohttp"
FULL = "gateway postgres+auth+OTLP"
PG_ONLY = "gateway postgres+auth"


@dataclass
class Target:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    profile: Path  # callgrind's out file: each dump is written beside it as `<profile>.<n>`
    key: str | None = None
    dumps: int = 0


def _start(name: str, argv: list[str], tmp: Path, env: dict[str, str], port: int, key: str | None = None) -> Target:
    """`argv` under callgrind, once it listens on `port` (start-up under valgrind takes ~40 s here)."""
    slug = re.sub(r"\W+", "-", name).strip("-")
    profile = tmp / f"{slug}.callgrind"
    with (tmp / f"{slug}.log").open("wb") as log:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}", *argv]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    wait_listening(port, proc, timeout=300)
    return Target(name, f"http://127.0.0.1:{port}", proc, profile, key)


def _gateway(
    name: str, tmp: Path, sim_url: str, database_url: str, src: Path | None = None, env: dict[str, str] | None = None
) -> Target:
    port = free_port()
    key = create_key(database_url, src)
    argv = [str(VENV_BIN / "majordomo"), "gateway", "--port", str(port), "--database-url", database_url]
    argv += ["--openai-base-url", sim_url, "--spool-dir", str(tmp / f"spool-{port}")]
    return _start(name, argv, tmp, src_env(clean_env(**(env or {})), src), port, key)


def _control(target: Target, command: str) -> None:
    """`callgrind_control -z` (zero the counters) or `-d` (dump them) for the target's process."""
    subprocess.run(["callgrind_control", command, str(target.proc.pid)], check=True, capture_output=True)


def _spawn(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    """A helper process (the sim, the OTLP sink), natively, once it listens."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
    wait_listening(port, proc)
    return proc


async def _instructions(
    target: Target, requests: int, concurrency: int, stream: bool, keep: Path | None = None, cell: str = ""
) -> float:
    """Instructions the target executed per request over one cell: counters zeroed before, dumped after.

    With `keep`, the dump is moved there (`<target>.<cell>.<n>.callgrind`, for `callgrind_annotate`)."""
    await asyncio.to_thread(_control, target, "-z")
    await send(target.name, target.url, target.key, requests, concurrency, stream=stream)
    await asyncio.to_thread(_control, target, "-d")
    target.dumps += 1
    dump = target.profile.with_name(f"{target.profile.name}.{target.dumps}")
    deadline = time.monotonic() + 60
    while not (dump.exists() and (summary := re.search(r"^summary: (\d+)$", dump.read_text(), re.M))):
        if time.monotonic() > deadline:  # the target writes the dump itself, a moment after the command
            raise SystemExit(f"{target.name}: no callgrind dump {dump} after 60 s")
        await asyncio.sleep(0.2)
    if keep is None:
        dump.unlink()
    else:
        slug = re.sub(r"\W+", "-", cell)
        dump.rename(keep / f"{target.profile.stem}.{slug}.{target.dumps}.callgrind")
    return int(summary[1]) / requests


def _table(results: dict[str, dict[str, float]], baseline: str | None) -> list[str]:
    """One row per cell and target: thousands of instructions per request, and the ratios to the baseline and floor."""
    ratios = [name for name in (baseline, FLOOR) if name in results]
    head = ["cell", "target", "k instr/req", *(f"x {name}" for name in ratios)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cell, _, _ in CELLS:
        for name, counts in results.items():
            row = [
                cell,
                name,
                f"{counts[cell] / 1000:,.0f}",
                *(f"{counts[cell] / results[r][cell]:.3f}" for r in ratios),
            ]
            lines.append("| " + " | ".join(row) + " |")
    return lines


async def main_async(args: argparse.Namespace) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="bench-instr-"))
    schema = f"bench_instr_{uuid.uuid4().hex[:10]}"
    procs: list[subprocess.Popen[bytes]] = []
    targets: list[Target] = []
    olds = args.baselines
    baseline = f"gateway sqlite+auth @ {olds[0][0]}" if olds else None  # the ratios are to the first
    try:
        sim_port, sink_port = free_port(), free_port()
        for argv, port in (
            ([sys.executable, "-m", "majordomo_otel.sim", "--port", str(sim_port)], sim_port),
            ([sys.executable, str(BENCH / "_otlp_sink.py"), "--port", str(sink_port)], sink_port),
        ):
            procs.append(_spawn(argv, port))
        sim_url = f"http://127.0.0.1:{sim_port}"
        wanted = set(args.targets)
        if "gateway sqlite+auth" in wanted:
            targets.append(_gateway("gateway sqlite+auth", tmp, sim_url, f"sqlite:///{tmp / 'new.db'}"))
        if "gateway sqlite+auth no-journal" in wanted:  # what the journal (SIGKILL loses no record) costs
            no_journal = {"MAJORDOMO_JOURNAL": "off"}
            targets.append(
                _gateway("gateway sqlite+auth no-journal", tmp, sim_url, f"sqlite:///{tmp / 'nj.db'}", env=no_journal)
            )
        for i, (name, src) in enumerate(olds):
            db = f"sqlite:///{tmp / f'old-{i}.db'}"
            targets.append(_gateway(f"gateway sqlite+auth @ {name}", tmp, sim_url, db, src=src))
        otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}"}
        full: list[tuple[str, dict[str, str], Path | None]] = []  # name, environment, src
        if FULL in wanted:
            full.append((FULL, otlp, None))
            full.extend((f"{FULL} @ {name}", otlp, src) for name, src in olds)
        if f"{FULL} traces" in wanted:
            full.append((f"{FULL} traces", {**otlp, "OTEL_METRICS_EXPORTER": "none"}, None))
        if PG_ONLY in wanted:  # PostgreSQL records, nothing exported: the store's share of full accounting
            full.append((PG_ONLY, {}, None))
        for i, (name, env, src) in enumerate(full):
            conn = await asyncpg.connect(args.pg)
            await conn.execute(f'CREATE SCHEMA "{schema}_{i}"')
            await conn.close()
            targets.append(_gateway(name, tmp, sim_url, f"{args.pg}?schema={schema}_{i}", env=env, src=src))
        if FLOOR in wanted:
            port = free_port()
            argv = [sys.executable, str(BENCH / "_passthrough_aiohttp.py"), "--port", str(port), "--upstream", sim_url]
            targets.append(_start(FLOOR, argv, tmp, clean_env(), port))
        for target in targets:  # warm-up: first-request imports, caches, connection pools
            await send(target.name, target.url, target.key, args.warmup, 8, stream=False)
            await send(target.name, target.url, target.key, args.warmup, 8, stream=True)
        results: dict[str, dict[str, float]] = {t.name: {} for t in targets}
        for round_ in range(args.rounds):  # interleaved, like bench_gateway: a round is every cell of every target
            for cell, stream, concurrency in CELLS:
                for target in targets[round_ % len(targets) :] + targets[: round_ % len(targets)]:
                    count = await _instructions(target, args.requests, concurrency, stream, args.keep_profiles, cell)
                    results[target.name][cell] = min(results[target.name].get(cell, count), count)
                    print(f"{cell:<11} {target.name:<32} {count:>12,.0f} instr/req", flush=True)
    finally:
        for proc in [t.proc for t in targets] + procs:
            stop(proc, timeout=120)
        if full:
            conn = await asyncpg.connect(args.pg)
            for i in range(len(full)):
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_{i}" CASCADE')
            await conn.close()
    when = datetime.now(UTC)
    lines = [
        f"# Instructions per request (callgrind), {when.isoformat(timespec='seconds')}",
        "",
        f"{args.requests} requests per cell after {args.warmup} + {args.warmup} warm-up; lowest of {args.rounds} "
        "interleaved round(s); all threads of the target process. `x NAME`: this target's count over NAME's.",
        "",
        *_table(results, baseline),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    return text


def _write(text: str, out: Path | None) -> None:
    path = out or BENCH / "results" / f"instructions-{datetime.now(UTC):%Y-%m-%d}.md"
    path.write_text(text)
    print(f"written to {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per cell (default 400)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up requests per body (default 100)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the lowest count is kept")
    add_baseline_arguments(parser)
    parser.add_argument(
        "--targets",
        nargs="+",
        default=["gateway sqlite+auth", FULL, FLOOR],
        help="which of this checkout's targets to run (the baseline runs whenever --baseline-src is given)",
    )
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL for the full-accounting target")
    parser.add_argument("--keep-profiles", type=Path, help="keep each cell's callgrind dump in this directory")
    parser.add_argument(
        "--out", type=Path, help="where to write the table (default bench/results/instructions-<date>.md)"
    )
    args = parser.parse_args()
    args.baselines = baselines(parser, args)
    if shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind not found: apt-get install -y valgrind")
    _write(asyncio.run(main_async(args)), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
