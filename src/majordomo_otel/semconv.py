"""Span and metric attribute names, in one place for both halves.

Standard names come from `opentelemetry-semantic-conventions` (HTTP, URL, server, user, session and the
GenAI conventions); `operation.cost` is Pydantic AI's and Logfire's name for a request's USD cost, so a
backend summing it sees one convention. Ours are `majordomo.*`. A tag's attribute is `majordomo.<name>`
(the four named tags) or `majordomo.tag.<key>` (the others).
"""

from __future__ import annotations

from typing import Final

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _gen_ai
from opentelemetry.semconv._incubating.attributes import session_attributes as _session
from opentelemetry.semconv._incubating.attributes import user_attributes as _user
from opentelemetry.semconv.attributes import http_attributes as _http
from opentelemetry.semconv.attributes import server_attributes as _server
from opentelemetry.semconv.attributes import url_attributes as _url

# --- standard -----------------------------------------------------------------------------------------
HTTP_REQUEST_METHOD: Final = _http.HTTP_REQUEST_METHOD
HTTP_RESPONSE_STATUS_CODE: Final = _http.HTTP_RESPONSE_STATUS_CODE
URL_PATH: Final = _url.URL_PATH
SERVER_ADDRESS: Final = _server.SERVER_ADDRESS
USER_ID: Final = _user.USER_ID
SESSION_ID: Final = _session.SESSION_ID
GEN_AI_OPERATION_NAME: Final = _gen_ai.GEN_AI_OPERATION_NAME
GEN_AI_PROVIDER_NAME: Final = _gen_ai.GEN_AI_PROVIDER_NAME
GEN_AI_REQUEST_MODEL: Final = _gen_ai.GEN_AI_REQUEST_MODEL
GEN_AI_RESPONSE_MODEL: Final = _gen_ai.GEN_AI_RESPONSE_MODEL
GEN_AI_TOKEN_TYPE: Final = _gen_ai.GEN_AI_TOKEN_TYPE
GEN_AI_USAGE_INPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_INPUT_TOKENS
GEN_AI_USAGE_OUTPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
OPERATION_COST: Final = "operation.cost"

# --- ours -------------------------------------------------------------------------------------------------
PREFIX: Final = "majordomo."
TAG_PREFIX: Final = PREFIX + "tag."
REQUEST_ID: Final = PREFIX + "request_id"
PROVIDER: Final = PREFIX + "provider"
STREAMED: Final = PREFIX + "streamed"
ERROR: Final = PREFIX + "error"
TIME_TO_FIRST_BYTE_MS: Final = PREFIX + "time_to_first_byte_ms"
USAGE_STATUS: Final = PREFIX + "usage.status"
USAGE_INPUT_TOKENS: Final = PREFIX + "usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = PREFIX + "usage.output_tokens"
USAGE_CACHE_READ_TOKENS: Final = PREFIX + "usage.cache_read_tokens"
USAGE_CACHE_WRITE_TOKENS: Final = PREFIX + "usage.cache_write_tokens"
USAGE_REASONING_TOKENS: Final = PREFIX + "usage.reasoning_tokens"
COST_STATUS: Final = PREFIX + "cost.status"
COST_INPUT: Final = PREFIX + "cost.input"
COST_OUTPUT: Final = PREFIX + "cost.output"
COST_TOTAL: Final = PREFIX + "cost.total"
FEATURE: Final = PREFIX + "feature"
STEP: Final = PREFIX + "step"


def tag_attribute(name: str, *, named: bool) -> str:
    """`majordomo.feature` for a named tag, `majordomo.tag.<key>` for another."""
    return (PREFIX if named else TAG_PREFIX) + name
