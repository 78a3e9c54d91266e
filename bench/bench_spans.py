"""What span export costs the gateway, before (the SDK's route) and after (the gateway's own encoder), in one run.

    python bench/bench_spans.py [--rounds 5] [--seconds 3] [--micro-requests 20000]

Two measurements, both as gateway process CPU per request (all threads: the export thread included),
both paired within each round:

1. micro: `GatewaySpans.finish` on realistic finished requests in this process (pinned to the
   gateway core), flushed to the local OTLP/HTTP sink after each full batch (so none is dropped):
   the SDK route (`ReadableSpan`s through the SDK's `OTLPSpanExporter`, as every request went
   before) against the gateway's encoder (`gateway/otlp/`). Nothing else runs, so this is the
   export cost alone, with little noise.
2. end to end: bench_gateway.py's set-up (the gateways on core 1, the sim, wrk and the OTLP sink on
   core 0): direct (wrk -> sim), the gateway with SQLite + auth and no exporter, the same with
   `OTEL_EXPORTER_OTLP_ENDPOINT` at the sink (the gateway's encoder), and the same served with the
   SDK's `OTLPSpanExporter` passed in (the SDK route; this script serves it, `--serve-sdk-route`).
   Every request carries a `traceparent`, as an instrumented agent's do. Each figure is the median
   over rounds; on-vs-off deltas are taken within a round before the median.

Writes bench/results/spans-<date>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_gateway as bg
from _gateways import clean_env, create_key
from _procs import free_port, start, stop

WORKLOADS = [
    bg.Workload("chat c1", False, 1, "wrk"),
    bg.Workload("chat c16", False, 16, "wrk"),
    bg.Workload("stream c1", True, 1, "wrk"),
]
OFF, SDK, OURS = "gateway OTLP off", "gateway OTLP SDK route", "gateway OTLP encoder"
ROUTES = (SDK, OURS)


class _TracedTarget(bg.Target):
    """A bench_gateway target whose requests carry a caller's trace context."""

    def headers(self, stream: bool, paced: bool = False) -> dict[str, str]:
        trace_id = uuid.uuid4().hex
        return super().headers(stream, paced) | {"traceparent": f"00-{trace_id}-{trace_id[:16]}-01"}


def _med(values: list[float]) -> float:
    return statistics.median(values)


# --- 1. micro: the export path alone, in this process -------------------------------------------------


def _finished_requests(n: int) -> list[tuple[Any, Any]]:
    """`n` (plan, record) pairs as the proxy leaves them for `finish`: a traced, tagged, priced chat."""
    from majordomo_otel.gateway.record import RequestRecord, new_request_id
    from majordomo_otel.gateway.span_plan import SpanPlan, parse_traceparent

    out = []
    for i in range(n):
        plan = SpanPlan(parse_traceparent(f"00-{uuid.uuid4().hex}-b7ad6b7169203331-01"), None)
        plan.server_attributes = {"majordomo.feature": "research", "majordomo.user_id": f"u-{i % 50}", "user.id": "u"}
        plan.upstream_name = "POST /v1/chat/completions"
        plan.upstream_attributes = {"http.request.method": "POST", "server.address": "api.openai.com"}
        plan.upstream_attributes |= {"url.path": "/v1/chat/completions", "http.response.status_code": 200}
        plan.upstream_start_ns = plan.now_ns()
        plan.upstream_end_ns = plan.now_ns()
        record = RequestRecord(
            id=new_request_id(),
            provider="openai",
            request_path="/v1/chat/completions",
            request_method="POST",
            requested_at=datetime.now(UTC),
            operation="chat_completions",
            model="gpt-4o-mini-2024-07-18",
            request_model="gpt-4o-mini",
            status_code=200,
            input_tokens=12 + i % 7,
            output_tokens=9 + i % 5,
            cached_tokens=0,
            reasoning_tokens=0,
            usage_status="reported",
            input_cost=Decimal("0.0000018"),
            output_cost=Decimal("0.0000054"),
            total_cost=Decimal("0.0000072") + Decimal(i % 5) / 10**9,
            pricing_status="priced",
            time_to_first_token_ms=0.5 + (i % 100) / 1000,
        )
        out.append((plan, record))
    return out


