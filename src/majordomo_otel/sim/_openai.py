"""Synthetic OpenAI replies: chat completions (also Gemini's OpenAI-compatible endpoint and the
OpenAI-compatible presets), Responses, embeddings, legacy completions, moderations and models. Shapes
follow what api.openai.com sends today (see the recorded fixtures)."""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from collections.abc import Mapping
from typing import Any

from ._controls import Controls
from ._plan import EMBEDDING_DIMS, Conversation, Plan, count_input_tokens, embedding_vector, make_plan
from ._recording import SimUsage
from ._reply import Reply, error_reply, json_reply, sse_event, sse_reply

_DONE = b"data: [DONE]\n\n"


def content_text(content: Any) -> str:
    """Text of an OpenAI message content: a string, or a list of parts with `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


# --- chat completions -----------------------------------------------------------------------------


def _chat_conversation(body: dict[str, Any]) -> Conversation:
    messages = body.get("messages") or []
    tools = [
        (t["function"]["name"], t["function"].get("parameters") or {})
        for t in body.get("tools") or ()
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    last_user: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    return Conversation(
        model=str(body.get("model", "")),
        tools=tools,
        has_tool_result=any(m.get("role") == "tool" for m in messages),
        last_user_text=content_text(last_user.get("content")),
    )


def _chat_usage(plan: Plan, *, compat: bool) -> dict[str, Any]:
    usage = plan.usage()
    prompt, completion = usage.input_tokens, usage.output_tokens
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if compat:
        return out
    prompt_details: dict[str, Any] = {"cached_tokens": plan.cached_tokens, "audio_tokens": 0}
    if plan.cache_write_tokens:
        prompt_details["cache_write_tokens"] = plan.cache_write_tokens
    out["prompt_tokens_details"] = prompt_details
    out["completion_tokens_details"] = {
        "reasoning_tokens": plan.reasoning_tokens,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    return out


def _compat_usage(plan: Plan) -> SimUsage:
    """Gemini's OpenAI-compatible endpoint reports no cache or reasoning details."""
    usage = plan.usage()
    return SimUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)


def chat(raw: bytes, body: dict[str, Any], controls: Controls, *, compat: bool = False) -> Reply:
    plan = make_plan(_chat_conversation(body), raw, controls)
    model = str(body.get("model", ""))
    created = int(time.time())
    ident = f"chatcmpl-{plan.ident}"
    usage = _compat_usage(plan) if compat else plan.usage()
    call = plan.tool_call
    if not body.get("stream"):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": plan.text,
            "refusal": None,
            "annotations": [],
        }
        if call is not None:
            message["tool_calls"] = [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json},
                }
            ]
        obj = {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if call else "stop",
                }
            ],
            "usage": _chat_usage(plan, compat=compat),
            "service_tier": "default",
            "system_fingerprint": None,
        }
        return json_reply(obj, usage=usage)

    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    # Providers that report usage unasked (Mistral) put it on the last content chunk, not a chunk of its own.
    unasked = controls.always_usage and not include_usage
    base: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": None,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            obj["usage"] = None
        elif unasked and finish is not None:
            obj["usage"] = _chat_usage(plan, compat=compat)
        return sse_event(obj)

    if call is not None:
        first = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
            ],
            "refusal": None,
        }
        events = [chunk(first)]
        events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in plan.arg_pieces]
        events.append(chunk({}, "tool_calls"))
    else:
        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        events += [chunk({"content": p}) for p in plan.text_pieces]
        events.append(chunk({}, "stop"))
    if include_usage:
        events.append(sse_event({**base, "choices": [], "usage": _chat_usage(plan, compat=compat)}))
    events.append(_DONE)
    return sse_reply(events, usage=usage if include_usage or unasked else None)


# --- Responses API --------------------------------------------------------------------------------


