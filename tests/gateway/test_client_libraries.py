"""Client libraries people use, with their default settings, only the base URL pointed at the gateway
(LangChain, the OpenAI Agents SDK, LiteLLM as a client): every call succeeds, leaves one row, and streamed
chat is priced although none of them asks for usage, while the client sees no chunk it did not ask for."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from gateway_harness import Harness

PROMPT = "What is the capital of France?"
ANSWER = "sim answer to: What is the capital of France?"


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


# -- LiteLLM as a client (its SDK, not its proxy) -----------------------------------------------------------------

# LiteLLM provider → (model, the api_base path under the gateway, the row's operation)
LITELLM = {
    "openai": ("openai/gpt-4o-mini", "/v1", "chat_completions"),
    "anthropic": ("anthropic/claude-haiku-4-5", "", "messages"),
}


@pytest.fixture(scope="module")
def litellm() -> Any:
    """Imported once, with its bundled model prices (it would otherwise fetch them from the network)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

    return litellm


async def _litellm_call(litellm: Any, gw: Harness, provider: str, *, streamed: bool, sync: bool) -> list[Any]:
    """One `completion` (in a thread: it blocks) or `acompletion`; the response, or every chunk streamed."""
    model, base, _ = LITELLM[provider]
    kwargs = {
        "model": model,
        "api_base": gw.url + base,
        "api_key": "sk-test",
        "messages": [{"role": "user", "content": PROMPT}],
        "extra_headers": gw.headers(),
        "stream": streamed,
    }
    if sync:
        return await asyncio.to_thread(
            lambda: list(litellm.completion(**kwargs)) if streamed else [litellm.completion(**kwargs)]
        )
    result = await litellm.acompletion(**kwargs)
    return [c async for c in result] if streamed else [result]


def _litellm_text(responses: list[Any], *, streamed: bool) -> str:
    if streamed:
        return "".join(c.choices[0].delta.content or "" for c in responses if c.choices)
    return str(responses[0].choices[0].message.content)


@pytest.mark.parametrize("sync", [False, True], ids=["acompletion", "completion"])
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("provider", sorted(LITELLM))
async def test_litellm_call_leaves_one_priced_row(
    litellm: Any, gw: Harness, provider: str, streamed: bool, sync: bool
) -> None:
    responses = await _litellm_call(litellm, gw, provider, streamed=streamed, sync=sync)
    records = await gw.records(expected=1)
    operation = LITELLM[provider][2]
    assert (
        _litellm_text(responses, streamed=streamed),
        [(r.provider, *_row(r)) for r in records],
    ) == (ANSWER, [(provider, operation, 200, streamed, "reported", "priced", True)])


@pytest.mark.parametrize("sync", [False, True], ids=["acompletion", "completion"])
async def test_litellm_openai_stream_gets_no_usage_chunk_it_did_not_ask_for(
    litellm: Any, gw: Harness, sync: bool
) -> None:
    """The gateway asked upstream for usage (the sim saw `include_usage`); LiteLLM's client sees none of it."""
    chunks = await _litellm_call(litellm, gw, "openai", streamed=True, sync=sync)
    [sent] = gw.sim.requests
    assert (
        [bool(c.choices) for c in chunks],
        [getattr(c, "usage", None) for c in chunks],
        json.loads(sent.body)["stream_options"],
    ) == ([True] * len(chunks), [None] * len(chunks), {"include_usage": True})
