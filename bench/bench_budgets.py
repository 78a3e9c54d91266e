"""What budgets cost the gateway per request, with 0, 1 and 100 budgets defined (issue #12).

    python bench/bench_budgets.py [--rounds 5] [--seconds 3] [--micro-requests 50000] [--no-e2e]

Two measurements, each paired within a round (every configuration back to back, the order rotating):

1. micro: `Budgets.check` + `Budgets.spend` (what the proxy calls per request) in this process, as CPU
   time per request: no budget; 100 budgets none of which the request falls under; 1 budget it falls
   under; 100 budgets of which it falls under 2 (`feature=bench user_id=*` and `provider=openai`; the
   others are on other features, models and tags, half of them `user_id=*`); and the CPU of one background
   sync (per refresh interval, not per request) with 0 and 100 budgets.
2. end to end: bench_gateway.py's set-up (each gateway alone on core 1, the sim and wrk on core 0), one
   gateway (SQLite + auth) per configuration: 0 budgets, 1 budget the requests fall under, the 100 of (1).
   Limits are never reached, so every request goes upstream. Gateway process CPU per request (all
   threads) at concurrency 1 and 64; each configuration's extra over 0 budgets is taken within the round,
   then the median over rounds.

Writes bench/results/budgets-<date>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_gateway as bg
from _gateways import clean_env
from _procs import free_port, start, stop

from majordomo_otel.gateway.budgets import Budget, Budgets, create_budget
from majordomo_otel.gateway.record import RequestRecord, new_request_id
from majordomo_otel.gateway.store import open_store

TAGS = {"X-Majordomo-Feature": "bench", "X-Majordomo-User-Id": "u-1"}
WORKLOADS = [bg.Workload("chat c1", False, 1, "wrk"), bg.Workload("chat c64", False, 64, "wrk")]
NEVER = "1000000"  # the largest limit: never reached here


def hundred() -> list[tuple[str, str]]:
    """(name, scope) of 100 budgets; a bench request falls under the last two."""
    scopes = [(f"f{i}-per-user", f"feature=f{i} user_id=*") for i in range(50)]
    scopes += [(f"f{i}", f"feature=f{i}") for i in range(50, 80)]
    scopes += [(f"m{i}", f"model=m{i}") for i in range(10)]
    scopes += [(f"t{i}", f"tag.team=t{i}") for i in range(8)]
    return [*scopes, ("bench-per-user", "feature=bench user_id=*"), ("openai", "provider=openai")]


CONFIGS: dict[str, list[tuple[str, str]]] = {
    "0 budgets": [],
    "1 budget": [("bench-per-user", "feature=bench user_id=*")],
    "100 budgets": hundred(),
}


# --- 1. micro -------------------------------------------------------------------------------------------


def _record(feature: str) -> RequestRecord:
    record = RequestRecord(
        id=new_request_id(),
        provider="openai",
        request_path="/v1/chat/completions",
        request_method="POST",
        requested_at=datetime.now(UTC),
        request_model="gpt-4o-mini",
        model="gpt-4o-mini",
        majordomo_api_key_id="key-1",
        total_cost=Decimal("0.00030285"),
    )
    record.raw_metadata = {"Feature": feature, "User-Id": "u-1", "Session-Id": "s-1"}
    return record


def _budgets(scopes: list[tuple[str, str]]) -> Budgets:
    budgets = Budgets(store=None)  # type: ignore[arg-type]  # never synced: the ledger is set here
    budgets.ledger.install([Budget.new(n, s, limit=NEVER, window="day") for n, s in scopes], {}, time.time())
    return budgets


def _per_request_us(budgets: Budgets, record: RequestRecord, n: int) -> float:
    check, spend = budgets.check, budgets.spend
    started = time.process_time_ns()
    for _ in range(n):
        check(record)
        spend(record)
    return (time.process_time_ns() - started) / n / 1000


def micro(args: argparse.Namespace) -> list[str]:
    cases: dict[str, Callable[[], tuple[Budgets, RequestRecord]]] = {
        "no budget": lambda: (_budgets([]), _record("bench")),
        "100 budgets, none matching": lambda: (_budgets(hundred()[:-2]), _record("bench")),
        "1 budget, matching": lambda: (_budgets(CONFIGS["1 budget"]), _record("bench")),
        "100 budgets, 2 matching": lambda: (_budgets(hundred()), _record("bench")),
    }
    built = {name: make() for name, make in cases.items()}
    results: dict[str, list[float]] = {name: [] for name in built}
    names = list(built)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            results[name].append(_per_request_us(*built[name], args.micro_requests))
    lines = ["| case | CPU per request (µs), median | min | max |", "|---|---|---|---|"]
    for name, values in results.items():
        lines.append(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
        print(f"micro {name:28} {statistics.median(values):7.2f} µs/request", flush=True)
    return lines


async def _sync_ms(scopes: list[tuple[str, str]], syncs: int, tmp: Path) -> float:
    """CPU per background sync (flush one increment, reload, refresh) on SQLite, the full reloads excluded."""
    store = open_store(f"sqlite:///{tmp / f'sync-{len(scopes)}.db'}")
    await store.open()
    try:
        await store.migrate()
        for name, scope in scopes:
            await create_budget(store, name, scope, limit=NEVER, window="day")
        budgets = Budgets(store)
        await budgets.sync()
        record = _record("bench")
        started = time.process_time()
        for _ in range(syncs):
            budgets.spend(record)
            await budgets.sync()
        return (time.process_time() - started) / syncs * 1000
    finally:
        await store.close()


async def sync_cost(args: argparse.Namespace) -> list[str]:
    lines = ["", "Background sync, once per `MAJORDOMO_BUDGET_REFRESH_INTERVAL` (default 1 s), CPU per sync:", ""]
    lines += ["| budgets | CPU per sync (ms) |", "|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("0 budgets", "100 budgets"):
            ms = await _sync_ms(CONFIGS[name], args.syncs, Path(tmp))
            lines.append(f"| {name} | {ms:.2f} |")
            print(f"sync {name:12} {ms:.2f} ms CPU per sync", flush=True)
    return lines


# --- 2. end to end --------------------------------------------------------------------------------------


class _Tagged(bg.Target):
    def headers(self, stream: bool, paced: bool = False) -> dict[str, str]:
        return super().headers(stream, paced) | TAGS


async def _define(database_url: str, scopes: list[tuple[str, str]]) -> None:
    store = open_store(database_url)
    await store.open()
    try:
        await store.migrate()
        for name, scope in scopes:
            await create_budget(store, name, scope, limit=NEVER, window="day")
    finally:
        await store.close()


async def end_to_end(args: argparse.Namespace, tmp: Path, sim_url: str) -> list[str]:
    targets: list[bg.Target] = []
    try:
        for name, scopes in CONFIGS.items():
            db = tmp / f"{name.replace(' ', '-')}.db"
            started = bg._start_gateway(f"gateway {name}", tmp, sim_url, f"sqlite:///{db}", auth=True)
            targets.append(_Tagged(started.name, started.base_url, started.proc, started.key, bg._sqlite_counter(db)))
            await _define(f"sqlite:///{db}", scopes)  # while it runs: applied within its refresh interval
        await asyncio.sleep(2)
        for t in targets:
            for w in WORKLOADS:
                await bg.run_cell(t, w, args.warmup_seconds, tmp)
        cpu: dict[tuple[str, str], list[float]] = {}
        extra: dict[tuple[str, str], list[float]] = {}
        for r in range(args.rounds):
            order = targets[r % len(targets) :] + targets[: r % len(targets)]
            for w in WORKLOADS:
                cells = {t.name: await bg.run_cell(t, w, args.seconds, tmp) for t in order}
                none = cells["gateway 0 budgets"].cpu_per_request_ms or 0.0
                for name, cell in cells.items():
                    cpu.setdefault((name, w.name), []).append(cell.cpu_per_request_ms or 0.0)
                    extra.setdefault((name, w.name), []).append((cell.cpu_per_request_ms or 0.0) - none)
                    print(
                        f"round {r + 1} {w.name:9} {name:24} {cell.load.rps:7,.0f} req/s "
                        f"{(cell.cpu_per_request_ms or 0) * 1000:6.0f} µs CPU/req",
                        flush=True,
                    )
    finally:
        for t in targets:
            if t.proc is not None:
                stop(t.proc)
    lines = [
        "| gateway | workload | CPU per request (µs) | extra over 0 budgets (µs), median of paired rounds | share |",
        "|---|---|---|---|---|",
    ]
    for (name, workload), values in cpu.items():
        median = statistics.median(values) * 1000
        added = statistics.median(extra[(name, workload)]) * 1000
        reference = statistics.median(cpu[("gateway 0 budgets", workload)]) * 1000
        lines.append(f"| {name} | {workload} | {median:.0f} | {added:+.1f} | {added / reference:+.1%} |")
    return lines


async def main_async(args: argparse.Namespace) -> int:
    os.sched_setaffinity(0, {bg.LOAD_CORE})
    lines = [f"# Budgets: cost per request ({datetime.now(UTC):%Y-%m-%d})", "", "## micro: check + spend", ""]
    lines += micro(args)
    lines += await sync_cost(args)
    if args.e2e:
        tmp = Path(tempfile.mkdtemp(prefix="bench-budgets-"))
        sim_port = free_port()
        sim = start(
            [sys.executable, "-m", "majordomo_otel.sim", "--port", str(sim_port)],
            core=bg.LOAD_CORE,
            port=sim_port,
            log=tmp / "sim.log",
            env=clean_env(),
        )
        try:
            lines += ["", "## end to end: gateway CPU per request", ""]
            lines += await end_to_end(args, tmp, f"http://127.0.0.1:{sim_port}")
        finally:
            stop(sim)
    write(Path(args.out or bg.BENCH / "results" / f"budgets-{datetime.now(UTC):%Y-%m-%d}.md"), lines)
    return 0


def write(out: Path, lines: list[str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--warmup-seconds", type=float, default=1)
    parser.add_argument("--micro-requests", type=int, default=50_000, help="requests per micro round and case")
    parser.add_argument("--syncs", type=int, default=200, help="background syncs timed per configuration")
    parser.add_argument("--no-e2e", dest="e2e", action="store_false", help="the micro measurement only")
    parser.add_argument("--out", help="results file (default bench/results/budgets-<date>.md)")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
