"""The Node SDKs people use (the openai package, the Vercel AI SDK), run by `node` against a real gateway in
front of the stand-in: every call succeeds, leaves one row, streamed chat is priced, and the client sees
no chunk it did not ask for. The scripts live in tests/node (installed by `npm ci --prefix tests/node`, as
.ci/run does); without them, or without node, these tests fail: they never skip."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from gateway_harness import Harness

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
#: Node 22 from the registry's `node` package (openai and ai need 22; distributions ship older ones).
NODE = NODE_DIR / "node_modules" / ".bin" / "node"
INSTALL = "npm ci --prefix tests/node"
PROMPT = "What is the capital of France?"
ANSWER = "sim answer to: What is the capital of France?"
MODEL = "gpt-4o-mini"
SCRIPT_TIMEOUT_S = 60


async def node(gw: Harness, script: str, mode: str) -> Any:
    """Run `tests/node/<script> <mode>` against the gateway; its stdout's JSON."""
    if not NODE.exists():
        pytest.fail(f"the Node SDKs are not installed ({NODE} is missing): run `{INSTALL}`")
    env = {"PATH": os.environ.get("PATH", ""), "GATEWAY_URL": gw.url, "MAJORDOMO_KEY": gw.key}
    process = await asyncio.create_subprocess_exec(
        str(NODE),
        str(NODE_DIR / script),
        mode,
        PROMPT,
        MODEL,
        cwd=NODE_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), SCRIPT_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"{script} {mode} did not finish within {SCRIPT_TIMEOUT_S} s")
    if process.returncode != 0:
        pytest.fail(f"{script} {mode} exited {process.returncode}: {stderr.decode(errors='replace')[-2000:]}")
    return json.loads(stdout)


async def only_row(gw: Harness) -> tuple[Any, ...]:
    """Every row (one is expected): what it was, how it ended, whether it cost something."""
    records = await gw.records(expected=1)
    fields = ("provider", "operation", "streamed", "status_code", "usage_status", "pricing_status", "error_message")
    return tuple((*(getattr(r, f) for f in fields), (r.total_cost or 0) > 0) for r in records)


def priced(operation: str, *, streamed: bool) -> tuple[Any, ...]:
    return (("openai", operation, streamed, 200, "reported", "priced", None, True),)


# -- the openai package ----------------------------------------------------------------------------------------


async def test_openai_node_chat(gw: Harness) -> None:
    result = await node(gw, "openai_sdk.mjs", "chat")
    usage = gw.sim.requests[0].usage
    assert usage is not None
    assert ((result["text"], result["usage"]["prompt_tokens"]), await only_row(gw)) == (
        (ANSWER, usage.input_tokens),
        priced("chat_completions", streamed=False),
    )


async def test_openai_node_stream_is_priced_and_the_client_gets_no_usage_chunk(gw: Harness) -> None:
    result = await node(gw, "openai_sdk.mjs", "stream")
    chunks = result["chunks"]
    [sent] = gw.sim.requests
    assert (
        result["text"],
        [c["choices"] for c in chunks],
        [c["usage"] for c in chunks],
        (sent.json or {}).get("stream_options"),
        await only_row(gw),
    ) == (
        ANSWER,
        [1] * len(chunks),
        [None] * len(chunks),
        {"include_usage": True},  # asked upstream by the gateway, and hidden again
        priced("chat_completions", streamed=True),
    )


async def test_openai_node_models_list(gw: Harness) -> None:
    result = await node(gw, "openai_sdk.mjs", "models")
    assert ("gpt-4o-mini" in result["ids"], await only_row(gw)) == (
        True,
        (("openai", "models", False, 200, "missing", "not_billable", None, False),),
    )


# -- the Vercel AI SDK -----------------------------------------------------------------------------------------


async def test_ai_sdk_generate_text(gw: Harness) -> None:
    result = await node(gw, "ai_sdk.mjs", "generate")
    usage = gw.sim.requests[0].usage
    assert usage is not None
    assert ((result["text"], result["usage"]["inputTokens"]), await only_row(gw)) == (
        (ANSWER, usage.input_tokens),
        priced("chat_completions", streamed=False),
    )


async def test_ai_sdk_stream_text(gw: Harness) -> None:
    result = await node(gw, "ai_sdk.mjs", "stream")
    usage = gw.sim.requests[0].usage
    assert usage is not None
    assert ((result["text"], result["usage"]["outputTokens"]), await only_row(gw)) == (
        (ANSWER, usage.output_tokens),
        priced("chat_completions", streamed=True),
    )


async def test_ai_sdk_default_model_streams_the_responses_api(gw: Harness) -> None:
    result = await node(gw, "ai_sdk.mjs", "responses")
    usage = gw.sim.requests[0].usage
    assert usage is not None
    assert ((result["text"], result["usage"]["outputTokens"]), await only_row(gw)) == (
        (ANSWER, usage.output_tokens),
        priced("responses", streamed=True),
    )
