from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from pydantic_ai import Agent, RunContext

from majordomo_otel.sim import RecordedRequest, SimServer

EXPECTED_HEADERS = {
    "x-majordomo-feature": "research",
    "x-majordomo-step": "synthesis",
    "x-majordomo-user-id": "u-1",
    "x-majordomo-session-id": "s-1",
    "x-majordomo-key": "mdm_sk_test",
}
ANSWER = "sim answer to: What is it?"
"""The sim's text once the tool result is in: it echoes the last user prompt."""
EXPECTED_ATTRS = {
    "majordomo.feature": "research",
    "majordomo.step": "synthesis",
    "majordomo.user_id": "u-1",
    "majordomo.session_id": "s-1",
    "user.id": "u-1",
    "session.id": "s-1",
}


def lookup(q: str) -> str:
    """Look something up."""
    return "42"


def make_model(provider: str, base_url: str) -> Any:
    if provider == "openai":
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        return OpenAIChatModel("gpt-4o", provider=OpenAIProvider(base_url=f"{base_url}/v1", api_key="k"))
    if provider == "anthropic":
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        return AnthropicModel("claude-sonnet-4-6", provider=AnthropicProvider(base_url=base_url, api_key="k"))
    from pydantic_ai.models.google import GoogleModel
    from pydantic_ai.providers.google import GoogleProvider

    return GoogleModel("gemini-2.0-flash", provider=GoogleProvider(api_key="k", base_url=base_url))


def make_agent(model: Any) -> Agent[None, str]:
    return Agent(model, tools=[lookup], name="researcher")


async def _drain(_: RunContext[Any], events: AsyncIterable[Any]) -> None:
    async for _event in events:
        pass


async def run_agent(agent: Agent[None, str], prompt: str = "What is it?", *, stream: bool = False) -> str:
    result = await agent.run(prompt, event_stream_handler=_drain if stream else None)
    return result.output


def span_tree(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> list[tuple[str, str | None]]:
    """(name, parent name) in start order: the run's shape as one comparable value."""
    by_id = {s.context.span_id: s for s in spans}
    ordered = sorted(spans, key=lambda s: s.start_time or 0)
    return [(s.name, by_id[s.parent.span_id].name if s.parent and s.parent.span_id in by_id else None) for s in ordered]


def majordomo_attrs(span: ReadableSpan) -> dict[str, Any]:
    return {
        k: v for k, v in (span.attributes or {}).items() if k.startswith("majordomo.") or k in ("user.id", "session.id")
    }


def parse_traceparent(value: str) -> tuple[int, int]:
    _version, trace_id, span_id, _flags = value.split("-")
    return int(trace_id, 16), int(span_id, 16)


def header_set(request: RecordedRequest, keep: tuple[str, ...] = ("x-majordomo-",)) -> dict[str, Any]:
    """The headers whose lower-cased name starts with one of `keep`, as name -> value; a name sent more
    than once maps to the list of its values, so a duplicate never compares equal to a single value."""
    values: dict[str, list[str]] = {}
    for name, value in request.headers:
        if name.lower().startswith(keep):
            values.setdefault(name.lower(), []).append(value)
    return {name: vs[0] if len(vs) == 1 else vs for name, vs in values.items()}


def majordomo_headers(server: SimServer) -> list[dict[str, Any]]:
    """Per recorded request, in order: exactly the X-Majordomo-* headers it carried."""
    return [header_set(r) for r in server.requests]
