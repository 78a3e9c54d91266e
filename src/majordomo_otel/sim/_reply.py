"""A reply as bytes ready to send, and the small helpers the provider modules build them with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._recording import SimUsage

JSON = "application/json"
SSE = "text/event-stream; charset=utf-8"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    chunks: tuple[bytes, ...]
    """One write each; a non-streamed reply has exactly one."""
    streamed: bool = False
    usage: SimUsage | None = None


def dumps(obj: Any) -> str:
    """Compact JSON as the providers send it: UTF-8 text, with what UTF-8 cannot hold (a lone surrogate echoed
    from a request's `"\\ud800"`) escaped as `\\uXXXX`, as Python-, JS- and Go-based servers do."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":"))
    return text


def json_reply(obj: Any, *, status: int = 200, usage: SimUsage | None = None, content_type: str = JSON) -> Reply:
    return Reply(status, {"Content-Type": content_type}, (dumps(obj).encode(),), usage=usage)


def sse_event(data: Any, *, event: str | None = None, sep: str = "\n\n") -> bytes:
    payload = data if isinstance(data, str) else dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}{sep}".encode()


def sse_reply(events: list[bytes], *, usage: SimUsage | None, content_type: str = SSE) -> Reply:
    return Reply(200, {"Content-Type": content_type}, tuple(events), streamed=True, usage=usage)


def malformed(reply: Reply) -> Reply:
    """Broken on purpose: JSON cut in half, or a stream whose second half is replaced by one broken event."""
    if not reply.streamed:
        body = reply.chunks[0]
        return Reply(reply.status, reply.headers, (body[: len(body) // 2],))
    keep = reply.chunks[: max(1, len(reply.chunks) // 2)]
    return Reply(reply.status, reply.headers, (*keep, b'data: {"broken": tru\n\n'), streamed=True)


_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_reply(provider: str, status: int, message: str | None = None) -> Reply:
    """The error body each provider sends for that status."""
    message = message or f"sim: error {status} requested with X-Sim-Status"
    if provider == "anthropic":
        kind = _ANTHROPIC_ERRORS.get(status, "api_error")
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_sim",
        }
    elif provider == "gemini":
        body = {"error": {"code": status, "message": message, "status": _GEMINI_STATUS.get(status, "INTERNAL")}}
    else:
        kind, code = _OPENAI_ERRORS.get(status, ("server_error", None))
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return json_reply(body, status=status)
