"""Synthetic Gemini generateContent / streamGenerateContent replies.

SSE with "\r\n\r\n" for `?alt=sse`, a JSON array otherwise; every chunk carries a cumulative `usageMetadata`
snapshot; thoughts are counted beside candidates, as Gemini does."""

from __future__ import annotations

from typing import Any

from ._controls import Controls
from ._plan import Conversation, Plan, make_plan
from ._reply import JSON, Reply, dumps, sse_event, sse_reply

GEMINI_JSON = "application/json; charset=UTF-8"
_SEP = "\r\n\r\n"


def _conversation(model: str, body: dict[str, Any]) -> Conversation:
    contents = [c for c in body.get("contents") or () if isinstance(c, dict)]
    user_texts = [
        " ".join(p["text"] for p in c.get("parts") or () if isinstance(p, dict) and isinstance(p.get("text"), str))
        for c in contents
        if c.get("role", "user") == "user"
    ]
    tools: list[tuple[str, dict[str, Any]]] = []
    for tool in body.get("tools") or ():
        for decl in (tool or {}).get("functionDeclarations") or ():
            schema = (
                decl.get("parametersJsonSchema") or decl.get("parameters_json_schema") or decl.get("parameters") or {}
            )
            tools.append((decl["name"], schema))
    return Conversation(
        model=model,
        tools=tools,
        has_tool_result=any(
            isinstance(p, dict) and "functionResponse" in p for c in contents for p in c.get("parts") or ()
        ),
        last_user_text=next((t for t in reversed(user_texts) if t), ""),
    )


def _usage(plan: Plan, *, with_candidates: bool) -> dict[str, Any]:
    usage = plan.usage()
    prompt = usage.input_tokens
    out: dict[str, Any] = {"promptTokenCount": prompt}
    total = prompt
    if with_candidates:
        out["candidatesTokenCount"] = plan.output_tokens
        total += plan.output_tokens + plan.reasoning_tokens
    out["totalTokenCount"] = total
    if plan.cached_tokens:
        out["cachedContentTokenCount"] = plan.cached_tokens
    out["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if plan.cached_tokens:
        out["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": plan.cached_tokens}]
    if with_candidates and plan.reasoning_tokens:
        out["thoughtsTokenCount"] = plan.reasoning_tokens
    return out


def _parts(plan: Plan) -> list[list[dict[str, Any]]]:
    """The content parts of each chunk (one chunk when not streaming)."""
    call = plan.tool_call
    if call is not None:
        return [[{"functionCall": {"name": call.name, "args": call.arguments}}]]
    return [[{"text": piece}] for piece in plan.text_pieces]


def generate(model: str, raw: bytes, body: dict[str, Any], controls: Controls, *, stream: bool, sse: bool) -> Reply:
    plan = make_plan(_conversation(model, body), raw, controls)
    usage = plan.usage()

    def chunk(parts: list[dict[str, Any]], *, last: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if last:
            candidate["finishReason"] = "STOP"
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": _usage(plan, with_candidates=last),
            "modelVersion": model,
            "responseId": plan.ident,
        }

    chunk_parts = _parts(plan)
    if not stream:
        merged = [{"text": plan.text}] if plan.tool_call is None else chunk_parts[0]
        body_bytes = dumps(chunk(merged, last=True)).encode()
        return Reply(200, {"Content-Type": GEMINI_JSON}, (body_bytes,), usage=usage)
    chunks = [chunk(p, last=n == len(chunk_parts) - 1) for n, p in enumerate(chunk_parts)]
    if sse:
        return sse_reply([sse_event(c, sep=_SEP) for c in chunks], usage=usage, content_type="text/event-stream")
    pieces = [("[" if n == 0 else ",\r\n") + dumps(c) for n, c in enumerate(chunks)]
    pieces[-1] += "]"
    return Reply(200, {"Content-Type": GEMINI_JSON}, tuple(p.encode() for p in pieces), streamed=True, usage=usage)


__all__ = ["GEMINI_JSON", "JSON", "generate"]
