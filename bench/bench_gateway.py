"""The gateway against calling the stand-in provider directly (issue #3's last "Done when").

    python bench/bench_gateway.py [--rounds 3] [--seconds 5] [--no-profile] [--pg URL]

Layout on a 2-core machine: the gateway (and each baseline proxy) runs alone on core 1
(`taskset -c 1`); the sim, the load generator (wrk, or the aiohttp stream client in this
process), the OTLP sink and this script share core 0. Every target is started once and stays up;
the cells are interleaved (for each round, for each workload, every target back to back, the
target order rotating each round), and each figure is the median over rounds of that round's
value, added latency being the target's minus direct's *in the same round*.

Targets: direct (load -> sim), the gateway with SQLite recording and a real key, the same with
--no-auth, with PostgreSQL recording (fresh schema, dropped after), with OTLP span export to a
local sink (non-streaming only), and two bare pass-through baselines (uvicorn + httpx,
aiohttp + aiohttp). Workloads: non-streaming OpenAI chat (wrk) and a 20-chunk chat stream with
include_usage (wrk for rps and total time; the aiohttp client for time to first byte), each at
concurrency 1 and 64. Then py-spy profiles the gateway under load and prints where its CPU goes.

Writes the table to bench/results/gateway-<date>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import uvloop

sys.path.insert(0, str(Path(__file__).parent))

from _gateways import (
    BASE_HEADERS,
    CHAT,
    PATH,
    STREAM,
    STREAM_HEADERS,
    VENV_BIN,
    add_baseline_arguments,
    baselines,
    clean_env,
    create_key,
    src_env,
)
from _load import LoadResult, run_streams, run_wrk, wrk_script
from _procs import PG_DEFAULT, cpu_times, free_port, require_tools, start, stop

BENCH = Path(__file__).parent
LOAD_CORE = 0
GATEWAY_CORE = 1
# The TTFB cells pace the stream as a model would (the sim sleeps before every write), so the first
# chunk leaves long before the last and "first byte" means something; wrk cells are unpaced (max rate).
PACED_HEADERS = {"X-Sim-Delay-Ms": "5"}


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    stream: bool
    concurrency: int
    tool: str  # "wrk" or "py" (aiohttp client: TTFB)


WORKLOADS = [
    Workload("chat c1", False, 1, "wrk"),
    Workload("chat c64", False, 64, "wrk"),
    Workload("stream c1", True, 1, "wrk"),
    Workload("stream c64", True, 64, "wrk"),
    Workload("stream-ttfb c1", True, 1, "py"),
    Workload("stream-ttfb c64", True, 64, "py"),
]


@dataclass
class Target:
    name: str
    base_url: str
    proc: subprocess.Popen[bytes] | None = None
    key: str | None = None
    count_rows: Callable[[], Awaitable[int]] | None = None
    only_chat: bool = False
    scripts: dict[str, Path] = field(default_factory=dict)

    def headers(self, stream: bool, paced: bool = False) -> dict[str, str]:
        h = dict(BASE_HEADERS)
        if stream:
            h |= STREAM_HEADERS
        if paced:
            h |= PACED_HEADERS
        if self.key:
            h["X-Majordomo-Key"] = self.key
        return h


@dataclass(frozen=True, slots=True)
class Cell:
    load: LoadResult
    cpu_per_request_ms: float | None
    records: int | None
    kernel_share: float | None = None  # of that CPU time, the part spent in the kernel (stime)

    @property
    def records_per_s(self) -> float | None:
        return None if self.records is None else self.records / self.load.seconds


# --- setting up targets -----------------------------------------------------------------------------


def _sqlite_counter(path: Path) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        with sqlite3.connect(path) as conn:
            return int(conn.execute("SELECT count(*) FROM llm_requests").fetchone()[0])

    return count


def _pg_counter(dsn: str, schema: str) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".llm_requests'))
        finally:
            await conn.close()

    return count


def _start_gateway(
    name: str,
    tmp: Path,
    sim_url: str,
    database_url: str,
    *,
    auth: bool,
    env: dict[str, str] | None = None,
    src: Path | None = None,
) -> Target:
    port = free_port()
    key = create_key(database_url, src) if auth else None
    argv = [str(VENV_BIN / "majordomo"), "gateway", "--port", str(port), "--database-url", database_url]
    argv += ["--openai-base-url", sim_url, "--spool-dir", str(tmp / f"spool-{port}")]
    if not auth:
        argv.append("--no-auth")
    env = src_env(env or clean_env(), src)
    proc = start(argv, core=GATEWAY_CORE, port=port, log=tmp / f"{name}.log", env=env)
    return Target(name, f"http://127.0.0.1:{port}", proc, key)


def _start_baseline(name: str, script: str, tmp: Path, sim_url: str) -> Target:
    port = free_port()
    argv = [sys.executable, str(BENCH / script), "--port", str(port), "--upstream", sim_url]
    proc = start(argv, core=GATEWAY_CORE, port=port, log=tmp / f"{name}.log", env=clean_env())
    return Target(name, f"http://127.0.0.1:{port}", proc)


# --- running cells ----------------------------------------------------------------------------------


async def _settled_rows(target: Target, *, expect_at_least: int, wait: float = 10.0) -> int:
    """Row count once the writer has flushed: stable for 0.3 s (or all expected rows present)."""
    assert target.count_rows is not None
    deadline = time.monotonic() + wait
    last = await target.count_rows()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        now = await target.count_rows()
        if now == last and now >= expect_at_least:
            return now
        last = now
    return last


async def run_cell(target: Target, workload: Workload, seconds: float, tmp: Path) -> Cell:
    body = STREAM if workload.stream else CHAT
    headers = target.headers(workload.stream, paced=workload.tool == "py")
    rows_before = await target.count_rows() if target.count_rows else None
    cpu_before = cpu_times(target.proc.pid) if target.proc else None
    url = target.base_url + PATH
    if workload.tool == "wrk":
        key = "stream" if workload.stream else "chat"
        if key not in target.scripts:
            target.scripts[key] = wrk_script(tmp, f"{target.name}-{key}", body, headers)
        load = await run_wrk(
            url, target.scripts[key], connections=workload.concurrency, seconds=seconds, core=LOAD_CORE
        )
    else:
        load = await run_streams(url, body, headers, concurrency=workload.concurrency, seconds=seconds)
    records = None
    if rows_before is not None:
        records = await _settled_rows(target, expect_at_least=rows_before + load.requests) - rows_before
    cpu = kernel = None
    if cpu_before is not None and target.proc is not None:
        user, system = (after - before for after, before in zip(cpu_times(target.proc.pid), cpu_before, strict=True))
        cpu = (user + system) / max(load.requests, 1) * 1000
        kernel = system / (user + system) if user + system > 0 else None
    return Cell(load, cpu, records, kernel)


# --- summarising --------------------------------------------------------------------------------------


def _med(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def summarise(
    results: dict[tuple[str, str], list[Cell]], targets: list[Target], reference: dict[str, str]
) -> list[str]:
    """One markdown table per workload; added figures against `reference[target]` in the same round."""
    lines: list[str] = []
    for w in WORKLOADS:
        if not any((t.name, w.name) in results for t in targets):
            continue
        ttfb = w.tool == "py"
        lines += ["", f"### {w.name} ({'aiohttp client' if ttfb else 'wrk'})", ""]
        head = "| target | req/s | x direct | p50 ms | added p50 | p99 ms | added p99 |"
        if ttfb:
            head += " TTFB p50 | added TTFB p50 | TTFB p99 |"
        head += " gw CPU ms/req | of it kernel | 1 core at 100% ⇒ req/s | records/s | rows/req | errors |"
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        for t in targets:
            cells = results.get((t.name, w.name))
            if not cells:
                continue
            ref_name = reference.get(t.name, "direct")
            if (ref_name, w.name) not in results:
                ref_name = "direct"
            ref = results[(ref_name, w.name)]
            rounds = list(zip(cells, ref, strict=True))
            ratio = _med([c.load.rps / r.load.rps for c, r in rounds])
            added50 = _med([c.load.p50_ms - r.load.p50_ms for c, r in rounds])
            added99 = _med([c.load.p99_ms - r.load.p99_ms for c, r in rounds])
            name = t.name if ref_name == "direct" else f"{t.name} (vs {ref_name})"
            is_ref = t.name == "direct"
            row = (
                f"| {name} | {_fmt(_med([c.load.rps for c in cells]), ',.0f')} | {_fmt(ratio)} "
                f"| {_fmt(_med([c.load.p50_ms for c in cells]), '.3f')} | {_fmt(None if is_ref else added50, '+.3f')} "
                f"| {_fmt(_med([c.load.p99_ms for c in cells]), '.3f')} | {_fmt(None if is_ref else added99, '+.3f')} |"
            )
            if ttfb:
                add_ttfb = _med([(c.load.ttfb_p50_ms or 0) - (r.load.ttfb_p50_ms or 0) for c, r in rounds])
                row += (
                    f" {_fmt(_med([c.load.ttfb_p50_ms for c in cells]), '.3f')} "
                    f"| {_fmt(add_ttfb if t.name != 'direct' else None, '+.3f')} "
                    f"| {_fmt(_med([c.load.ttfb_p99_ms for c in cells]), '.3f')} |"
                )
            rows_per_req = _med([None if c.records is None else c.records / max(c.load.requests, 1) for c in cells])
            cpu = _med([c.cpu_per_request_ms for c in cells])
            row += (
                f" {_fmt(cpu, '.3f')} | {_fmt(_med([c.kernel_share for c in cells]), '.0%')} "
                f"| {_fmt(None if not cpu else 1000 / cpu, ',.0f')} "
                f"| {_fmt(_med([c.records_per_s for c in cells]), ',.0f')} | {_fmt(rows_per_req, '.3f')} "
                f"| {sum(c.load.errors for c in cells)} |"
            )
            lines.append(row)
    return lines


# --- profiling ----------------------------------------------------------------------------------------


def _frame_name(frame: str) -> str:
    """`handle (majordomo_otel/gateway/proxy.py:120)` -> `proxy.py:handle:120` (short, stable)."""
    m = re.match(r"(.+?) \((.+?):(\d+)\)$", frame)
    if not m:
        return frame
    func, file, line = m.groups()
    file = re.sub(r".*/site-packages/", "", file)
    file = re.sub(r".*/src/", "", file)
    file = re.sub(r".*/lib/python3\.\d+/", "stdlib/", file)
    if func == "run_app":  # the frame py-spy charges uvloop's native loop (epoll, socket I/O) to
        return "run_app: event loop, native (uvloop epoll/send/recv)"
    return f"{func} ({file}:{line})"


# (component, pattern on a frame's file), first match wins, checked from the leaf frame upwards: a
# sample is charged to the innermost frame that belongs to a component (json.loads called from a
# usage reader is "usage readers"; asyncio.create_task called from aiohttp's server is "aiohttp server").
_COMPONENTS: list[tuple[str, str]] = [
    ("span export (plan, encode, queue, OTLP send)", r"gateway/(spans|span_plan)\.py|gateway/otlp/"),
    ("metrics (OTel SDK instruments)", r"gateway/metrics\.py|^opentelemetry/sdk/metrics/"),
    (
        "OTel SDK spans (start/attributes/end)",
        r"^(trace|attributes|context|util|sdk|propagate|baggage)/",
    ),
    ("record writer + SQLite/PostgreSQL (writer thread)", r"gateway/store/|^sqlite3/|^asyncpg/"),
    ("budgets (check, spend)", r"gateway/budgets/"),
    ("usage readers", r"gateway/usage/"),
    ("pricing", r"gateway/pricing\.py|^genai_prices/"),
    ("tags (X-Majordomo-* headers)", r"majordomo_otel/tags\.py"),
    ("auth (key check)", r"gateway/(auth|keys)\.py"),
    ("record ids (uuid7) + record", r"gateway/record\.py"),
    ("proxy glue (routes, headers, body JSON)", r"gateway/(proxy|headers|routes|errors)\.py"),
    ("aiohttp client (upstream request/response)", r"aiohttp/(client|connector|client_reqrep|client_proto)"),
    ("aiohttp server (parse, respond, dispatch)", r"^aiohttp/|^multidict/|^yarl/"),
    ("event loop, native (uvloop epoll/send/recv)", r"^aiohttp/web\.py$"),
]


def _component(frames: list[str]) -> str:
    for frame in reversed(frames):
        m = re.match(r".+? \((.+?):\d+\)$", frame)
        if not m:
            continue
        file = m.group(1)
        if frame.startswith("run_app "):
            return _COMPONENTS[-1][0]
        for name, pattern in _COMPONENTS[:-1]:
            if re.search(pattern, file):
                return name
    return "other (asyncio, threading, stdlib)"


def analyse_profile(raw: Path, top: int = 25, cpu_ms: float | None = None) -> tuple[list[str], int]:
    """Share of sampled CPU per component, and self/inclusive per function, from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        raw_frames = stack.split(";")
        frames = [_frame_name(f) for f in raw_frames]
        total += count
        own[frames[-1]] += count
        parts[_component(raw_frames)] += count
        for f in set(frames):
            incl[f] += count
    lines = [f"samples: {total}", "", "| component | % of gateway CPU | µs per request |", "|---|---|---|"]
    for name, c in parts.most_common():
        us = "-" if cpu_ms is None else f"{cpu_ms * 1000 * c / total:.0f}"
        lines.append(f"| {name} | {100 * c / total:.1f} | {us} |")
    lines += ["", "| self % | function |", "|---|---|"]
    lines += [f"| {100 * c / total:.1f} | `{f}` |" for f, c in own.most_common(top)]
    lines += ["", "| inclusive % | function |", "|---|---|"]
    lines += [f"| {100 * c / total:.1f} | `{f}` |" for f, c in incl.most_common(top + 15)]
    return lines, total


