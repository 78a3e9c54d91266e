"""A multi-step workflow: one feature, one step name per stage, so costs split by step.

Guide section "Multi-Step Workflows". The guide passes `step=` to each call's headers; with
`majordomo_otel.tags()` the outer block names the feature and user once and each stage adds its step.
"""

import asyncio

from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModelSettings

import majordomo_otel
from majordomo_otel.pydantic_ai import build_extra_headers, create_model


def search(query: str) -> list[str]:
    """Search and return result titles."""
    return [f"{query}: overview", f"{query}: latest findings"]


def agents() -> tuple[Agent, Agent]:
    query_agent = Agent(
        create_model("anthropic"), system_prompt="Write three search queries for the topic.", tools=[search]
    )
    synthesis_agent = Agent(create_model("openai", "gpt-4o-mini"), system_prompt="Write a brief from the results.")
    return query_agent, synthesis_agent


async def research_with_headers(topic: str) -> str:
    """The guide's way: the step in each call's extra_headers."""
    query_agent, synthesis_agent = agents()
    queries = await query_agent.run(
        topic,
        model_settings=AnthropicModelSettings(extra_headers=build_extra_headers(feature="research", step="query-gen")),
    )
    result = await synthesis_agent.run(
        queries.output,
        model_settings={"extra_headers": build_extra_headers(feature="research", step="synthesis")},
    )
    return result.output


async def research_with_tags(topic: str, user_id: str) -> str:
    """With tags: feature and user once, a step per stage; the synthesis is streamed."""
    query_agent, synthesis_agent = agents()
    with majordomo_otel.tags(feature="research", user_id=user_id):
        with majordomo_otel.tags(step="query-gen"):
            queries = await query_agent.run(topic)
        with majordomo_otel.tags(step="synthesis"):
            async with synthesis_agent.run_stream(queries.output) as stream:
                return await stream.get_output()


async def main() -> None:
    majordomo_otel.instrument()
    print(await research_with_headers("heat pumps"))
    print(await research_with_tags("grid storage", user_id="user-123"))


if __name__ == "__main__":
    import _offline

    with _offline.gateway("anthropic", "openai"):
        asyncio.run(main())