def _micro_round(route: str, sink_url: str, n: int) -> tuple[float, float, dict[str, int]]:
    """CPU µs per request of `finish` + export on `route` (all threads, and the serving thread's share),
    and the export stats (every span exported?)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    from majordomo_otel.gateway.settings import SpanUsagePolicy
    from majordomo_otel.gateway.spans import GatewaySpans, build_span_pipeline

    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink_url, "OTEL_METRICS_EXPORTER": "none"}
    if route == SDK:
        output, stats = build_span_pipeline(exporter=OTLPSpanExporter(endpoint=f"{sink_url}/v1/traces"), environ=env)
    else:
        output, stats = build_span_pipeline(environ=env)
    spans = GatewaySpans(output, SpanUsagePolicy.AUTO)
    work = _finished_requests(n)
    try:
        started, serving = time.process_time(), time.thread_time()
        for i, (plan, record) in enumerate(work):
            spans.finish(plan, record)
            if i % 256 == 255:  # one full batch (512 spans) queued: wait until it is sent, so none is dropped
                spans.force_flush()
        serving = time.thread_time() - serving
        spans.force_flush()
        cpu = time.process_time() - started
    finally:
        spans.shutdown()
    return cpu / n * 1e6, serving / n * 1e6, stats.snapshot()


def micro(args: argparse.Namespace, sink_url: str) -> list[str]:
    os.sched_setaffinity(0, {bg.GATEWAY_CORE})
    try:
        _micro_round(OURS, sink_url, 500)  # imports and first connections out of the way
        _micro_round(SDK, sink_url, 500)
        per_route: dict[str, list[float]] = {SDK: [], OURS: []}
        serving: dict[str, list[float]] = {SDK: [], OURS: []}
        complete = True
        for r in range(args.rounds):
            for route in ROUTES if r % 2 == 0 else ROUTES[::-1]:
                us, serving_us, stats = _micro_round(route, sink_url, args.micro_requests)
                complete = complete and stats["exported"] == stats["ended"] == 2 * args.micro_requests
                per_route[route].append(us)
                serving[route].append(serving_us)
                print(
                    f"micro round {r + 1} {route:24} {us:7.1f} µs/request ({serving_us:.1f} serving) {stats}",
                    flush=True,
                )
    finally:
        os.sched_setaffinity(0, {bg.LOAD_CORE})
    ratios = [o / s for o, s in zip(per_route[OURS], per_route[SDK], strict=True)]
    return [
        "### micro: span export alone (render, encode, queue, send; all threads)",
        "",
        f"{args.micro_requests:,} finished requests (SERVER + CLIENT span each) per round, {args.rounds} rounds, "
        f"this process on core {bg.GATEWAY_CORE}; every span reached the sink: {'yes' if complete else 'NO'}.",
        "",
        "| route | CPU µs/request (median) | of which the serving thread | per round |",
        "|---|---|---|---|",
        *(
            f"| {route} | {_med(per_route[route]):.1f} | {_med(serving[route]):.1f} | "
            f"{', '.join(f'{v:.1f}' for v in per_route[route])} |"
            for route in ROUTES
        ),
        "",
        f"encoder / SDK route: {_med(ratios):.3f} (median of paired rounds)",
        "",
    ]


# --- 2. end to end: gateways under load --------------------------------------------------------------


def summarise(results: dict[tuple[str, str], list[bg.Cell]], rounds: int) -> list[str]:
    lines: list[str] = []
    for w in WORKLOADS:
        direct = results[("direct", w.name)]
        lines += [
            f"### {w.name}",
            "",
            "| target | req/s | p50 ms | added p50 µs | p99 ms | added p99 µs | gw CPU µs/req | export µs/req |",
            "|---|---|---|---|---|---|---|---|",
        ]
        off = results[(OFF, w.name)]
        for name in ("direct", OFF, *ROUTES):
            cells = results[(name, w.name)]
            added50 = [(c.load.p50_ms - d.load.p50_ms) * 1000 for c, d in zip(cells, direct, strict=True)]
            added99 = [(c.load.p99_ms - d.load.p99_ms) * 1000 for c, d in zip(cells, direct, strict=True)]
            cpu = [c.cpu_per_request_ms * 1000 for c in cells if c.cpu_per_request_ms is not None]
            export = _deltas(off, cells) if name in ROUTES else None
            is_direct = name == "direct"
            cells_text = [
                name,
                f"{_med([c.load.rps for c in cells]):,.0f}",
                f"{_med([c.load.p50_ms for c in cells]):.3f}",
                "-" if is_direct else f"{_med(added50):+,.0f}",
                f"{_med([c.load.p99_ms for c in cells]):.3f}",
                "-" if is_direct else f"{_med(added99):+,.0f}",
                f"{_med(cpu):,.0f}" if cpu else "-",
                f"{_med(export):+,.0f}" if export else "-",
            ]
            lines.append("| " + " | ".join(cells_text) + " |")
        sdk, ours = results[(SDK, w.name)], results[(OURS, w.name)]
        sdk_d, ours_d = _deltas(off, sdk), _deltas(off, ours)
        rps = [o.load.rps / s.load.rps for s, o in zip(sdk, ours, strict=True)]
        lines += [
            "",
            f"export CPU per request (on minus off, paired per round, median of {rounds}): SDK route "
            f"{_med(sdk_d):+,.0f} µs (rounds {_rounds(sdk_d)}), encoder {_med(ours_d):+,.0f} µs "
            f"(rounds {_rounds(ours_d)}); encoder vs SDK route req/s ratio {_med(rps):.2f}",
            "",
        ]
    return lines


def _deltas(off: list[bg.Cell], on: list[bg.Cell]) -> list[float]:
    return [
        (b.cpu_per_request_ms - a.cpu_per_request_ms) * 1000
        for a, b in zip(off, on, strict=True)
        if a.cpu_per_request_ms is not None and b.cpu_per_request_ms is not None
    ]


def _rounds(values: list[float]) -> str:
    return ", ".join(f"{v:+.0f}" for v in values)


def _start_sdk_route(tmp: Path, sim_url: str, db: Path, env: dict[str, str]) -> bg.Target:
    """The gateway as `majordomo gateway` runs it, but handed the SDK's OTLPSpanExporter (the route before)."""
    port = free_port()
    key = create_key(f"sqlite:///{db}")
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve-sdk-route", "--port", str(port)]
    argv += ["--database-url", f"sqlite:///{db}", "--openai-base-url", sim_url, "--spool-dir", str(tmp / "sdk-spool")]
    proc = start(argv, core=bg.GATEWAY_CORE, port=port, log=tmp / "sdk-route.log", env=env)
    return _TracedTarget(SDK, f"http://127.0.0.1:{port}", proc, key)


