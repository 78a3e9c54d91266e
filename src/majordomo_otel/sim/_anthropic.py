"""Synthetic Anthropic Messages replies, usage exactly as Anthropic reports it: `input_tokens` without
the cache counts, both cache fields always present, thinking inside `output_tokens`."""

from __future__ import annotations

from typing import Any

from ._controls import Controls
from ._plan import Conversation, Plan, count_input_tokens, make_plan
from ._recording import SimUsage
from ._reply import Reply, json_reply, sse_event, sse_reply


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or () if isinstance(b, dict)]


def _conversation(body: dict[str, Any]) -> Conversation:
    messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
    user_texts = [
        " ".join(b["text"] for b in _blocks(m.get("content")) if b.get("type") == "text")
        for m in messages
        if m.get("role") == "user"
    ]
    tools = [
        (t["name"], t.get("input_schema") or {})
        for t in body.get("tools") or ()
        if isinstance(t, dict) and "name" in t and "input_schema" in t
    ]
    return Conversation(
        model=str(body.get("model", "")),
        tools=tools,
        has_tool_result=any(
            b.get("type") == "tool_result"
            for m in messages
            if m.get("role") == "user"
            for b in _blocks(m.get("content"))
        ),
        last_user_text=next((t for t in reversed(user_texts) if t), ""),
    )


def _usage(plan: Plan, *, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": plan.input_tokens,
        "cache_creation_input_tokens": plan.cache_write_tokens,
        "cache_read_input_tokens": plan.cached_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": plan.cache_write_tokens,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def messages(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
    plan = make_plan(_conversation(body), raw, controls)
    output_tokens = plan.output_tokens + plan.reasoning_tokens
    call = plan.tool_call
    message: dict[str, Any] = {
        "id": f"msg_{plan.ident}",
        "type": "message",
        "role": "assistant",
        "model": str(body.get("model", "")),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }
    stop_reason = "tool_use" if call else "end_turn"
    tool_block = (
        {"type": "tool_use", "id": f"toolu_{plan.ident}", "name": call.name, "input": call.arguments} if call else None
    )
    if not body.get("stream"):
        content = [tool_block] if tool_block else [{"type": "text", "text": plan.text}]
        obj = {
            **message,
            "content": content,
            "stop_reason": stop_reason,
            "usage": _usage(plan, output_tokens=output_tokens),
        }
        return json_reply(obj, usage=plan.usage())

    events = [
        sse_event(
            {"type": "message_start", "message": {**message, "usage": _usage(plan, output_tokens=1)}},
            event="message_start",
        )
    ]
    if tool_block:
        start_block = {**tool_block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in ("", *plan.arg_pieces)]
    else:
        start_block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in plan.text_pieces]
    events.append(
        sse_event(
            {"type": "content_block_start", "index": 0, "content_block": start_block},
            event="content_block_start",
        )
    )
    events.append(sse_event({"type": "ping"}, event="ping"))
    events += [
        sse_event({"type": "content_block_delta", "index": 0, "delta": d}, event="content_block_delta") for d in deltas
    ]
    events.append(sse_event({"type": "content_block_stop", "index": 0}, event="content_block_stop"))
    final_usage = {
        "input_tokens": plan.input_tokens,
        "cache_creation_input_tokens": plan.cache_write_tokens,
        "cache_read_input_tokens": plan.cached_tokens,
        "output_tokens": output_tokens,
    }
    events.append(
        sse_event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": final_usage,
            },
            event="message_delta",
        )
    )
    events.append(sse_event({"type": "message_stop"}, event="message_stop"))
    return sse_reply(events, usage=plan.usage())


def count_tokens(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
    tokens = count_input_tokens(raw)
    return json_reply({"input_tokens": tokens}, usage=SimUsage(input_tokens=tokens, output_tokens=0))
