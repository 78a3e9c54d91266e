"""What `instrument()` + `tags()` add per model request over bare OTel instrumentation.

Both arms run a real Pydantic AI agent with a real `OpenAIChatModel` (OpenAI SDK over httpx2)
against a local server, with a real SDK tracer provider (spans dropped by a no-op exporter):
- bare: `HTTPX2ClientInstrumentor` + `Agent.instrument_all()` only;
- majordomo: `majordomo_otel.instrument()` (which adds the same two) + each run inside `tags(...)`.
Each arm runs in its own process (a tracer provider is process-global); rounds alternate between
the arms so machine noise hits both. Prints the median µs per request of each arm and the delta.

    python bench/bench_client.py [--rounds 6] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time


def _arm(mode: str, base_url: str, n: int) -> float:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    class Drop(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)
    if mode == "bare":
        from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor

        HTTPX2ClientInstrumentor().instrument()
        Agent.instrument_all()
    else:
        import majordomo_otel

        majordomo_otel.instrument(gateway_url=base_url, api_key="mdm_sk_bench")

    model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(base_url=f"{base_url}/v1", api_key="k"))
    agent = Agent(model)

    async def run_all() -> float:
        if mode == "bare":
            for _ in range(20):
                await agent.run("hi")
            start = time.perf_counter()
            for _ in range(n):
                await agent.run("hi")
            return time.perf_counter() - start
        import majordomo_otel

        with majordomo_otel.tags(feature="bench", step="s", user_id="u-1", session_id="s-1"):
            for _ in range(20):
                await agent.run("hi")
        start = time.perf_counter()
        for i in range(n):
            with majordomo_otel.tags(feature="bench", step="s", user_id=f"u-{i % 50}", session_id="s-1"):
                await agent.run("hi")
        return time.perf_counter() - start

    return asyncio.run(run_all()) / n * 1e6


def _micro() -> None:
    """The parts alone, precise where the end-to-end delta drowns in noise."""
    import timeit

    import httpx2
    from opentelemetry.sdk.trace import TracerProvider

    from majordomo_otel import MajordomoPropagator, tags
    from majordomo_otel._span_processor import MajordomoSpanProcessor
    from majordomo_otel.propagator import configure, destination

    configure(["http://127.0.0.1:1"], "mdm_sk_bench")
    tracer = TracerProvider().get_tracer("bench")
    processor = MajordomoSpanProcessor()
    span = tracer.start_span("x")
    propagator = MajordomoPropagator()
    n = 20000
    with tags(feature="bench", step="s", user_id="u-1", session_id="s-1"):
        on_start = timeit.timeit(lambda: processor.on_start(span, None), number=n) / n * 1e6
        with destination("http://127.0.0.1:1/v1"):
            inject = timeit.timeit(lambda: propagator.inject(httpx2.Headers()), number=n) / n * 1e6

    def enter_exit() -> None:
        with tags(feature="f", user_id="u"):
            pass

    enter = timeit.timeit(enter_exit, number=n) / n * 1e6
    print(
        f"span processor on_start: {on_start:.2f} µs/span; inject on a gateway request: {inject:.2f} µs; "
        f"tags() block: {enter:.2f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--arm", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(_arm(args.arm, args.url, args.requests)))
        return

    from majordomo_otel.sim import SimServer

    with SimServer.in_thread() as server:
        results = _rounds(args, server.url)
    _micro()
    bare, ours = statistics.median(results["bare"]), statistics.median(results["majordomo"])
    print(f"bare OTel (httpx2 + Pydantic AI): {bare:8.1f} µs/request  (rounds: {[round(x) for x in results['bare']]})")
    print(
        f"instrument() + tags():           {ours:8.1f} µs/request  (rounds: {[round(x) for x in results['majordomo']]})"
    )
    print(f"added per request:               {ours - bare:8.1f} µs (median of {args.rounds} interleaved rounds)")


def _rounds(args: argparse.Namespace, url: str) -> dict[str, list[float]]:
    """Each arm in its own process against the stand-in upstream, alternating which goes first."""
    results: dict[str, list[float]] = {"bare": [], "majordomo": []}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MAJORDOMO_"))}
    for round_no in range(args.rounds):
        order = ["bare", "majordomo"] if round_no % 2 == 0 else ["majordomo", "bare"]
        for arm in order:
            cmd = [sys.executable, __file__, "--arm", arm, "--url", url, "--requests", str(args.requests)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            results[arm].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


if __name__ == "__main__":
    main()