def serve_sdk_route(args: argparse.Namespace) -> int:
    import uvloop
    from aiohttp import web

    from majordomo_otel._otlp import span_exporter_from_env
    from majordomo_otel.gateway.app import create_app, runner_options
    from majordomo_otel.gateway.settings import load_settings

    flags = {"port": args.port, "database_url": args.database_url, "openai_base_url": args.openai_base_url}
    settings = load_settings(flags | {"spool_dir": args.spool_dir})
    app = create_app(settings, span_exporter=span_exporter_from_env())
    web.run_app(app, host=settings.host, port=settings.port, **runner_options(settings), loop=uvloop.new_event_loop())
    return 0


async def end_to_end(args: argparse.Namespace, tmp: Path, sim_url: str, sink_url: str) -> list[str]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        targets: list[bg.Target] = [bg.Target("direct", sim_url)]
        # A short schedule delay, so each cell's spans are exported (and their CPU counted) within the cell.
        otlp = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink_url,
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        starts: list[tuple[str, Callable[[Path], bg.Target]]] = [
            (OFF, lambda db: bg._start_gateway(OFF, tmp, sim_url, f"sqlite:///{db}", auth=True, env=clean_env())),
            (
                OURS,
                lambda db: bg._start_gateway(OURS, tmp, sim_url, f"sqlite:///{db}", auth=True, env=clean_env(**otlp)),
            ),
            (SDK, lambda db: _start_sdk_route(tmp, sim_url, db, clean_env(**otlp))),
        ]
        for name, starter in starts:
            db = tmp / f"{len(targets)}.db"
            plain = starter(db)
            target = _TracedTarget(name, plain.base_url, plain.proc, plain.key)
            target.count_rows = bg._sqlite_counter(db)
            targets.append(target)
            if plain.proc is not None:
                procs.append(plain.proc)

        print(f"targets up (temp dir {tmp}); warming up", flush=True)
        for target in targets:
            for w in WORKLOADS:
                await bg.run_cell(target, w, min(1.0, args.seconds), tmp)

        results: dict[tuple[str, str], list[bg.Cell]] = {}
        for r in range(args.rounds):
            for w in WORKLOADS:
                order = targets[r % len(targets) :] + targets[: r % len(targets)]
                for target in order:
                    cell = await bg.run_cell(target, w, args.seconds, tmp)
                    results.setdefault((target.name, w.name), []).append(cell)
                    print(
                        f"round {r + 1} {w.name:10} {target.name:24} {cell.load.rps:8,.0f} req/s "
                        f"p50 {cell.load.p50_ms:7.3f} ms cpu {bg._fmt(cell.cpu_per_request_ms, '.3f')} ms/req "
                        f"err {cell.load.errors}",
                        flush=True,
                    )
        return summarise(results, args.rounds)
    finally:
        for proc in reversed(procs):
            stop(proc)