def _responses_conversation(body: dict[str, Any]) -> Conversation:
    items = body.get("input")
    tools = [
        (t["name"], t.get("parameters") or {})
        for t in body.get("tools") or ()
        if isinstance(t, dict) and t.get("type") == "function" and "name" in t
    ]
    if isinstance(items, str):
        return Conversation(model=str(body.get("model", "")), tools=tools, last_user_text=items)
    items = items if isinstance(items, list) else []
    last_user = next((i for i in reversed(items) if isinstance(i, dict) and i.get("role") == "user"), {})
    return Conversation(
        model=str(body.get("model", "")),
        tools=tools,
        has_tool_result=any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in items),
        last_user_text=content_text(last_user.get("content")),
    )


def _responses_usage(plan: Plan) -> dict[str, Any]:
    usage = plan.usage()
    details: dict[str, Any] = {"cached_tokens": plan.cached_tokens}
    if plan.cache_write_tokens:
        details["cache_write_tokens"] = plan.cache_write_tokens
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": details,
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": plan.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def _output_item(plan: Plan, *, done: bool) -> dict[str, Any]:
    status = "completed" if done else "in_progress"
    call = plan.tool_call
    if call is not None:
        return {
            "id": f"fc_{plan.ident}",
            "type": "function_call",
            "status": status,
            "arguments": call.arguments_json if done else "",
            "call_id": call.call_id,
            "name": call.name,
        }
    content: list[dict[str, Any]] = (
        [{"type": "output_text", "annotations": [], "logprobs": [], "text": plan.text}] if done else []
    )
    return {
        "id": f"msg_{plan.ident}",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def responses(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
    plan = make_plan(_responses_conversation(body), raw, controls)
    created = int(time.time())

    def response(*, done: bool) -> dict[str, Any]:
        return {
            "id": f"resp_{plan.ident}",
            "object": "response",
            "created_at": created,
            "status": "completed" if done else "in_progress",
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": str(body.get("model", "")),
            "output": [_output_item(plan, done=True)] if done else [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": _responses_usage(plan) if done else None,
            "user": None,
            "metadata": body.get("metadata") or {},
        }

    if not body.get("stream"):
        return json_reply(response(done=True), usage=plan.usage())

    item_id = _output_item(plan, done=False)["id"]
    payloads: list[dict[str, Any]] = [
        {"type": "response.created", "response": response(done=False)},
        {"type": "response.in_progress", "response": response(done=False)},
        {"type": "response.output_item.added", "output_index": 0, "item": _output_item(plan, done=False)},
    ]
    at = {"item_id": item_id, "output_index": 0}
    call = plan.tool_call
    if call is not None:
        payloads += [{"type": "response.function_call_arguments.delta", **at, "delta": p} for p in plan.arg_pieces]
        payloads.append({"type": "response.function_call_arguments.done", **at, "arguments": call.arguments_json})
    else:
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        payloads.append({"type": "response.content_part.added", **at, "content_index": 0, "part": part})
        payloads += [
            {"type": "response.output_text.delta", **at, "content_index": 0, "delta": p, "logprobs": []}
            for p in plan.text_pieces
        ]
        payloads.append(
            {"type": "response.output_text.done", **at, "content_index": 0, "text": plan.text, "logprobs": []}
        )
        payloads.append(
            {
                "type": "response.content_part.done",
                **at,
                "content_index": 0,
                "part": {**part, "text": plan.text},
            }
        )
    payloads.append({"type": "response.output_item.done", "output_index": 0, "item": _output_item(plan, done=True)})
    payloads.append({"type": "response.completed", "response": response(done=True)})
    events = [sse_event({**p, "sequence_number": n}, event=p["type"]) for n, p in enumerate(payloads)]
    return sse_reply(events, usage=plan.usage())


# --- embeddings and legacy completions ------------------------------------------------------------


def embeddings(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
    inputs = body.get("input")
    if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
        inputs = [inputs]
    inputs = inputs if isinstance(inputs, list) else [inputs]
    dims = int(body.get("dimensions") or EMBEDDING_DIMS)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index in range(len(inputs)):
        vector = embedding_vector(index, dims)
        embedding: Any = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = count_input_tokens(raw)
    obj = {
        "object": "list",
        "data": data,
        "model": str(body.get("model", "")),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return json_reply(obj, usage=SimUsage(input_tokens=tokens, output_tokens=0))


def completions(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
    prompt = body.get("prompt")
    text = prompt if isinstance(prompt, str) else content_text(prompt) if isinstance(prompt, list) else ""
    plan = make_plan(Conversation(model=str(body.get("model", "")), last_user_text=text), raw, controls)
    usage = plan.usage()
    usage_obj = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }
    base = {
        "id": f"cmpl-{plan.ident}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": str(body.get("model", "")),
        "system_fingerprint": None,
    }
    if not body.get("stream"):
        choice = {"text": plan.text, "index": 0, "logprobs": None, "finish_reason": "stop"}
        return json_reply({**base, "choices": [choice], "usage": usage_obj}, usage=usage)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    events = []
    for n, piece in enumerate(plan.text_pieces):
        finish = "stop" if n == len(plan.text_pieces) - 1 else None
        obj: dict[str, Any] = {
            **base,
            "choices": [{"text": piece, "index": 0, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            obj["usage"] = None
        events.append(sse_event(obj))
    if include_usage:
        events.append(sse_event({**base, "choices": [], "usage": usage_obj}))
    events.append(_DONE)
    return sse_reply(events, usage=usage if include_usage else None)


# --- models and moderations (free: no usage) -----------------------------------------------------

#: What `GET /v1/models` lists (the real API lists every model the key may use).
MODEL_IDS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini", "text-embedding-3-small", "omni-moderation-latest")


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1715367049, "owned_by": "system"}


def models(query: Mapping[str, str]) -> Reply:
    """`GET /v1/models`: the whole list in one page (the real API takes no paging query)."""
    return json_reply({"object": "list", "data": [_model(m) for m in MODEL_IDS]})


def model(model_id: str) -> Reply:
    """`GET /v1/models/{model}`: that model, or the real API's 404."""
    if model_id not in MODEL_IDS:
        return error_reply("openai", 404, f"The model '{model_id}' does not exist")
    return json_reply(_model(model_id))


#: The moderation categories, and the input types each is applied to when the input has images.
_MODERATION_CATEGORIES: dict[str, tuple[str, ...]] = {
    "harassment": ("text",),
    "harassment/threatening": ("text",),
    "hate": ("text",),
    "hate/threatening": ("text",),
    "illicit": ("text",),
    "illicit/violent": ("text",),
    "self-harm": ("text", "image"),
    "self-harm/instructions": ("text", "image"),
    "self-harm/intent": ("text", "image"),
    "sexual": ("text", "image"),
    "sexual/minors": ("text",),
    "violence": ("text", "image"),
    "violence/graphic": ("text", "image"),
}


def moderations(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
    """`POST /v1/moderations`: one unflagged result per text input (one for a multi-modal input list)."""
    inputs = body.get("input")
    if inputs is None or inputs == "" or inputs == []:
        return error_reply("openai", 400, "'input' is a required property")
    multimodal = isinstance(inputs, list) and any(isinstance(i, dict) for i in inputs)
    has_image = multimodal and any(isinstance(i, dict) and i.get("type") == "image_url" for i in inputs)
    count = 1 if multimodal or isinstance(inputs, str) else len(inputs)
    applied = {c: list(types if has_image else types[:1]) for c, types in _MODERATION_CATEGORIES.items()}
    result = {
        "flagged": False,
        "categories": dict.fromkeys(_MODERATION_CATEGORIES, False),
        "category_scores": {c: round(1e-6 * (n + 1), 8) for n, c in enumerate(_MODERATION_CATEGORIES)},
        "category_applied_input_types": applied,
    }
    ident = hashlib.blake2b(raw, digest_size=12).hexdigest()
    obj = {
        "id": f"modr-{ident}",
        "model": str(body.get("model") or "omni-moderation-latest"),
        "results": [result] * count,
    }
    return json_reply(obj)
