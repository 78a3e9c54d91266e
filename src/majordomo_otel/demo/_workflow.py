"""The demo's research workflow: two tagged steps per user, three users at once, three providers.

Written the way an application would be: `instrument()` once, then plain Pydantic AI agents built with
`create_model()` and run inside `majordomo_otel.tags(...)`. Nothing here knows the providers are stand-ins.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry import trace
from pydantic_ai import Agent

import majordomo_otel
from majordomo_otel.pydantic_ai import Provider, create_model

FEATURE = "research"


@dataclass(frozen=True)
class Researcher:
    """One user's run: which model generates the search queries, which one writes the synthesis."""

    user_id: str
    session_id: str
    topic: str
    query_model: tuple[Provider, str]
    synthesis_model: tuple[Provider, str]


#: Model names genai-prices knows, so every request is priced.
RESEARCHERS: tuple[Researcher, ...] = (
    Researcher(
        "alice", "s-alice-1", "solid-state batteries", ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-6")
    ),
    Researcher(
        "bob",
        "s-bob-1",
        "coral reef recovery",
        ("anthropic", "claude-3-5-haiku-latest"),
        ("gemini", "gemini-3.5-flash-lite"),
    ),
    Researcher(
        "carol", "s-carol-1", "small modular reactors", ("gemini", "gemini-3.5-flash-lite"), ("openai", "gpt-4o-mini")
    ),
)


@dataclass(frozen=True)
class StepDone:
    """A progress event: one step of one user's run has finished."""

    user_id: str
    step: str
    provider: str
    model: str
    detail: str
    seconds: float


@dataclass(frozen=True)
class RunResult:
    researcher: Researcher
    trace_id: str
    summary: str


Progress = Callable[[StepDone], None]


def search_web(query: str) -> list[str]:
    """Search the web and return the titles of the top results."""
    return [f"{query}: a survey", f"{query}: recent results", f"{query}: open questions"]


def _query_agent(provider: Provider, model: str) -> Agent[None, str]:
    agent = Agent(
        create_model(provider, model),
        name="query-gen",
        instructions="Turn the topic into three focused search queries. Use search_web to check them.",
    )
    agent.tool_plain(search_web)
    return agent


def _synthesis_agent(provider: Provider, model: str) -> Agent[None, str]:
    return Agent(
        create_model(provider, model),
        name="synthesis",
        instructions="Write a short research brief from the queries and search results you are given.",
    )


async def research(researcher: Researcher, progress: Progress, tracer: trace.Tracer) -> RunResult:
    """One user's run: `query-gen` (with a tool call), then `synthesis` (streamed), one trace."""
    with (
        majordomo_otel.tags(feature=FEATURE, user_id=researcher.user_id, session_id=researcher.session_id),
        tracer.start_as_current_span(f"research {researcher.topic}") as root,
    ):
        started = time.perf_counter()
        with majordomo_otel.tags(step="query-gen"):
            queries = await _query_agent(*researcher.query_model).run(researcher.topic)
        tools = [p.tool_name for m in queries.all_messages() for p in m.parts if p.part_kind == "tool-call"]
        progress(
            StepDone(
                researcher.user_id, "query-gen", *researcher.query_model, f"tools: {', '.join(tools)}", _since(started)
            )
        )

        started = time.perf_counter()
        chunks = 0
        with majordomo_otel.tags(step="synthesis"):
            agent = _synthesis_agent(*researcher.synthesis_model)
            async with agent.run_stream(f"Topic: {researcher.topic}\nQueries: {queries.output}") as stream:
                async for _ in stream.stream_text(delta=True, debounce_by=None):
                    chunks += 1
                summary = await stream.get_output()
        progress(
            StepDone(
                researcher.user_id,
                "synthesis",
                *researcher.synthesis_model,
                f"streamed {chunks} chunks",
                _since(started),
            )
        )
        return RunResult(researcher, format(root.get_span_context().trace_id, "032x"), summary)


async def run_all(
    progress: Progress, tracer: trace.Tracer, researchers: tuple[Researcher, ...] = RESEARCHERS
) -> list[RunResult]:
    """Every user's run concurrently: tags follow each task, never leaking between users."""
    return list(await asyncio.gather(*(research(r, progress, tracer) for r in researchers)))


def _since(started: float) -> float:
    return time.perf_counter() - started
