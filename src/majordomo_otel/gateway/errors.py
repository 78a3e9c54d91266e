"""Errors the gateway itself raises, rendered in the calling provider's own error shape.

SDKs parse error bodies to build their exceptions; answering an Anthropic client with an OpenAI
shaped body would turn a clear "invalid key" into an opaque parse failure.
"""

from __future__ import annotations

import json
from typing import Final

from .providers import Family

# status -> (OpenAI type, Anthropic type, Gemini status)
_KINDS: Final[dict[int, tuple[str, str, str]]] = {
    400: ("invalid_request_error", "invalid_request_error", "INVALID_ARGUMENT"),
    401: ("invalid_request_error", "authentication_error", "UNAUTHENTICATED"),
    404: ("invalid_request_error", "not_found_error", "NOT_FOUND"),
    413: ("invalid_request_error", "request_too_large", "INVALID_ARGUMENT"),
    429: ("insufficient_quota", "rate_limit_error", "RESOURCE_EXHAUSTED"),  # a budget used up: a quota
    500: ("server_error", "api_error", "INTERNAL"),
    502: ("server_error", "api_error", "UNAVAILABLE"),
    503: ("server_error", "overloaded_error", "UNAVAILABLE"),
    504: ("server_error", "api_error", "DEADLINE_EXCEEDED"),
}


def error_body(family: Family | None, status: int, message: str, *, code: str | None = None) -> bytes:
    """JSON error body in the shape of the caller's API family (OpenAI's for unknown routes)."""
    openai_type, anthropic_type, gemini_status = _KINDS.get(status, _KINDS[500 if status >= 500 else 400])
    message = f"majordomo gateway: {message}"
    if family is Family.ANTHROPIC:
        body: object = {"type": "error", "error": {"type": anthropic_type, "message": message}}
    elif family is Family.GEMINI:
        body = {"error": {"code": status, "message": message, "status": gemini_status}}
    else:  # OpenAI-compatible, or unknown
        body = {"error": {"message": message, "type": openai_type, "param": None, "code": code}}
    return json.dumps(body).encode()
