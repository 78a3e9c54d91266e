"""Per-user tracking: tag each request with the end user, then ask the database what each user cost.

Guide section "Per-User Tracking". Two ways: `build_extra_headers(user_id=...)` per call, as in the guide,
or `majordomo_otel.tags(user_id=...)` around the work, which also tags your traces after `instrument()`.
Then: `SELECT raw_metadata->>'User-Id', SUM(total_cost) ...` (examples/queries.sql).
"""

import asyncio

from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModelSettings

import majordomo_otel
from majordomo_otel.pydantic_ai import build_extra_headers, create_model


async def answer_with_headers(agent: Agent, user_id: str, question: str) -> str:
    """The guide's way: the user id in this call's extra_headers."""
    headers = build_extra_headers(feature="document-qa", user_id=user_id)
    result = await agent.run(question, model_settings=OpenAIChatModelSettings(extra_headers=headers))
    return result.output


async def answer_with_tags(agent: Agent, user_id: str, question: str) -> str:
    """With tags: everything inside (model requests and spans) carries the user."""
    with majordomo_otel.tags(feature="document-qa", user_id=user_id, session_id=f"{user_id}-session"):
        return (await agent.run(question)).output


async def main() -> None:
    majordomo_otel.instrument()
    agent = Agent(model=create_model("openai", "gpt-4o-mini"), system_prompt="Answer from the documents.")
    print(await answer_with_headers(agent, "alice", "What does clause 4 say?"))
    # Concurrent users: each task sees only its own tags.
    answers = await asyncio.gather(
        answer_with_tags(agent, "bob", "Summarise the contract."),
        answer_with_tags(agent, "carol", "Who signed it?"),
    )
    print(answers)


if __name__ == "__main__":
    import _offline

    with _offline.gateway("openai"):
        asyncio.run(main())
