"""An application that knows nothing about OTel: it only tags its work (run under opentelemetry-instrument)."""

import asyncio
import os

from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

import majordomo_otel


def lookup(q: str) -> str:
    """Look something up."""
    return "42"


async def main() -> None:
    model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(base_url=os.environ["APP_BASE_URL"] + "/v1", api_key="k"))
    agent = Agent(model, tools=[lookup], name="researcher")
    with majordomo_otel.tags(feature="research", step="synthesis", user_id="u-1", session_id="s-1"):
        await agent.run("What is it?")


if __name__ == "__main__":
    asyncio.run(main())
