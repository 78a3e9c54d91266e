"""What span export costs the gateway: added latency and CPU per request, OTLP export on vs off.

    python bench/bench_spans.py [--rounds 5] [--seconds 3]

Reuses bench_gateway.py's set-up (same core layout: the gateways on core 1, the sim, wrk and the
OTLP sink on core 0) with three targets: direct (wrk -> sim), the gateway with SQLite + auth and
no exporter, and the same with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at the local OTLP/HTTP sink.
Every request carries a `traceparent`, as an instrumented agent's do. Rounds are interleaved (every
target back to back per workload, order rotating); each figure is the median over rounds of the
per-round value, and on-vs-off deltas are taken within a round before the median.

Writes bench/results/spans-<date>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_gateway as bg
from _procs import free_port, start, stop

WORKLOADS = [
    bg.Workload("chat c1", False, 1, "wrk"),
    bg.Workload("chat c16", False, 16, "wrk"),
    bg.Workload("stream c1", True, 1, "wrk"),
]
OFF, ON = "gateway OTLP off", "gateway OTLP on"


class _TracedTarget(bg.Target):
    """A bench_gateway target whose requests carry a caller's trace context."""

    def headers(self, stream: bool, paced: bool = False) -> dict[str, str]:
        trace_id = uuid.uuid4().hex
        return super().headers(stream, paced) | {"traceparent": f"00-{trace_id}-{trace_id[:16]}-01"}


def _med(values: list[float]) -> float:
    return statistics.median(values)


def summarise(results: dict[tuple[str, str], list[bg.Cell]], rounds: int) -> list[str]:
    lines: list[str] = []
    for w in WORKLOADS:
        direct = results[("direct", w.name)]
        lines += [
            f"### {w.name}",
            "",
            "| target | req/s | p50 ms | added p50 µs | p99 ms | added p99 µs | gw CPU µs/req |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in ("direct", OFF, ON):
            cells = results[(name, w.name)]
            added50 = [(c.load.p50_ms - d.load.p50_ms) * 1000 for c, d in zip(cells, direct, strict=True)]
            added99 = [(c.load.p99_ms - d.load.p99_ms) * 1000 for c, d in zip(cells, direct, strict=True)]
            cpu = [c.cpu_per_request_ms * 1000 for c in cells if c.cpu_per_request_ms is not None]
            is_direct = name == "direct"
            cells_text = [
                name,
                f"{_med([c.load.rps for c in cells]):,.0f}",
                f"{_med([c.load.p50_ms for c in cells]):.3f}",
                "-" if is_direct else f"{_med(added50):+,.0f}",
                f"{_med([c.load.p99_ms for c in cells]):.3f}",
                "-" if is_direct else f"{_med(added99):+,.0f}",
                f"{_med(cpu):,.0f}" if cpu else "-",
            ]
            lines.append("| " + " | ".join(cells_text) + " |")
        off, on = results[(OFF, w.name)], results[(ON, w.name)]
        cpu_delta = [(b.cpu_per_request_ms - a.cpu_per_request_ms) * 1000 for a, b in zip(off, on, strict=True)]
        cpu_ratio = [b.cpu_per_request_ms / a.cpu_per_request_ms for a, b in zip(off, on, strict=True)]
        p50_delta = [(b.load.p50_ms - a.load.p50_ms) * 1000 for a, b in zip(off, on, strict=True)]
        rps_ratio = [b.load.rps / a.load.rps for a, b in zip(off, on, strict=True)]
        lines += [
            "",
            f"on vs off (median of {rounds} paired rounds): CPU {_med(cpu_delta):+,.0f} µs/request "
            f"(ratio {_med(cpu_ratio):.2f}; per round {', '.join(f'{d:+.0f}' for d in cpu_delta)}), "
            f"p50 {_med(p50_delta):+,.0f} µs, req/s ratio {_med(rps_ratio):.2f}",
            "",
        ]
    return lines


async def main_async(args: argparse.Namespace) -> int:
    os.sched_setaffinity(0, {bg.LOAD_CORE})
    tmp = Path(tempfile.mkdtemp(prefix="bench-spans-"))
    procs = []
    try:
        sim_port, sink_port = free_port(), free_port()
        env = bg._clean_env()
        procs.append(
            start(
                [sys.executable, "-m", "majordomo_otel.sim", "--port", str(sim_port)],
                core=bg.LOAD_CORE,
                port=sim_port,
                log=tmp / "sim.log",
                env=env,
            )
        )
        procs.append(
            start(
                [sys.executable, str(bg.BENCH / "_otlp_sink.py"), "--port", str(sink_port)],
                core=bg.LOAD_CORE,
                port=sink_port,
                log=tmp / "otlp.log",
                env=env,
            )
        )
        sim_url = f"http://127.0.0.1:{sim_port}"
        targets: list[bg.Target] = [bg.Target("direct", sim_url)]
        for name, extra in ((OFF, {}), (ON, {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}"})):
            db = tmp / f"{len(targets)}.db"
            plain = bg._start_gateway(name, tmp, sim_url, f"sqlite:///{db}", auth=True, env=bg._clean_env(**extra))
            target = _TracedTarget(plain.name, plain.base_url, plain.proc, plain.key)
            target.count_rows = bg._sqlite_counter(db)
            targets.append(target)
            if plain.proc is not None:
                procs.append(plain.proc)

        print(f"targets up (temp dir {tmp}); warming up", flush=True)
        for target in targets:
            for w in WORKLOADS:
                await bg.run_cell(target, w, 1, tmp)

        results: dict[tuple[str, str], list[bg.Cell]] = {}
        for r in range(args.rounds):
            for w in WORKLOADS:
                order = targets[r % len(targets) :] + targets[: r % len(targets)]
                for target in order:
                    cell = await bg.run_cell(target, w, args.seconds, tmp)
                    results.setdefault((target.name, w.name), []).append(cell)
                    print(
                        f"round {r + 1} {w.name:10} {target.name:18} {cell.load.rps:8,.0f} req/s "
                        f"p50 {cell.load.p50_ms:7.3f} ms cpu {bg._fmt(cell.cpu_per_request_ms, '.3f')} ms/req "
                        f"err {cell.load.errors}",
                        flush=True,
                    )

        now = datetime.now(UTC)
        out = [
            f"# Gateway span export on vs off, {now.isoformat(timespec='seconds')}",
            "",
            f"{os.cpu_count()} cores, load average at start {args.load_at_start}; gateways on core {bg.GATEWAY_CORE}, "
            f"sim + wrk + OTLP sink on core {bg.LOAD_CORE}. {args.rounds} interleaved rounds, {args.seconds:g} s per "
            "cell. Requests carry a traceparent. CPU = gateway process utime+stime per request (all threads: the "
            "BatchSpanProcessor's export thread included). Added = target minus direct in the same round.",
            "",
            *summarise(results, args.rounds),
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
    parser.add_argument("--out", help="results file (default bench/results/spans-<date>.md)")
    args = parser.parse_args()
    args.load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
