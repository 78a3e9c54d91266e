"""Synthetic Gemini replies: generateContent / streamGenerateContent, countTokens, embedContent /
batchEmbedContents and models.

Streams are SSE with "\r\n\r\n" for `?alt=sse`, a JSON array otherwise; every chunk carries a cumulative
`usageMetadata` snapshot; thoughts are counted beside candidates, as Gemini does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._controls import Controls
from ._plan import EMBEDDING_DIMS, Conversation, Plan, count_input_tokens, embedding_vector, make_plan
from ._recording import SimUsage
from ._reply import JSON, Reply, dumps, error_reply, json_reply, sse_event, sse_reply

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


# --- count tokens, embeddings, models (no usage reported) -------------------------------------------


def count_tokens(raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
    """`:countTokens`: `totalTokens` of the contents (or of a whole `generateContentRequest`)."""
    if not body.get("contents") and not body.get("generateContentRequest"):
        return error_reply("gemini", 400, "* CountTokensRequest: contents or generateContentRequest is required")
    tokens = count_input_tokens(raw)
    obj = {"totalTokens": tokens, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]}
    return json_reply(obj, usage=SimUsage(input_tokens=tokens, output_tokens=0), content_type=GEMINI_JSON)


def _dims(request: dict[str, Any]) -> int:
    config = request.get("embedContentConfig") or {}
    return int(request.get("outputDimensionality") or config.get("outputDimensionality") or EMBEDDING_DIMS)


def embed_content(model: str, raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
    """`:embedContent`: one `embedding`; the Gemini API reports no usage for embeddings."""
    if not isinstance(body.get("content"), dict):
        return error_reply("gemini", 400, "* EmbedContentRequest.content: content is required")
    return json_reply({"embedding": {"values": embedding_vector(0, _dims(body))}}, content_type=GEMINI_JSON)


def batch_embed_contents(model: str, raw: bytes, body: dict[str, Any], controls: Controls) -> Reply:
    """`:batchEmbedContents` (what google-genai's `embed_content` calls): one embedding per request, each
    request's `model` the path's, as the real API insists."""
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests or not all(isinstance(r, dict) for r in requests):
        return error_reply("gemini", 400, "* BatchEmbedContentsRequest.requests: requests is required")
    for n, request in enumerate(requests):
        if request.get("model", f"models/{model}") != f"models/{model}":
            return error_reply(
                "gemini", 400, f"* BatchEmbedContentsRequest.requests[{n}].model: must be models/{model}"
            )
        if not isinstance(request.get("content"), dict):
            return error_reply("gemini", 400, f"* BatchEmbedContentsRequest.requests[{n}].content: content is required")
    embeddings = [{"values": embedding_vector(n, _dims(r))} for n, r in enumerate(requests)]
    return json_reply({"embeddings": embeddings}, content_type=GEMINI_JSON)


_GENERATE = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
_EMBED = ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"]
#: What `GET /v1beta/models` lists: (id, display name, version, input limit, output limit, methods, thinks).
MODELS: tuple[tuple[str, str, str, int, int, list[str], bool], ...] = (
    ("gemini-2.5-pro", "Gemini 2.5 Pro", "2.5", 1048576, 65536, _GENERATE, True),
    ("gemini-2.5-flash", "Gemini 2.5 Flash", "001", 1048576, 65536, _GENERATE, True),
    ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", "001", 1048576, 65536, _GENERATE, True),
    ("gemini-2.0-flash", "Gemini 2.0 Flash", "2.0", 1048576, 8192, _GENERATE, False),
    ("gemini-embedding-001", "Gemini Embedding 001", "001", 2048, 1, _EMBED, False),
)
_DEFAULT_PAGE = 50
_MAX_PAGE = 1000


def _model_entry(
    model_id: str, name: str, version: str, input_limit: int, output_limit: int, methods: list[str], thinks: bool
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"models/{model_id}",
        "version": version,
        "displayName": name,
        "description": f"{name} (sim)",
        "inputTokenLimit": input_limit,
        "outputTokenLimit": output_limit,
        "supportedGenerationMethods": methods,
    }
    if "generateContent" in methods:
        entry |= {"temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2}
    if thinks:
        entry["thinking"] = True
    return entry


_MODEL_ENTRIES = tuple(_model_entry(*m) for m in MODELS)


def models(query: Mapping[str, str]) -> Reply:
    """`GET /v1beta/models`: `pageSize` models from `pageToken` on, and the next page's token while more remain."""
    try:
        size = int(query.get("pageSize") or _DEFAULT_PAGE)
        start = int(query.get("pageToken") or 0)
        if start < 0:
            raise ValueError(start)
    except ValueError:
        return error_reply("gemini", 400, "Invalid pageSize or pageToken")
    size = min(max(size, 1), _MAX_PAGE)
    obj: dict[str, Any] = {"models": list(_MODEL_ENTRIES[start : start + size])}
    if start + size < len(_MODEL_ENTRIES):
        obj["nextPageToken"] = str(start + size)
    return json_reply(obj, content_type=GEMINI_JSON)


def model(model_id: str) -> Reply:
    """`GET /v1beta/models/{model}`: that model, else the real API's 404."""
    for entry in _MODEL_ENTRIES:
        if entry["name"] == f"models/{model_id}":
            return json_reply(entry, content_type=GEMINI_JSON)
    return error_reply("gemini", 404, f"models/{model_id} is not found for API version v1beta")
