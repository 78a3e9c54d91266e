"""Extended thinking with interleaved thinking: the beta header and the Majordomo headers side by side.

Guide section "Extended Thinking". Thinking tokens are billed as output: the gateway's `output_tokens`
include them and `reasoning_tokens` counts them where the provider reports them apart.
"""

import asyncio

from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModelSettings

from majordomo_otel.pydantic_ai import build_extra_headers, create_model


async def main() -> None:
    model = create_model("anthropic", "claude-opus-4-1")
    agent = Agent(model=model, system_prompt="Think step by step.")
    result = await agent.run(
        "Solve this complex problem...",
        model_settings=AnthropicModelSettings(
            max_tokens=64000,
            anthropic_thinking={"type": "enabled", "budget_tokens": 32000},
            extra_headers={
                "anthropic-beta": "interleaved-thinking-2025-05-14",
                **build_extra_headers(feature="reasoning"),
            },
        ),
    )
    print(result.output)


if __name__ == "__main__":
    import _offline

    with _offline.gateway("anthropic"):
        asyncio.run(main())
