"""`majordomo demo`: costs lined up with traces in one command, with no keys, no network and no services.

It starts the local stand-in providers and a real gateway (SQLite in a temp dir, auth on with a key it
creates), runs a tagged research workflow with Pydantic AI agents on OpenAI, Anthropic and Gemini models
through that gateway, then prints costs by feature, step and user from the SQL store, the span tree of
one run (client spans and the gateway's SERVER/CLIENT spans with their costs), and where the database
is. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, both sides also export their spans (Jaeger shows them).

Everything runs in this process (the gateway in a thread of its own), so it works on any machine.
`local_stack()` is the same offline set-up, for the runnable `examples/` and the trace tests.

A package so the demo's parts stay out of the client library's top level: `_stack` (stand-ins + gateway
in a thread), `_workflow` (the tagged agents, written as an application would), `_render` (the span tree).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from .._otlp import span_exporter_from_env
from ._stack import LocalStack, local_stack, patched_environ

__all__ = ["LocalStack", "local_stack", "patched_environ", "run_demo"]

_BY = ("feature", "step", "user")


def run_demo(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the demo; `args.keep` keeps the database, `args.db` (optional) chooses its file."""
    out = out or sys.stdout
    db_arg: str | None = getattr(args, "db", None)
    keep = bool(getattr(args, "keep", False)) or db_arg is not None
    if db_arg:
        db_path = Path(db_arg).expanduser().resolve()
        workdir = None
    else:
        workdir = Path(tempfile.mkdtemp(prefix="majordomo-demo-"))
        db_path = workdir / "majordomo-demo.db"
    try:
        _run(db_path, keep, out)
    finally:
        if workdir is not None and not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _client_tracer_provider() -> tuple[object, object]:
    """The application's tracer provider: spans in memory (to print) and, if configured, over OTLP."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": "majordomo-demo"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    if (otlp := span_exporter_from_env()) is not None:
        provider.add_span_processor(BatchSpanProcessor(otlp))
    return provider, memory


def _run(db_path: Path, keep: bool, out: TextIO) -> None:
    import majordomo_otel

    from ._workflow import RESEARCHERS, StepDone, run_all

    started = time.perf_counter()
    say = _printer(out)
    endpoint = _otlp_endpoint()
    say("majordomo demo: stand-in providers + gateway + a tagged Pydantic AI workflow, all on this machine")
    _warm_imports()
    provider, client_spans = _client_tracer_provider()
    with local_stack(db_path, span_exporter=span_exporter_from_env()) as stack:
        say(f"  stand-in providers  {stack.sim_url}  (OpenAI, Anthropic and Gemini APIs, no keys needed)")
        say(f"  gateway             {stack.url}  (auth on, key {stack.key[:11]}…, store {stack.database_url})")
        if endpoint:
            say(f"  exporting spans to  {endpoint}  (client: majordomo-demo, gateway: majordomo-gateway)")
        say("")
        say(f"Research workflow: feature=research, steps query-gen → synthesis, {len(RESEARCHERS)} users at once")

        def progress(done: StepDone) -> None:
            say(
                f"  ✓ {done.user_id:<6} {done.step:<10} {done.provider + ':' + done.model:<34} "
                f"{done.detail:<22} {done.seconds:5.2f}s"
            )

        with patched_environ(stack.client_environ()):
            majordomo_otel.instrument(tracer_provider=provider)
            try:
                results = asyncio.run(run_all(progress, provider.get_tracer("majordomo_otel.demo")))  # type: ignore[attr-defined]
            finally:
                majordomo_otel.uninstrument()
        stack.flush()
        provider.force_flush()  # type: ignore[attr-defined]

        for by in _BY:
            say("")
            say(f"Cost by {by} (SQL: llm_requests, as `majordomo costs --by {by}` prints it)")
            say(_totals(stack, by).rstrip())

        first = results[0]
        say("")
        say(f"Span tree of {first.researcher.user_id}'s run, trace {first.trace_id}:")
        say(
            "(the app's spans; under each HTTP call the gateway's SERVER span, with its cost, and upstream CLIENT span)"
        )
        from ._render import span_tree

        spans = [*client_spans.get_finished_spans(), *stack.spans.get_finished_spans()]  # type: ignore[attr-defined]
        say(span_tree(spans, int(first.trace_id, 16)))
        if keep:
            say(f"  (its records: majordomo costs --database-url {stack.database_url} --trace {first.trace_id})")
    provider.shutdown()  # type: ignore[attr-defined]

    say("")
    if keep:
        say(f"Database: {db_path}")
        say("Try:")
        say(
            f"  sqlite3 {db_path} \"SELECT raw_metadata->>'User-Id' AS user_id, "
            f"raw_metadata->>'Step' AS step, COUNT(*) AS requests, SUM(total_cost) AS cost "
            f'FROM llm_requests GROUP BY 1, 2 ORDER BY cost DESC"'
        )
        say(f"  majordomo costs --database-url sqlite:///{db_path} --by user,step")
        say("  more queries: examples/queries.sql")
    else:
        say(f"Database: {db_path} (deleted on exit; `majordomo demo --keep` keeps it to query with sqlite3)")
    say(f"Done in {time.perf_counter() - started:.1f}s.")


def _warm_imports() -> None:
    """Import the provider SDKs up front, so the first run's timings show requests, not imports."""
    import pydantic_ai.models.anthropic
    import pydantic_ai.models.openai  # noqa: F401


def _totals(stack: LocalStack, by: str) -> str:
    from ..costs import cost_totals, render_totals

    rows = stack.call(cost_totals(stack.store, by=[by]))
    return render_totals(rows, [by], "table")


def _otlp_endpoint() -> str | None:
    import os

    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")


def _printer(out: TextIO):  # type: ignore[no-untyped-def]
    def say(line: str) -> None:
        print(line, file=out, flush=True)

    return say
