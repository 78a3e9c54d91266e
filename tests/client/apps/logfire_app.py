"""Logfire configured first, then `instrument()`: one provider, one trace. Prints the spans as JSON."""

import asyncio
import json

import logfire
from app import main
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import majordomo_otel


def keep_tags(match: logfire.ScrubMatch) -> object:
    """Logfire's scrubber redacts anything named like 'session'; tags are not secrets."""
    if match.path[:1] == ("attributes",) and match.path[1] in ("majordomo.session_id", "session.id"):
        return match.value
    return None


exporter = InMemorySpanExporter()
logfire.configure(
    send_to_logfire=False,
    console=False,
    additional_span_processors=[SimpleSpanProcessor(exporter)],
    scrubbing=logfire.ScrubbingOptions(callback=keep_tags),
)
logfire.instrument_pydantic_ai()
provider = majordomo_otel.instrument()
asyncio.run(main())
spans = exporter.get_finished_spans()
print(
    json.dumps(
        {
            "same_provider": provider is trace.get_tracer_provider(),
            "trace_ids": len({s.context.trace_id for s in spans}),
            "spans": [
                [s.name, {k: v for k, v in s.attributes.items() if k.startswith("majordomo.")}]
                for s in sorted(spans, key=lambda s: s.start_time)
            ],
        }
    )
)
