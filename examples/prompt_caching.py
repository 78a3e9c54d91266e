"""Prompt caching: cache the instructions and tools, then see cache reads priced at the cache rate.

Guide section "Prompt Caching". The gateway records `cached_tokens` (reads) and `cache_creation_tokens`
(writes) per request, both included in `input_tokens`, and prices each at its own rate (genai-prices).
"""

import asyncio

from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModelSettings

from majordomo_otel.pydantic_ai import build_extra_headers, create_model

POLICY = "You answer questions about our travel policy. " + "Policy clause: economy class under 6 hours. " * 200


async def main() -> None:
    agent = Agent(model=create_model("anthropic", "claude-sonnet-4-6"), system_prompt=POLICY)
    for question in ("Can I fly business to Paris?", "And to Tokyo?"):
        settings = AnthropicModelSettings(
            anthropic_cache_instructions=True,
            anthropic_cache_messages=True,
            extra_headers=build_extra_headers(feature="policy-qa", step="answer", session_id="trip-42"),
        )
        result = await agent.run(question, model_settings=settings)
        print(f"{question} → {result.output}")


if __name__ == "__main__":
    import _offline

    with _offline.gateway("anthropic"):
        asyncio.run(main())
