"""Readers on cut, broken, mislabelled and oversized bodies: a result, never an exception."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import zlib

import pytest
from dirty_equals import IsStr

from majordomo_otel.gateway.usage import Usage, UsageResult, UsageStatus, reader_for
from majordomo_otel.gateway.usage._base import MAX_BODY_BYTES


def _read(provider, operation, body: bytes, *, chunk=None, complete=True, ct="application/json", ce=None):
    reader = reader_for(provider, operation, streamed=False, content_type=ct, content_encoding=ce)
    step = chunk or max(len(body), 1)
    for i in range(0, len(body), step):
        reader.feed(body[i : i + step])
    return reader.finish(complete=complete)


def test_cut_stream_keeps_last_counts_as_partial(sse_case, sse_expected, read) -> None:
    """The whole stream seen but the connection reported cut: same counts, PARTIAL."""
    assert read(sse_case, chunk_size=7, complete=False) == dataclasses.replace(sse_expected, status=UsageStatus.PARTIAL)


def test_anthropic_cut_after_message_start(cases_by_name, read) -> None:
    case = cases_by_name["anthropic/messages_stream_cache_write"]
    head = case.wire[: case.wire.index(b"event: content_block_delta")]
    assert read(case, wire=head, complete=False) == UsageResult(
        usage=Usage(input_tokens=1169, output_tokens=1, cache_read_tokens=0, cache_write_tokens=1165),
        status=UsageStatus.PARTIAL,
        model="claude-3-5-sonnet-20240620",
        error="stream ended without message_delta: output_tokens is message_start's placeholder",
    )


def test_gemini_sse_cut_keeps_earlier_snapshot(cases_by_name, read) -> None:
    case = cases_by_name["gemini/stream_sse_text"]
    first_event = case.wire[: case.wire.index(b"\r\n\r\n") + 4]
    assert read(case, wire=first_event, chunk_size=3, complete=False) == UsageResult(
        usage=Usage(input_tokens=15), status=UsageStatus.PARTIAL, model="gemini-2.0-flash-exp"
    )


def test_gemini_json_array_cut_salvages_complete_chunks() -> None:
    chunks = [
        {
            "candidates": [],
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
            "modelVersion": "m",
        },
        {
            "candidates": [],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3},
            "modelVersion": "m",
        },
    ]
    body = ("[" + json.dumps(chunks[0]) + ",\r\n" + json.dumps(chunks[1]) + ",\r\n").encode() + b'{"cand'
    assert _read("gemini", "generate_content", body, chunk=5, complete=False) == UsageResult(
        usage=Usage(input_tokens=5, output_tokens=3), status=UsageStatus.PARTIAL, model="m"
    )


def test_chat_stream_cut_before_usage_is_missing(cases_by_name, read) -> None:
    case = cases_by_name["openai/chat_stream_usage_text"]
    head = case.wire[: case.wire.index(b'"usage":{')]
    assert read(case, wire=head, complete=False) == UsageResult(
        usage=Usage(),
        status=UsageStatus.MISSING,
        model="gpt-4o-mini-2024-07-18",
        error="stream ended before usage was reported",
    )


@pytest.mark.parametrize("chunk_size", [1, 7, None], ids=["1B", "7B", "whole"])
def test_garbage_is_unparseable(case, read, chunk_size) -> None:
    result = read(case, wire=os.urandom(3000) + b"\x00{[", chunk_size=chunk_size)
    assert result == UsageResult(usage=Usage(), status=UsageStatus.UNPARSEABLE, error=IsStr(min_length=10))


def test_malformed_json_names_the_byte() -> None:
    assert _read("openai", "chat_completions", b'{"model": "x", "usage": {"prompt_tokens": 1,,}}') == UsageResult(
        usage=Usage(),
        status=UsageStatus.UNPARSEABLE,
        error="malformed JSON in response body at byte 44: Expecting property name enclosed in double quotes",
    )


def test_malformed_usage_event_is_unparseable(cases_by_name, read) -> None:
    case = cases_by_name["openai/chat_stream_usage_text"]
    wire = case.wire.replace(b'"usage":{"prompt_tokens"', b'"usage":{prompt_tokens"')
    assert read(case, wire=wire, chunk_size=7) == UsageResult(
        usage=Usage(),
        status=UsageStatus.UNPARSEABLE,
        error=IsStr(regex=r"malformed JSON in SSE event \d+ at .*"),
    )


def test_bad_gzip_is_unparseable() -> None:
    assert _read("openai", "chat_completions", b"\x1f\x8b\x08garbage", ce="gzip") == UsageResult(
        usage=Usage(), status=UsageStatus.UNPARSEABLE, error=IsStr(regex=r"gzip decoding failed: .*")
    )


def test_truncated_gzip_body_is_unparseable() -> None:
    body = gzip.compress(json.dumps({"model": "m", "usage": {"prompt_tokens": 1, "completion_tokens": 2}}).encode())
    assert _read("openai", "chat_completions", body[:-12], ce="gzip") == UsageResult(
        usage=Usage(), status=UsageStatus.UNPARSEABLE, error=IsStr(regex=r"gzip .*")
    )


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_body(wbits) -> None:
    obj = zlib.compressobj(wbits=wbits)
    body = obj.compress(b'{"model": "m", "usage": {"prompt_tokens": 3, "completion_tokens": 4}}') + obj.flush()
    assert _read("openai", "chat_completions", body, chunk=2, ce="deflate") == UsageResult(
        usage=Usage(input_tokens=3, output_tokens=4), status=UsageStatus.REPORTED, model="m"
    )


def test_gzip_sse_stream_decoded_incrementally(cases_by_name) -> None:
    case = cases_by_name["anthropic/messages_stream_tool_use"]
    reader = reader_for(
        "anthropic", "messages", streamed=True, content_type="text/event-stream", content_encoding="gzip"
    )
    for i in range(0, len(wire := gzip.compress(case.wire)), 11):
        reader.feed(wire[i : i + 11])
    assert reader.finish().usage == Usage(
        input_tokens=506, output_tokens=153, cache_read_tokens=0, cache_write_tokens=0
    )


def test_unsupported_encoding_is_unparseable() -> None:
    assert _read("openai", "chat_completions", b"{}", ce="zstd") == UsageResult(
        usage=Usage(), status=UsageStatus.UNPARSEABLE, error="unsupported content-encoding 'zstd'"
    )


def test_oversized_body_is_not_parsed() -> None:
    reader = reader_for(
        "openai", "chat_completions", streamed=False, content_type="application/json", content_encoding=None
    )
    block = b" " * (1024 * 1024)
    for _ in range(MAX_BODY_BYTES // len(block) + 1):
        reader.feed(block)
    assert reader.finish() == UsageResult(
        usage=Usage(),
        status=UsageStatus.UNPARSEABLE,
        error=f"response body over {MAX_BODY_BYTES} bytes: not parsed",
    )


def test_empty_body_is_missing() -> None:
    assert _read("anthropic", "messages", b"") == UsageResult(
        usage=Usage(), status=UsageStatus.MISSING, error="empty response body"
    )


def test_stream_request_answered_with_json_uses_json_reader(cases_by_name, read) -> None:
    """content-type decides, not the request's stream flag."""
    case = cases_by_name["openai/responses_error_400_stream_request"]
    assert case.streamed
    assert read(case) == UsageResult(
        usage=Usage(),
        status=UsageStatus.MISSING,
        error=IsStr(regex=r"provider error \(invalid_request_error\).*"),
    )


