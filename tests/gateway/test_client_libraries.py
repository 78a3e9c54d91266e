"""Client libraries people use, with their default settings, only the base URL pointed at the gateway:
every call succeeds, leaves one row, and streamed chat is priced although none of them asks for usage."""

from __future__ import annotations

import openai
import pytest
from gateway_harness import Harness

PROMPT = "What is the capital of France?"


def _row(record: object) -> tuple[object, ...]:
    r = record
    return (r.operation, r.status_code, r.streamed, r.usage_status, r.pricing_status, (r.total_cost or 0) > 0)  # type: ignore[attr-defined]


async def test_langchain_chat_openai_stream_is_priced(gw: Harness) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model="gpt-4o-mini",
        base_url=gw.url + "/v1",
        api_key="sk-test",
        default_headers=gw.headers(),  # type: ignore[arg-type]
    )
    text = "".join([str(chunk.content) async for chunk in llm.astream(PROMPT)])
    [record] = await gw.records(expected=1)
    assert (bool(text), _row(record)) == (True, ("chat_completions", 200, True, "reported", "priced", True))


async def test_langchain_chat_openai_invoke_is_priced(gw: Harness) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model="gpt-4o-mini",
        base_url=gw.url + "/v1",
        api_key="sk-test",
        default_headers=gw.headers(),  # type: ignore[arg-type]
    )
    reply = await llm.ainvoke(PROMPT)
    [record] = await gw.records(expected=1)
    assert (bool(reply.content), _row(record)) == (True, ("chat_completions", 200, False, "reported", "priced", True))


@pytest.mark.parametrize("streamed", [False, True])
async def test_openai_agents_sdk_chat_completions_model_is_priced(gw: Harness, streamed: bool) -> None:
    from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled

    set_tracing_disabled(True)  # the Agents SDK would export its own traces to OpenAI
    client = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="sk-test", default_headers=gw.headers())
    agent = Agent(name="a", instructions="be brief", model=OpenAIChatCompletionsModel("gpt-4o-mini", client))
    if streamed:
        run = Runner.run_streamed(agent, PROMPT)
        _ = [event async for event in run.stream_events()]
        output = run.final_output
    else:
        output = (await Runner.run(agent, PROMPT)).final_output
    [record] = await gw.records(expected=1)
    assert (bool(output), _row(record)) == (True, ("chat_completions", 200, streamed, "reported", "priced", True))


async def test_openai_agents_sdk_default_responses_model_is_priced(gw: Harness) -> None:
    from agents import Agent, OpenAIResponsesModel, Runner, set_tracing_disabled

    set_tracing_disabled(True)
    client = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="sk-test", default_headers=gw.headers())
    agent = Agent(name="a", instructions="be brief", model=OpenAIResponsesModel("gpt-4o-mini", client))
    run = Runner.run_streamed(agent, PROMPT)
    _ = [event async for event in run.stream_events()]
    [record] = await gw.records(expected=1)
    assert (bool(run.final_output), _row(record)) == (True, ("responses", 200, True, "reported", "priced", True))
