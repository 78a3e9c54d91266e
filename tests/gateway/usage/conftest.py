"""Recorded provider exchanges (bundled in majordomo_otel/sim/fixtures) as test cases for the usage readers.

`expected_usage` in the fixtures is the provider's raw counts; `expected_result` maps it, once and
explicitly per provider, onto our normalised convention (docs/architecture.md).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from dirty_equals import IsStr

from majordomo_otel.gateway.usage import Usage, UsageResult, UsageStatus
from majordomo_otel.sim._fixtures import BUNDLED_FIXTURES


def fixtures_dir() -> Path:
    """The recorded exchanges bundled with the package (`majordomo_otel/sim/fixtures`)."""
    return BUNDLED_FIXTURES


#: (fixture folder, fixture api) → (reader provider, reader operation)
_ROUTES = {
    ("openai", "chat_completions"): ("openai", "chat_completions"),
    ("openai", "responses"): ("openai", "responses"),
    ("anthropic", "messages"): ("anthropic", "messages"),
    ("gemini", "generate_content"): ("gemini", "generate_content"),
    ("gemini", "openai_compat"): ("gemini-openai", "chat_completions"),
}


@dataclass(frozen=True)
class Case:
    name: str
    data: dict[str, Any]
    provider: str
    operation: str
    streamed: bool
    content_type: str | None
    content_encoding: str | None
    wire: bytes

    @property
    def is_sse(self) -> bool:
        return "sse" in self.data["response"]


def wire_bytes(response: dict[str, Any]) -> bytes:
    """The exact bytes the provider sent (as far as the recording allows)."""
    if "raw_body_base64" in response:
        return base64.b64decode(response["raw_body_base64"])
    if "sse" in response:
        sep = response["sse_separator"]
        return (sep.join(response["sse"]) + sep).encode()
    return json.dumps(response["body"]).encode()


def _sum(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _anthropic_1h(response: dict[str, Any]) -> int | None:
    """usage.cache_creation.ephemeral_1h_input_tokens, from the body or the stream's message_start."""
    if "sse" in response:
        for event in response["sse"]:
            if event.startswith("event: message_start"):
                usage = json.loads(event.split("data: ", 1)[1])["message"]["usage"]
                break
        else:
            return None
    else:
        usage = response["body"].get("usage") or {}
    return (usage.get("cache_creation") or {}).get("ephemeral_1h_input_tokens")


def _gemini_usage_metadata(response: dict[str, Any]) -> dict[str, Any]:
    """The last usageMetadata snapshot of a body, JSON-array stream or SSE stream."""
    if "sse" in response:
        chunks = [json.loads(e.split("data: ", 1)[1]) for e in response["sse"] if "usageMetadata" in e]
    else:
        body = response["body"]
        chunks = body if isinstance(body, list) else [body]
    metas = [c["usageMetadata"] for c in chunks if isinstance(c, dict) and "usageMetadata" in c]
    return metas[-1] if metas else {}


def _gemini_audio(response: dict[str, Any]) -> dict[str, int | None]:
    """AUDIO entries of the modality details, as genai-prices' extractor (Pydantic AI's path) reads them.

    A cache that lists its modalities without AUDIO, beside an audio prompt, cached no audio: 0.
    """
    meta = _gemini_usage_metadata(response)

    def audio(key: str) -> int | None:
        return next((d["tokenCount"] for d in meta.get(key) or [] if d.get("modality") == "AUDIO"), None)

    prompt, cached = audio("promptTokensDetails"), audio("cacheTokensDetails")
    if cached is None and prompt and meta.get("cacheTokensDetails"):
        cached = 0
    return {
        "input_audio_tokens": prompt,
        "cache_audio_read_tokens": cached,
        "output_audio_tokens": audio("candidatesTokensDetails"),
    }