def test_stream_usage_in_sse_labelled_json_body_is_read() -> None:
    """A full (non-stream) body under an event-stream label still yields its usage."""
    body = json.dumps({"model": "claude-x", "usage": {"input_tokens": 2, "output_tokens": 3}}).encode()
    assert _read("anthropic", "messages", body, ct="text/event-stream") == UsageResult(
        usage=Usage(input_tokens=2, output_tokens=3), status=UsageStatus.REPORTED, model="claude-x"
    )


def test_anthropic_stream_error_event() -> None:
    stream = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    assert _read("anthropic", "messages", stream, chunk=4, ct="text/event-stream") == UsageResult(
        usage=Usage(), status=UsageStatus.MISSING, error="provider error (overloaded_error): Overloaded"
    )


def test_anthropic_1h_cache_write_and_thinking_tokens() -> None:
    usage = {
        "input_tokens": 5,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
        "output_tokens": 40,
        "output_tokens_details": {"thinking_tokens": 30},
    }
    body = json.dumps({"model": "claude-x", "usage": usage}).encode()
    assert _read("anthropic", "messages", body).usage == Usage(
        input_tokens=305,
        output_tokens=40,
        cache_read_tokens=0,
        cache_write_tokens=300,
        cache_write_1h_tokens=200,
        reasoning_tokens=30,
    )


