"""Keeping your model settings: thinking, prompt caching, parallel tool calls and timeouts all pass through.

Guide section "Keeping Your Model Settings". The gateway forwards the request body unchanged, so every
provider setting works as before; `extra_headers` only adds the tracking headers.
"""

import asyncio

from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModelSettings

from majordomo_otel.pydantic_ai import build_extra_headers, create_model


def load_dataset(name: str) -> list[float]:
    """Load a named dataset."""
    return [1.0, 2.5, 4.0]


async def main() -> None:
    model = create_model("anthropic", "claude-opus-4-1")
    agent = Agent(model=model, system_prompt="You are a research assistant.", tools=[load_dataset])
    settings = AnthropicModelSettings(
        max_tokens=64000,
        # Extended thinking
        anthropic_thinking={"type": "enabled", "budget_tokens": 32000},
        # Prompt caching
        anthropic_cache_instructions=True,
        anthropic_cache_tool_definitions="1h",
        anthropic_cache_messages=True,
        # Parallel tool calls
        parallel_tool_calls=True,
        # Timeouts (seconds)
        timeout=10 * 60,
        # Majordomo tracking
        extra_headers=build_extra_headers(feature="research-agent", step="analysis", user_id="user-123"),
    )
    result = await agent.run("Analyze this data...", model_settings=settings)
    print(result.output)


if __name__ == "__main__":
    import _offline

    with _offline.gateway("anthropic"):
        asyncio.run(main())
