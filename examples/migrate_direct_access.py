"""Migrating from direct provider access: the same agent before (straight to Anthropic) and after (via the gateway).

Guide section "Migration Guide / From Direct Provider Access". What changes: the model comes from
`create_model()` (base URL = the gateway) and the model settings gain `extra_headers`. What stays: the
agent, its prompts and every model setting. Only the "after" request is recorded.
"""

import asyncio
import os

from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModel, AnthropicModelSettings
from pydantic_ai.providers.anthropic import AnthropicProvider

from majordomo_otel.pydantic_ai import build_extra_headers, create_model


async def before(provider_url: str | None = None) -> str:
    """Before: the provider directly (`provider_url` None means api.anthropic.com)."""
    provider = AnthropicProvider(api_key=os.environ["ANTHROPIC_API_KEY"], base_url=provider_url)
    model = AnthropicModel("claude-sonnet-4-6", provider=provider)
    agent = Agent(model=model, system_prompt="...")
    result = await agent.run(
        "Hello!",
        model_settings=AnthropicModelSettings(
            max_tokens=4096,
            anthropic_thinking={"type": "enabled", "budget_tokens": 10000},
        ),
    )
    return result.output


async def after() -> str:
    """After: the same agent and settings, through the gateway, plus the tracking headers."""
    model = create_model("anthropic", "claude-sonnet-4-6")
    agent = Agent(model=model, system_prompt="...")
    majordomo_headers = build_extra_headers(feature="my-agent")
    result = await agent.run(
        "Hello!",
        model_settings=AnthropicModelSettings(
            max_tokens=4096,
            anthropic_thinking={"type": "enabled", "budget_tokens": 10000},
            extra_headers=majordomo_headers,
        ),
    )
    return result.output


if __name__ == "__main__":
    import _offline

    with _offline.gateway("anthropic"):
        print("before:", asyncio.run(before(_offline.provider_url())))
        print("after: ", asyncio.run(after()))