def test_embeddings_report_input_only() -> None:
    body = json.dumps(
        {
            "object": "list",
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 8, "total_tokens": 8},
        }
    )
    assert _read("openai", "embeddings", body.encode()) == UsageResult(
        usage=Usage(input_tokens=8), status=UsageStatus.REPORTED, model="text-embedding-3-small"
    )


def test_legacy_completions_stream_with_usage() -> None:
    stream = (
        b'data: {"id":"c","object":"text_completion","model":"gpt-3.5-turbo-instruct",'
        b'"choices":[{"text":"hi"}],"usage":null}\n\n'
        b'data: {"id":"c","object":"text_completion","model":"gpt-3.5-turbo-instruct","choices":[],'
        b'"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}}\n\n'
        b"data: [DONE]\n\n"
    )
    assert _read("openai", "completions", stream, chunk=9, ct="text/event-stream") == UsageResult(
        usage=Usage(input_tokens=4, output_tokens=1),
        status=UsageStatus.REPORTED,
        model="gpt-3.5-turbo-instruct",
    )


def test_responses_stream_incomplete_event_reports_usage() -> None:
    usage = {"input_tokens": 9, "output_tokens": 16, "output_tokens_details": {"reasoning_tokens": 16}}
    events = [
        {"type": "response.created", "response": {"model": "gpt-5-2025-08-07", "usage": None}},
        {"type": "response.incomplete", "response": {"model": "gpt-5-2025-08-07", "usage": usage}},
    ]
    stream = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    assert _read("openai", "responses", stream, chunk=6, ct="text/event-stream") == UsageResult(
        usage=Usage(input_tokens=9, output_tokens=16, reasoning_tokens=16),
        status=UsageStatus.REPORTED,
        model="gpt-5-2025-08-07",
    )


def test_count_tokens_has_no_billable_usage() -> None:
    assert _read("anthropic", "count_tokens", b'{"input_tokens": 12}') == UsageResult(
        usage=Usage(), status=UsageStatus.MISSING, error="count_tokens responses carry no billable usage"
    )


@pytest.mark.parametrize(
    ("provider", "operation"),
    [("openai", "messages"), ("cohere", "chat_completions"), ("anthropic", "responses")],
)
def test_unknown_route_is_a_value_error(provider, operation) -> None:
    with pytest.raises(ValueError, match=r"unknown provider|not supported"):
        reader_for(provider, operation, streamed=False, content_type=None, content_encoding=None)


def test_finish_twice_returns_the_same_result() -> None:
    reader = reader_for("openai", "chat_completions", streamed=False, content_type=None, content_encoding=None)
    reader.feed(b'{"usage": {"prompt_tokens": 1, "completion_tokens": 1}}')
    assert reader.finish() is reader.finish()
