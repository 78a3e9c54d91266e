"""Pydantic AI agents run against the sim: one tool call, then text; the usage Pydantic AI reports is the usage
the sim sent, for every provider, streaming and not."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent, RunContext
from pydantic_ai.messages import AgentStreamEvent
from pydantic_ai.models import Model
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.google import GoogleModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.google import GoogleProvider
from pydantic_ai.providers.openai import OpenAIProvider

from majordomo_otel.sim import SimServer, SimUsage

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

PROMPT = "What is the capital of France?"
ANSWER = "sim answer to: What is the capital of France?"
SIM_HEADERS = {"X-Sim-Cached-Tokens": "7", "X-Sim-Reasoning-Tokens": "3"}

MODELS: dict[str, Callable[[str], Model]] = {
    "openai-chat": lambda url: OpenAIChatModel(
        "gpt-4o-mini", provider=OpenAIProvider(base_url=url + "/v1", api_key="x")
    ),
    "openai-responses": lambda url: OpenAIResponsesModel(
        "gpt-4o-mini", provider=OpenAIProvider(base_url=url + "/v1", api_key="x")
    ),
    "anthropic": lambda url: AnthropicModel("claude-haiku-4-5", provider=AnthropicProvider(base_url=url, api_key="x")),
    "google": lambda url: GoogleModel("gemini-2.5-flash", provider=GoogleProvider(base_url=url, api_key="x")),
    "gemini-openai-compat": lambda url: OpenAIChatModel(
        "gemini-2.5-flash", provider=OpenAIProvider(base_url=url + "/v1beta/openai", api_key="x")
    ),
}


def agent_with_tool(model: Model, calls: list[str], output_type: Any = str) -> Agent[None, Any]:
    agent = Agent(model, output_type=output_type, model_settings={"extra_headers": SIM_HEADERS})

    @agent.tool_plain
    def get_capital(country: str) -> str:
        calls.append(country)
        return "Paris"

    return agent


def sim_total(sim: SimServer) -> dict[str, int]:
    usages = [r.usage for r in sim.requests]
    assert all(u is not None for u in usages)
    total = [u for u in usages if isinstance(u, SimUsage)]
    return {
        "input_tokens": sum(u.input_tokens for u in total),
        "output_tokens": sum(u.output_tokens for u in total),
        "cache_read_tokens": sum(u.cache_read_tokens for u in total),
        "requests": len(total),
        "tool_calls": 1,
    }


def reported(usage: Any) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "requests": usage.requests,
        "tool_calls": usage.tool_calls,
    }


def expected_cache_read(name: str) -> int:
    """Gemini's OpenAI-compatible endpoint reports no cache details, so nothing is read there."""
    return 0 if name == "gemini-openai-compat" else 7 * 2


@pytest.mark.parametrize("name", sorted(MODELS))
async def test_agent_run(sim: SimServer, name: str) -> None:
    calls: list[str] = []
    result = await agent_with_tool(MODELS[name](sim.url), calls).run(PROMPT)
    assert (result.output, calls, reported(result.usage)) == (ANSWER, ["a"], sim_total(sim))
    assert reported(result.usage)["cache_read_tokens"] == expected_cache_read(name)


@pytest.mark.parametrize("name", sorted(MODELS))
async def test_agent_run_stream(sim: SimServer, name: str) -> None:
    calls: list[str] = []
    async with agent_with_tool(MODELS[name](sim.url), calls).run_stream(PROMPT) as result:
        output = await result.get_output()
    assert (output, calls, reported(result.usage)) == (ANSWER, ["a"], sim_total(sim))


@pytest.mark.parametrize("name", sorted(MODELS))
async def test_agent_run_with_event_stream_handler(sim: SimServer, name: str) -> None:
    calls: list[str] = []
    kinds: list[str] = []

    async def handler(ctx: RunContext[None], events: AsyncIterable[AgentStreamEvent]) -> None:
        kinds.extend([event.event_kind async for event in events])

    result = await agent_with_tool(MODELS[name](sim.url), calls).run(PROMPT, event_stream_handler=handler)
    assert (result.output, calls, reported(result.usage)) == (ANSWER, ["a"], sim_total(sim))
    assert {"function_tool_call", "function_tool_result", "part_start", "part_delta"} <= set(kinds)


class City(BaseModel):
    name: str
    population: int


@pytest.mark.parametrize("name", sorted(MODELS))
async def test_structured_output_via_final_result_tool(sim: SimServer, name: str) -> None:
    calls: list[str] = []
    result = await agent_with_tool(MODELS[name](sim.url), calls, output_type=City).run(PROMPT)
    assert (result.output, calls, len(sim.requests)) == (City(name="a", population=1), ["a"], 2)
