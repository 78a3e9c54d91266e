"""Provider-neutral decision of what a synthetic reply says: one tool call, or deterministic text."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ._controls import Controls
from ._recording import SimUsage
from ._schema import args_from_schema

OUTPUT_TOOL_PREFIX = "final_result"
"""Pydantic AI's structured-output tool name (`final_result`, `final_result_<Type>`)."""


@dataclass(frozen=True)
class Conversation:
    """What a provider module read from the request body."""

    model: str
    tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    has_tool_result: bool = False
    last_user_text: str = ""


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    arguments_json: str
    call_id: str


@dataclass(frozen=True)
class Plan:
    ident: str
    """Deterministic id material (hash of the request body)."""
    text: str | None
    text_pieces: tuple[str, ...]
    tool_call: ToolCall | None
    arg_pieces: tuple[str, ...]
    input_tokens: int
    """Uncached input, counted from the request."""
    output_tokens: int
    """Visible output (text or tool call), reasoning not included."""
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int

    def usage(self) -> SimUsage:
        return SimUsage(
            input_tokens=self.input_tokens + self.cached_tokens + self.cache_write_tokens,
            output_tokens=self.output_tokens + self.reasoning_tokens,
            cache_read_tokens=self.cached_tokens,
            cache_write_tokens=self.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens,
        )


def count_input_tokens(body: bytes) -> int:
    return max(1, len(body) // 4)


#: Embedding length when the request names none (the real models' 768-3072 would only make tests slower).
EMBEDDING_DIMS = 16


def embedding_vector(index: int, dims: int) -> list[float]:
    """A deterministic embedding for the `index`-th input: every family's embeddings use the same values."""
    return [round(((index + 1) * (d + 1) % 17) / 17 - 0.5, 6) for d in range(dims)]


def make_plan(conversation: Conversation, body: bytes, controls: Controls) -> Plan:
    ident = hashlib.blake2b(body, digest_size=12).hexdigest()
    tool = _choose_tool(conversation)
    text: str | None = None
    pieces: tuple[str, ...] = ()
    call: ToolCall | None = None
    arg_pieces: tuple[str, ...] = ()
    if tool is not None:
        name, schema = tool
        arguments = args_from_schema(schema)
        arguments_json = json.dumps(arguments, separators=(",", ":"))
        call = ToolCall(name, arguments, arguments_json, f"call_{ident}")
        arg_pieces = _split(arguments_json, controls.chunks or 2)
        output_tokens = max(1, (len(name) + len(arguments_json)) // 4)
    else:
        words = f"sim answer to: {conversation.last_user_text[:40]}".split()
        if controls.output_tokens is not None:
            n = max(1, controls.output_tokens)
            words = (words + ["sim"] * n)[:n]
        text = " ".join(words)
        tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
        pieces = _group(tokens, controls.chunks or len(tokens))
        output_tokens = len(words)
    return Plan(
        ident=ident,
        text=text,
        text_pieces=pieces,
        tool_call=call,
        arg_pieces=arg_pieces,
        input_tokens=count_input_tokens(body),
        output_tokens=output_tokens,
        cached_tokens=controls.cached_tokens,
        cache_write_tokens=controls.cache_write_tokens,
        reasoning_tokens=controls.reasoning_tokens,
    )


def _choose_tool(conversation: Conversation) -> tuple[str, dict[str, Any]] | None:
    """First function tool until a tool result exists; Pydantic AI's output tool whenever it is offered and
    no function tool is due; otherwise None (answer with text)."""
    function_tools = [t for t in conversation.tools if not t[0].startswith(OUTPUT_TOOL_PREFIX)]
    output_tools = [t for t in conversation.tools if t[0].startswith(OUTPUT_TOOL_PREFIX)]
    if function_tools and not conversation.has_tool_result:
        return function_tools[0]
    if output_tools:
        return output_tools[0]
    return None


def _group(tokens: list[str], n: int) -> tuple[str, ...]:
    n = max(1, min(n, len(tokens)))
    size, extra = divmod(len(tokens), n)
    out: list[str] = []
    start = 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append("".join(tokens[start:end]))
        start = end
    return tuple(out)


def _split(text: str, n: int) -> tuple[str, ...]:
    if not text:
        return ("",)
    return _group(list(text), n)
