"""Quick start: a Pydantic AI agent whose model is routed through the gateway, tagged with feature and step.

Guide section "Quick Start". Run: `python examples/quick_start.py` (offline without keys).
"""

import asyncio

from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModelSettings  # the guide's pydantic_ai.settings moved here

from majordomo_otel.pydantic_ai import build_extra_headers, create_model


async def main() -> None:
    # Create model routed through the gateway
    model = create_model("anthropic")

    # Build Majordomo headers for tracking
    headers = build_extra_headers(feature="my-agent", step="main")

    # Create your agent as usual
    agent = Agent(model=model, system_prompt="You are a helpful assistant.")

    # Run with headers in model settings
    result = await agent.run("Hello!", model_settings=AnthropicModelSettings(extra_headers=headers))
    print(result.output)


if __name__ == "__main__":
    import _offline

    with _offline.gateway("anthropic"):
        asyncio.run(main())