async def profile(target: Target, workload: Workload, seconds: float, tmp: Path) -> list[str]:
    assert target.proc is not None
    raw = tmp / f"profile-{target.name}-{workload.name.replace(' ', '-')}.txt"
    spy = await asyncio.create_subprocess_exec(
        "taskset", "-c", str(LOAD_CORE), str(VENV_BIN / "py-spy"), "record", "--format", "raw", "--function",
        "--rate", "200", "--nonblocking", "-d", str(int(seconds) + 1), "-o", str(raw), "-p", str(target.proc.pid),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(0.5)
    cell = await run_cell(target, workload, seconds, tmp)
    _, err = await spy.communicate()
    if not raw.exists():
        return [f"py-spy failed: {err.decode()[-500:]}"]
    lines, _ = analyse_profile(raw, cpu_ms=cell.cpu_per_request_ms)
    head = (
        f"#### {target.name}, {workload.name}: {cell.load.rps:,.0f} req/s, "
        f"{_fmt(cell.cpu_per_request_ms, '.3f')} ms CPU/request (py-spy at 200 Hz, --nonblocking)"
    )
    return [head, "", *lines, ""]


# --- main ---------------------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> int:
    os.sched_setaffinity(0, {LOAD_CORE})
    tmp = Path(tempfile.mkdtemp(prefix="bench-gw-"))
    targets: list[Target] = []
    aux: list[subprocess.Popen[bytes]] = []
    schema = f"bench_gw_{uuid.uuid4().hex[:10]}"
    pg_dsn = args.pg
    pg_url = f"{pg_dsn}?schema={schema}"
    try:
        sim_port = free_port()
        aux.append(
            start(
                [sys.executable, "-m", "majordomo_otel.sim", "--port", str(sim_port)],
                core=LOAD_CORE,
                port=sim_port,
                log=tmp / "sim.log",
                env=clean_env(),
            )
        )
        sim_url = f"http://127.0.0.1:{sim_port}"
        sink_port = free_port()
        aux.append(
            start(
                [sys.executable, str(BENCH / "_otlp_sink.py"), "--port", str(sink_port)],
                core=LOAD_CORE,
                port=sink_port,
                log=tmp / "otlp.log",
                env=clean_env(),
            )
        )

        reference = {
            "gateway sqlite+auth+OTLP": "gateway sqlite+auth",
            "gateway postgres+auth+OTLP": "gateway sqlite+auth",
        }
        always = {"direct", *(f"gateway sqlite+auth @ {name}" for name, _ in args.baselines)}
        wanted = always | (
            set(args.targets) | {reference[n] for n in args.targets if n in reference} if args.targets else set()
        )

        def want(name: str) -> bool:
            """Only the targets asked for are started (with the one an added figure is measured against)."""
            return not args.targets or name in wanted

        otlp_env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_port}")
        targets.append(Target("direct", sim_url))
        sqlite_gateways: list[tuple[str, str, bool, dict[str, str] | None, Path | None]] = [
            ("gateway sqlite+auth", "auth.db", True, None, None),
            ("gateway sqlite+auth no-journal", "nojournal.db", True, clean_env(MAJORDOMO_JOURNAL="off"), None),
            ("gateway sqlite no-auth", "noauth.db", False, None, None),
        ]
        for i, (name, src) in enumerate(args.baselines, start=1):
            sqlite_gateways.insert(i, (f"gateway sqlite+auth @ {name}", f"baseline-{i}.db", True, None, src))
        for name, db_name, auth, env, src in sqlite_gateways:
            if want(name):
                db = tmp / db_name
                t = _start_gateway(name, tmp, sim_url, f"sqlite:///{db}", auth=auth, env=env, src=src)
                t.count_rows = _sqlite_counter(db)
                targets.append(t)
        if pg_dsn:
            conn = await asyncpg.connect(pg_dsn)
            await conn.execute(f'CREATE SCHEMA "{schema}"')
            await conn.execute(f'CREATE SCHEMA "{schema}_full"')
            await conn.close()
            if want("gateway postgres+auth"):
                t = _start_gateway("gateway postgres+auth", tmp, sim_url, pg_url, auth=True)
                t.count_rows = _pg_counter(pg_dsn, schema)
                targets.append(t)
            if want("gateway postgres+auth+OTLP"):
                full_url = pg_url + "_full"
                t = _start_gateway("gateway postgres+auth+OTLP", tmp, sim_url, full_url, auth=True, env=otlp_env)
                t.count_rows = _pg_counter(pg_dsn, schema + "_full")
                t.only_chat = True
                targets.append(t)
        if want("gateway sqlite+auth+OTLP"):
            sqlite_otlp = tmp / "otlp.db"
            t = _start_gateway(
                "gateway sqlite+auth+OTLP", tmp, sim_url, f"sqlite:///{sqlite_otlp}", auth=True, env=otlp_env
            )
            t.count_rows = _sqlite_counter(sqlite_otlp)
            t.only_chat = True
            targets.append(t)
        passthroughs = (("uvicorn+httpx", "_passthrough_httpx.py"), ("aiohttp+aiohttp", "_passthrough_aiohttp.py"))
        for name, script in passthroughs:
            if want(name):
                targets.append(_start_baseline(name, script, tmp, sim_url))
        selected = targets

        print(f"targets up (temp dir {tmp}); warming up", flush=True)
        workloads = [w for w in WORKLOADS if not args.workloads or any(x in w.name for x in args.workloads)]
        for target in selected:
            for w in workloads:
                if not (target.only_chat and w.stream):
                    await run_cell(target, w, args.warmup_seconds, tmp)

        results: dict[tuple[str, str], list[Cell]] = {}
        for r in range(args.rounds):
            order = selected[r % len(selected) :] + selected[: r % len(selected)]
            for w in workloads:
                for target in order:
                    if target.only_chat and w.stream:
                        continue
                    seconds = args.seconds if w.tool == "wrk" else args.ttfb_seconds
                    cell = await run_cell(target, w, seconds, tmp)
                    results.setdefault((target.name, w.name), []).append(cell)
                    print(
                        f"round {r + 1} {w.name:16} {target.name:26} {cell.load.rps:8,.0f} req/s "
                        f"p50 {cell.load.p50_ms:7.3f} ms p99 {cell.load.p99_ms:7.3f} ms "
                        f"ttfb {_fmt(cell.load.ttfb_p50_ms, '.3f')} cpu {_fmt(cell.cpu_per_request_ms, '.3f')} ms/req "
                        f"rec/s {_fmt(cell.records_per_s, ',.0f')} err {cell.load.errors}",
                        flush=True,
                    )

        date = datetime.now(UTC).strftime("%Y-%m-%d")
        out = [
            f"# Gateway vs direct, {datetime.now(UTC).isoformat(timespec='seconds')}",
            "",
            f"{os.cpu_count()} cores, load average at start {args.load_at_start}; gateway/baselines on core "
            f"{GATEWAY_CORE} (`taskset`), sim + load generator + OTLP sink on core {LOAD_CORE}. "
            f"{args.rounds} interleaved rounds, {args.seconds:g} s per wrk cell, {args.ttfb_seconds:g} s per "
            "TTFB cell; figures are medians over rounds; added = target minus direct in the same round "
            "(the OTLP row is against `gateway sqlite+auth`). CPU = gateway process utime+stime per "
            "request (all threads, including the record writer); `of it kernel` = the stime share (system "
            "calls: sockets, the database, futexes). rows/req = rows written / requests "
            "completed (wrk counts completed requests only; in-flight ones at the end also get rows).",
            "",
            "Bodies: chat = OpenAI chat completion, 99-byte request, 579-byte JSON reply; stream = the "
            "same with `stream: true, include_usage`, `X-Sim-Chunks: 20` (about 25 SSE events, ~5.5 KB); "
            "wrk stream cells unpaced (the sim writes as fast as it can), TTFB cells paced with "
            "`X-Sim-Delay-Ms: 5` (a sleep before every write, so a stream lasts ~125 ms and its first "
            "chunk leaves long before the last). `1 core at 100% ⇒ req/s` = 1000 / CPU ms per request: "
            "the gateway's capacity on a core of its own, which the shared machine does not give it.",
            *summarise(results, selected, reference),
            "",
        ]
        for gw in (t for t in selected if t.name in args.profile_targets and not args.no_profile):
            out += [f"## Where the gateway's CPU goes (py-spy): {gw.name}", ""]
            for w in (WORKLOADS[1], WORKLOADS[3]):
                if w in workloads and not (gw.only_chat and w.stream):
                    out += await profile(gw, w, args.profile_seconds, tmp)
        text = "\n".join(out)
        print(text)
        dest = Path(args.out) if args.out else BENCH / "results" / f"gateway-{date}.md"
        dest.parent.mkdir(exist_ok=True)
        dest.write_text(text + "\n")
        print(f"written to {dest}")
        return 0
    finally:
        for target in targets:
            if target.proc is not None:
                stop(target.proc)
        for proc in aux:
            stop(proc)
        if pg_dsn:
            conn = await asyncpg.connect(pg_dsn)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_full" CASCADE')
            await conn.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5, help="per wrk cell")
    parser.add_argument("--ttfb-seconds", type=float, default=4, help="per aiohttp-client (TTFB) cell")
    parser.add_argument("--profile-seconds", type=float, default=8)
    parser.add_argument("--pg", default=PG_DEFAULT, help="'' to skip PostgreSQL")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument(
        "--profile-targets", nargs="+", default=["gateway sqlite+auth"], help="targets py-spy profiles at c64"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, DBs, profiles)")
    parser.add_argument("--warmup-seconds", type=float, default=1, help="per cell, before the rounds")
    parser.add_argument("--targets", nargs="+", help="only these targets (exact names; direct always runs)")
    parser.add_argument("--workloads", nargs="+", help="only workloads whose name contains one of these")
    add_baseline_arguments(parser)
    parser.add_argument("--out", help="results file (default bench/results/gateway-<date>.md)")
    args = parser.parse_args()
    args.load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    args.baselines = baselines(parser, args)
    require_tools("wrk", "taskset")
    return uvloop.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