async def main_async(args: argparse.Namespace) -> int:
    os.sched_setaffinity(0, {bg.LOAD_CORE})
    tmp = Path(tempfile.mkdtemp(prefix="bench-spans-"))
    procs = []
    try:
        sim_port, sink_port = free_port(), free_port()
        env = clean_env()
        sim_argv = [sys.executable, "-m", "majordomo_otel.sim", "--port", str(sim_port)]
        procs.append(start(sim_argv, core=bg.LOAD_CORE, port=sim_port, log=tmp / "sim.log", env=env))
        sink_argv = [sys.executable, str(bg.BENCH / "_otlp_sink.py"), "--port", str(sink_port)]
        procs.append(start(sink_argv, core=bg.LOAD_CORE, port=sink_port, log=tmp / "otlp.log", env=env))
        sim_url, sink_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{sink_port}"

        micro_lines = micro(args, sink_url)
        e2e_lines = await end_to_end(args, tmp, sim_url, sink_url)

        now = datetime.now(UTC)
        out = [
            f"# Gateway span export: SDK route vs the gateway's encoder, {now.isoformat(timespec='seconds')}",
            "",
            f"{os.cpu_count()} cores, load average at start {args.load_at_start}. CPU = process utime+stime "
            "per request, all threads (the export thread included).",
            "",
            *micro_lines,
            "## end to end",
            "",
            f"Gateways on core {bg.GATEWAY_CORE}; sim + wrk + OTLP sink on core {bg.LOAD_CORE}. {args.rounds} "
            f"interleaved rounds, {args.seconds:g} s per cell. Requests carry a traceparent. Added = target minus "
            "direct in the same round; export = target minus OTLP off in the same round.",
            "",
            *e2e_lines,
        ]
        text = "\n".join(out)
        print(text)
        dest = Path(args.out) if args.out else bg.BENCH / "results" / f"spans-{now.strftime('%Y-%m-%d')}.md"
        dest.parent.mkdir(exist_ok=True)
        dest.write_text(text + "\n")
        return 0
    finally:
        for proc in reversed(procs):
            stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--micro-requests", type=int, default=20_000, help="finished requests per micro round")
    parser.add_argument("--out", help="results file (default bench/results/spans-<date>.md)")
    serve = parser.add_argument_group("serving the SDK route (this script runs it as a target)")
    serve.add_argument("--serve-sdk-route", action="store_true", help=argparse.SUPPRESS)
    for flag in ("--port", "--database-url", "--openai-base-url", "--spool-dir"):
        serve.add_argument(flag, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sdk_route:
        return serve_sdk_route(args)
    args.load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
