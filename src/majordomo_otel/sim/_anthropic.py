"""Synthetic Anthropic replies: Messages (usage exactly as Anthropic reports it: `input_tokens` without
the cache counts, both cache fields always present, thinking inside `output_tokens`), token counts,
models and Message Batches."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ._controls import NO_CONTROLS, Controls
from ._plan import Conversation, Plan, count_input_tokens, make_plan
from ._recording import SimUsage
from ._reply import Reply, dumps, error_reply, json_reply, sse_event, sse_reply


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


# --- models (free: no usage) ------------------------------------------------------------------------

#: What `GET /v1/models` lists, newest first as the real API orders it: (id, display name, release date).
MODELS = (
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29"),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-14"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22"),
)
_DEFAULT_LIMIT = 20
_MAX_LIMIT = 1000


def _model_info(model_id: str, display_name: str, released: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model_id,
        "display_name": display_name,
        "created_at": f"{released}T00:00:00Z",
        "lifecycle": "active",
        "deprecated_at": None,
        "retires_at": None,
        "max_input_tokens": 200000,
        "max_tokens": 64000,
    }


_MODEL_INFOS = tuple(_model_info(*m) for m in MODELS)


def models(query: Mapping[str, str]) -> Reply:
    """`GET /v1/models`: a page of `limit` models after `after_id` (or before `before_id`)."""
    return _page(list(_MODEL_INFOS), query)


def model(model_id: str) -> Reply:
    """`GET /v1/models/{model}`: by id or by alias (the id without its date), else the real API's 404."""
    for info in _MODEL_INFOS:
        if model_id in (info["id"], info["id"].rsplit("-", 1)[0]):
            return json_reply(info)
    return error_reply("anthropic", 404, f"model: {model_id}")


def _page(items: list[dict[str, Any]], query: Mapping[str, str]) -> Reply:
    """Anthropic's list page: `data`, `has_more`, `first_id`, `last_id`; cursors are item ids."""
    try:
        limit = int(query.get("limit") or _DEFAULT_LIMIT)
    except ValueError:
        return error_reply("anthropic", 400, "limit: Input should be a valid integer")
    if not 1 <= limit <= _MAX_LIMIT:
        return error_reply("anthropic", 400, f"limit: Input should be between 1 and {_MAX_LIMIT}")
    ids = [item["id"] for item in items]
    start, end = 0, len(items)
    if after := query.get("after_id"):
        start = ids.index(after) + 1 if after in ids else len(items)
    if before := query.get("before_id"):
        end = ids.index(before) if before in ids else 0
    window = items[start:end]
    page = window[-limit:] if before else window[:limit]
    return json_reply(
        {
            "data": page,
            "has_more": len(window) > limit,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    )


# --- message batches (stateful) ---------------------------------------------------------------------


def _timestamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Batch:
    id: str
    created_at: datetime
    requests: list[dict[str, Any]]
    status: str = "in_progress"  # in_progress → (canceling →) ended
    canceled: bool = False
    cancel_initiated_at: datetime | None = None
    ended_at: datetime | None = None

    def advance(self) -> None:
        """Processing is instant: by the time anyone looks again, the batch has ended."""
        if self.status != "ended":
            self.status, self.ended_at = "ended", datetime.now(UTC)

    def view(self, origin: str) -> dict[str, Any]:
        n = len(self.requests)
        ended = self.status == "ended"
        done = "canceled" if self.canceled else "succeeded"
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        counts[done if ended else "processing"] = n
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status,
            "request_counts": counts,
            "ended_at": _timestamp(self.ended_at) if self.ended_at else None,
            "created_at": _timestamp(self.created_at),
            "expires_at": _timestamp(self.created_at + timedelta(hours=24)),
            "archived_at": None,
            "cancel_initiated_at": _timestamp(self.cancel_initiated_at) if self.cancel_initiated_at else None,
            "results_url": f"{origin}/v1/messages/batches/{self.id}/results" if ended else None,
        }


#: Batches a sim keeps (the oldest go first): a long-running sim's memory stays bounded.
MAX_BATCHES = 1000


class Batches:
    """The Message Batches API: batches are kept per sim; each request of an ended batch succeeded with the
    reply `messages` would have given it (or was canceled, if the batch was canceled before it ended)."""

    def __init__(self) -> None:
        self._batches: dict[str, _Batch] = {}
        self._created = 0

    def create(self, raw: bytes, body: dict[str, Any], origin: str) -> Reply:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return error_reply("anthropic", 400, "requests: Field required (a non-empty list)")
        custom_ids = [r.get("custom_id") if isinstance(r, dict) else None for r in requests]
        if not all(isinstance(c, str) and c for c in custom_ids) or len(set(custom_ids)) != len(custom_ids):
            return error_reply("anthropic", 400, "requests: every request needs a unique custom_id")
        if not all(isinstance(r.get("params"), dict) for r in requests):
            return error_reply("anthropic", 400, "requests: every request needs params")
        self._created += 1
        seed = raw + self._created.to_bytes(8, "big")
        batch = _Batch(f"msgbatch_{hashlib.blake2b(seed, digest_size=12).hexdigest()}", datetime.now(UTC), requests)
        self._batches[batch.id] = batch
        if len(self._batches) > MAX_BATCHES:
            del self._batches[next(iter(self._batches))]
        return json_reply(batch.view(origin))

    def list_page(self, query: Mapping[str, str], origin: str) -> Reply:
        """Newest first, paged like the models list."""
        batches = list(reversed(self._batches.values()))
        for batch in batches:
            batch.advance()
        return _page([b.view(origin) for b in batches], query)

    def retrieve(self, batch_id: str, origin: str) -> Reply:
        batch = self._batches.get(batch_id)
        if batch is None:
            return _no_batch(batch_id)
        batch.advance()
        return json_reply(batch.view(origin))

    def cancel(self, batch_id: str, origin: str) -> Reply:
        batch = self._batches.get(batch_id)
        if batch is None:
            return _no_batch(batch_id)
        if batch.status == "in_progress":
            batch.status, batch.canceled, batch.cancel_initiated_at = "canceling", True, datetime.now(UTC)
        return json_reply(batch.view(origin))

    def results(self, batch_id: str) -> Reply:
        """`.jsonl`, one line per request: `{"custom_id": ..., "result": {"type": "succeeded", "message": ...}}`."""
        batch = self._batches.get(batch_id)
        if batch is None:
            return _no_batch(batch_id)
        batch.advance()
        lines = []
        for request in batch.requests:
            params = request["params"]
            result: dict[str, Any] = {"type": "canceled"}
            if not batch.canceled:
                reply = messages(dumps(params).encode(), {**params, "stream": False}, NO_CONTROLS)
                result = {"type": "succeeded", "message": json.loads(reply.chunks[0])}
            lines.append(dumps({"custom_id": request["custom_id"], "result": result}) + "\n")
        return Reply(200, {"Content-Type": "application/binary"}, ("".join(lines).encode(),))


def _no_batch(batch_id: str) -> Reply:
    return error_reply("anthropic", 404, f"message_batch: {batch_id} not found")