def expected_usage(case: Case) -> Usage:
    """The fixture's raw counts in our convention, provider by provider."""
    e = case.data["expected_usage"]
    if case.provider in ("openai", "gemini-openai"):  # already: input incl. cache, output incl. reasoning
        return Usage(
            input_tokens=e["input_tokens"],
            output_tokens=e["output_tokens"],
            cache_read_tokens=e["cache_read_tokens"],
            cache_write_tokens=e["cache_write_tokens"],
            reasoning_tokens=e["reasoning_tokens"],
        )
    if case.provider == "anthropic":  # input excludes cache reads and writes: add them
        return Usage(
            input_tokens=_sum(e["input_tokens"], e["cache_read_tokens"], e["cache_write_tokens"]),
            output_tokens=e["output_tokens"],
            cache_read_tokens=e["cache_read_tokens"],
            cache_write_tokens=e["cache_write_tokens"],
            cache_write_1h_tokens=_anthropic_1h(case.data["response"]),
            reasoning_tokens=e["reasoning_tokens"],
        )
    assert case.provider == "gemini"  # thoughts are billed output beside the candidates
    return Usage(
        input_tokens=e["input_tokens"],
        output_tokens=_sum(e["output_tokens"], e["reasoning_tokens"]),
        cache_read_tokens=e["cache_read_tokens"],
        cache_write_tokens=e["cache_write_tokens"],
        reasoning_tokens=e["reasoning_tokens"],
        **_gemini_audio(case.data["response"]),
    )


def expected_result(case: Case) -> UsageResult:
    usage = expected_usage(case)
    ok = case.data["response"]["status"] < 400
    model = case.data["expected_usage"]["model"] if ok else None  # error bodies name no model
    if usage.reported:
        note = None
        if case.provider == "gemini-openai":  # total_tokens hides the thinking: the reader says so
            note = IsStr(regex=r"note: total_tokens \d+ exceeds .*: \d+ tokens \(thinking\).*")
        return UsageResult(usage=usage, status=UsageStatus.REPORTED, model=model, error=note)
    if not ok:
        error = IsStr(regex=r"provider error \(\w+\): .+")
    else:
        error = "no usage in stream (request without stream_options.include_usage)"
    return UsageResult(usage=Usage(), status=UsageStatus.MISSING, model=model, error=error)


@cache
def all_cases() -> tuple[Case, ...]:
    root = fixtures_dir()
    cases = []
    for path in sorted(root.glob("**/*.json")):
        data = json.loads(path.read_text())
        provider, operation = _ROUTES[(data["provider"], data["api"])]
        headers = data["response"]["headers"]
        cases.append(
            Case(
                name=str(path.relative_to(root).with_suffix("")),
                data=data,
                provider=provider,
                operation=operation,
                streamed=data["streaming"],
                content_type=headers.get("content-type"),
                content_encoding=headers.get("content-encoding"),
                wire=wire_bytes(data["response"]),
            )
        )
    assert len(cases) >= 51, f"fixtures not found under {root}"
    return tuple(cases)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`case`: every fixture; `sse_case`: every SSE stream that reports usage."""
    if "case" in metafunc.fixturenames:
        cases = all_cases()
        metafunc.parametrize("case", cases, ids=[c.name for c in cases])
    if "sse_case" in metafunc.fixturenames:
        cases = [c for c in all_cases() if c.is_sse and expected_usage(c).reported]
        metafunc.parametrize("sse_case", cases, ids=[c.name for c in cases])


Reader = Any  # a callable (case, *, wire=None, chunk_size=None, complete=True) -> UsageResult


def read_case(
    case: Case, *, wire: bytes | None = None, chunk_size: int | None = None, complete: bool = True
) -> UsageResult:
    """Feed `wire` (default: the case's bytes) to a fresh reader in chunks of `chunk_size`."""
    from majordomo_otel.gateway.usage import reader_for

    reader = reader_for(
        case.provider,
        case.operation,
        streamed=case.streamed,
        content_type=case.content_type,
        content_encoding=case.content_encoding,
    )
    data = case.wire if wire is None else wire
    step = chunk_size or max(len(data), 1)
    for i in range(0, len(data), step):
        reader.feed(data[i : i + step])
    return reader.finish(complete=complete)


@pytest.fixture
def read() -> Reader:
    return read_case


@pytest.fixture
def expected(case: Case) -> UsageResult:
    return expected_result(case)


@pytest.fixture
def sse_expected(sse_case: Case) -> UsageResult:
    return expected_result(sse_case)


@pytest.fixture
def cases_by_name() -> dict[str, Case]:
    return {c.name: c for c in all_cases()}
