"""The client process: a tagged two-step Pydantic AI workflow per user, all users at once.

Run as a subprocess (fresh global OTel state): `instrument()` builds its tracer provider from
`OTEL_EXPORTER_OTLP_ENDPOINT` and the gateway from `MAJORDOMO_GATEWAY_URL` / `MAJORDOMO_API_KEY`,
as an application's would. Step 1 (`query-gen`) calls a tool, not streamed; step 2 (`synthesis`)
is streamed. Prints one JSON line: `{user: trace_id}`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from opentelemetry import trace
from pydantic_ai import Agent

import majordomo_otel
from majordomo_otel.pydantic_ai import create_anthropic_model, create_gemini_model, create_gemini_native_model
from majordomo_otel.pydantic_ai import create_openai_model as create_openai

FEATURE = "research"

_FACTORIES: dict[str, Any] = {
    "openai": create_openai,
    "anthropic": create_anthropic_model,
    "gemini": create_gemini_native_model,
    "gemini-openai": create_gemini_model,
}

#: user → (query-gen model, synthesis model); every route, each streamed and not; priced model names.
USERS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "alice": (("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-6")),
    "bob": (("anthropic", "claude-3-5-haiku-latest"), ("gemini", "gemini-3.5-flash-lite")),
    "carol": (("gemini", "gemini-3.5-flash-lite"), ("gemini-openai", "gemini-3.5-flash-lite")),
    "dave": (("gemini-openai", "gemini-3.5-flash-lite"), ("openai", "gpt-4o-mini")),
}


def search_web(query: str) -> list[str]:
    """Search the web and return the titles of the top results."""
    return [f"{query}: a survey", f"{query}: open questions"]


async def run(user: str, tracer: trace.Tracer) -> str:
    (query_route, query_model), (synth_route, synth_model) = USERS[user]
    with (
        majordomo_otel.tags(feature=FEATURE, user_id=user, session_id=f"s-{user}"),
        tracer.start_as_current_span(f"workflow {user}") as root,
    ):
        with majordomo_otel.tags(step="query-gen"):
            agent = Agent(_FACTORIES[query_route](query_model), name="query-gen", instructions="Write queries.")
            agent.tool_plain(search_web)
            queries = await agent.run("solid-state batteries")
        with majordomo_otel.tags(step="synthesis"):
            agent = Agent(_FACTORIES[synth_route](synth_model), name="synthesis", instructions="Summarise.")
            async with agent.run_stream(queries.output) as stream:
                async for _ in stream.stream_text(delta=True, debounce_by=None):
                    pass
        return format(root.get_span_context().trace_id, "032x")


async def main() -> None:
    provider = majordomo_otel.instrument()
    tracer = trace.get_tracer("tests.traces.workflow")
    trace_ids = await asyncio.gather(*(run(user, tracer) for user in USERS))
    provider.force_flush()
    print(json.dumps(dict(zip(USERS, trace_ids, strict=True))))


if __name__ == "__main__":
    asyncio.run(main())
