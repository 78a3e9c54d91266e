"""The process-wide cap on the usage readers' buffers (`_budget.BUFFER_BUDGET`).

Every reader reserves exactly the bytes it buffers and gives them back however it ends (finish,
failure, cut, dropped unfinished); one refused by the cap says its usage was too large to read.
"""

from __future__ import annotations

import gc
import gzip
import json
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from dirty_equals import IsPositiveInt, IsStr

from majordomo_otel.gateway.usage import Usage, UsageResult, UsageStatus, _base, _sse, reader_for
from majordomo_otel.gateway.usage._budget import BUFFER_BUDGET, DEFAULT_BUFFER_CAP, BufferBudget, set_buffer_cap
from majordomo_otel.gateway.usage._openai import ChatStreamReader

SSE = "text/event-stream"
JSON = "application/json"
KIB = 1024
USAGE = UsageResult(usage=Usage(input_tokens=5, output_tokens=7), status=UsageStatus.REPORTED, model="x-model")


def _used_by_live_readers() -> int:
    """What the budget says is held, once readers only a failed test's traceback keeps alive are gone."""
    if BUFFER_BUDGET.used:
        sys.last_type = sys.last_value = sys.last_traceback = None  # pytest keeps them for post-mortems
        if hasattr(sys, "last_exc"):
            sys.last_exc = None
        gc.collect()
    return BUFFER_BUDGET.used


@pytest.fixture(autouse=True)
def budget() -> Iterator[BufferBudget]:
    """The shared budget, empty before and after each test; its cap restored."""
    assert _used_by_live_readers() == 0, "a reader of an earlier test still holds budget"
    cap = BUFFER_BUDGET.cap
    try:
        yield BUFFER_BUDGET
    finally:
        set_buffer_cap(cap)
    assert _used_by_live_readers() == 0, "a reader of this test still holds budget"


def too_large(cap: int) -> UsageResult:
    return UsageResult(
        usage=Usage(),
        status=UsageStatus.UNPARSEABLE,
        error=f"usage too large to read: buffers of all streams over the {cap} bytes cap",
    )


def _events(*events: dict, sep: bytes = b"\n\n", named: bool = False) -> list[bytes]:
    out = []
    for e in events:
        head = f"event: {e['type']}\n".encode() if named else b""
        out.append(head + b"data: " + json.dumps(e, separators=(",", ":")).encode() + sep)
    return out


def chat_sse(text: str) -> list[bytes]:
    return [
        *_events(
            {"model": "x-model", "choices": [{"delta": {"role": "assistant"}}]},
            {"model": "x-model", "choices": [{"delta": {"content": text}}]},
            {"model": "x-model", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}},
        ),
        b"data: [DONE]\n\n",
    ]


def responses_sse(text: str) -> list[bytes]:
    return _events(
        {"type": "response.created", "response": {"model": "x-model", "usage": None}},
        {"type": "response.output_text.delta", "delta": text},
        {
            "type": "response.completed",
            "response": {"model": "x-model", "usage": {"input_tokens": 5, "output_tokens": 7}},
        },
        named=True,
    )


def anthropic_sse(text: str) -> list[bytes]:
    return _events(
        {"type": "message_start", "message": {"model": "x-model", "usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}},
        {"type": "message_stop"},
        named=True,
    )


def gemini_sse(text: str) -> list[bytes]:
    chunk = {"candidates": [{"content": {"parts": [{"text": text}]}}], "modelVersion": "x-model"}
    return _events(
        {**chunk, "usageMetadata": {"promptTokenCount": 5}},
        {**chunk, "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7}},
        sep=b"\r\n\r\n",
    )


def _json(body: dict) -> list[bytes]:
    return [json.dumps(body).encode()]


def chat_json(text: str) -> list[bytes]:
    return _json(
        {
            "model": "x-model",
            "choices": [{"message": {"content": text}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7},
        }
    )


def responses_json(text: str) -> list[bytes]:
    return _json({"model": "x-model", "output": [{"text": text}], "usage": {"input_tokens": 5, "output_tokens": 7}})


def anthropic_json(text: str) -> list[bytes]:
    return _json({"model": "x-model", "content": [{"text": text}], "usage": {"input_tokens": 5, "output_tokens": 7}})


def gemini_json(text: str) -> list[bytes]:
    return _json(
        {
            "candidates": [{"content": {"parts": [{"text": text}]}}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7},
            "modelVersion": "x-model",
        }
    )


@dataclass(frozen=True)
class Shape:
    provider: str
    operation: str
    content_type: str
    #: the response's parts (events, or the one JSON body) with `text` as its content
    parts: Callable[[str], list[bytes]]

    def reader(self):
        streamed = self.content_type == SSE
        return reader_for(
            self.provider, self.operation, streamed=streamed, content_type=self.content_type, content_encoding=None
        )

    def wire(self, text: str = "hello") -> bytes:
        return b"".join(self.parts(text))


SHAPES = {
    "openai-chat-sse": Shape("openai", "chat_completions", SSE, chat_sse),
    "openai-chat-json": Shape("openai", "chat_completions", JSON, chat_json),
    "gemini-openai-sse": Shape("gemini-openai", "chat_completions", SSE, chat_sse),
    "openai-responses-sse": Shape("openai", "responses", SSE, responses_sse),
    "openai-responses-json": Shape("openai", "responses", JSON, responses_json),
    "anthropic-sse": Shape("anthropic", "messages", SSE, anthropic_sse),
    "anthropic-json": Shape("anthropic", "messages", JSON, anthropic_json),
    "gemini-sse": Shape("gemini", "generate_content", SSE, gemini_sse),
    "gemini-json": Shape("gemini", "generate_content", JSON, gemini_json),
}
SSE_SHAPES = {name: s for name, s in SHAPES.items() if s.content_type == SSE}

shapes = pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
sse_shapes = pytest.mark.parametrize("shape", SSE_SHAPES.values(), ids=SSE_SHAPES.keys())


def feed(reader, data: bytes, step: int = 7 * KIB) -> None:
    for i in range(0, len(data), step):
        reader.feed(data[i : i + step])


def test_every_fixture_gives_its_reservation_back(case, expected, read) -> None:
    assert (read(case, chunk_size=7), BUFFER_BUDGET.used) == (expected, 0)


def test_every_cut_stream_gives_its_reservation_back(sse_case, read) -> None:
    """Cut in the middle of an event: the splitter's pending bytes are given back too."""
    wire = sse_case.wire
    read(sse_case, wire=wire[: len(wire) // 2 + 3], chunk_size=7, complete=False)
    assert BUFFER_BUDGET.used == 0


@shapes
def test_big_response_reads_and_gives_its_reservation_back(shape) -> None:
    reader = shape.reader()
    wire = shape.wire("x" * 300 * KIB)
    feed(reader, wire[: len(wire) // 2])
    held = BUFFER_BUDGET.used
    feed(reader, wire[len(wire) // 2 :])
    assert (held, reader.finish(), BUFFER_BUDGET.used) == (IsPositiveInt, USAGE, 0)


def _gemini_first_event() -> bytes:
    return gemini_sse("hi")[0]


@pytest.mark.parametrize(
    ("shape", "data", "held"),
    [
        pytest.param(
            SHAPES["openai-chat-json"], b'{"model": "x", "choi', len(b'{"model": "x", "choi'), id="json-so-far"
        ),
        pytest.param(
            SHAPES["openai-chat-sse"],
            chat_sse("hi")[0] + b'data: {"choices":[{"delta":{"content":"hel',
            len(b'data: {"choices":[{"delta":{"content":"hel'),
            id="sse-pending-event",
        ),
        pytest.param(
            SHAPES["anthropic-sse"],
            anthropic_sse("hi")[0] + b"event: content_block_delta\ndata: {",
            len(b"event: content_block_delta\ndata: {"),
            id="sse-pending-named-event",
        ),
        pytest.param(
            SHAPES["gemini-sse"],
            _gemini_first_event() + b"data: {",
            len(_gemini_first_event()) - 4 + 7,
            id="gemini-last-usage-event-plus-pending",
        ),
        pytest.param(
            SHAPES["openai-chat-sse"],
            b': keep-alive\n\n{"error"',
            len(b': keep-alive\n\n{"error"') + len(b'{"error"'),
            id="sniff-and-pending",
        ),
        pytest.param(
            SHAPES["openai-chat-sse"],
            b" " * (_base.MAX_SNIFF_BYTES + 100),
            _base.MAX_SNIFF_BYTES + _base.MAX_SNIFF_BYTES + 100,
            id="full-sniff-and-pending",
        ),
    ],
)
def test_reservation_is_what_the_reader_buffers(shape, data, held) -> None:
    reader = shape.reader()
    feed(reader, data, step=7 if len(data) < KIB else 7 * KIB)
    assert BUFFER_BUDGET.used == held


@shapes
def test_reader_over_the_cap_reports_usage_too_large(shape) -> None:
    set_buffer_cap(256 * KIB)
    reader = shape.reader()
    feed(reader, shape.wire("x" * 300 * KIB))
    assert (BUFFER_BUDGET.used, reader.finish(), BUFFER_BUDGET.used) == (0, too_large(256 * KIB), 0)


def test_reader_under_the_cap_still_reads_after_another_was_refused(case, expected, read) -> None:
    set_buffer_cap(256 * KIB)
    refused = SHAPES["openai-chat-sse"].reader()
    feed(refused, SHAPES["openai-chat-sse"].wire("x" * 300 * KIB))
    assert (read(case, chunk_size=7), refused.finish()) == (expected, too_large(256 * KIB))


@sse_shapes
def test_refusal_is_for_good(shape) -> None:
    """Once refused, a reader ignores the rest of its stream even when budget frees up again."""
    set_buffer_cap(256 * KIB)
    reader = shape.reader()
    feed(reader, shape.wire("x" * 300 * KIB))
    set_buffer_cap(DEFAULT_BUFFER_CAP)
    feed(reader, shape.wire())  # a whole stream with usage: a fresh reader would read it
    assert reader.finish() == too_large(256 * KIB)


def test_two_readers_over_the_cap_together_refuse_the_one_that_grows_past_it() -> None:
    shape = SHAPES["openai-chat-sse"]
    set_buffer_cap(100 * KIB)
    first, second = shape.reader(), shape.reader()
    first_parts, second_parts = shape.parts("a" * 60 * KIB), shape.parts("b" * 60 * KIB)
    feed(first, first_parts[0] + first_parts[1][: 30 * KIB])  # 30 KiB of its event held
    feed(second, second_parts[0] + second_parts[1][:-10])  # ~60 KiB more: ~90 KiB together, under the cap
    feed(first, first_parts[1][30 * KIB :])  # the rest would make ~120 KiB together: refused
    feed(second, second_parts[1][-10:] + b"".join(second_parts[2:]))
    assert (first.finish(), second.finish(), BUFFER_BUDGET.used) == (too_large(100 * KIB), USAGE, 0)


@sse_shapes
def test_first_chunk_of_complete_events_near_the_cap_reads(shape) -> None:
    """Reserved is what is held after the chunk: its complete events have left the splitter already."""
    wire = shape.wire("x" * 60 * KIB)
    set_buffer_cap(len(wire) + 10)
    reader = shape.reader()
    reader.feed(wire)
    assert reader.finish() == USAGE


def test_readers_under_the_cap_together_all_read() -> None:
    shape = SHAPES["anthropic-sse"]
    set_buffer_cap(100 * KIB)
    readers = [shape.reader() for _ in range(4)]
    parts = shape.parts("z" * 20 * KIB)
    head = parts[0] + parts[1][:-100]  # 4 pending events of ~20 KiB each: ~80 KiB held together
    for reader in readers:
        feed(reader, head)
    held = BUFFER_BUDGET.used
    for reader in readers:
        feed(reader, parts[1][-100:] + b"".join(parts[2:]))
    assert (held, [r.finish() for r in readers], BUFFER_BUDGET.used) == (4 * (len(parts[1]) - 100), [USAGE] * 4, 0)


def test_lowering_the_cap_below_what_is_held() -> None:
    """Readers holding more than the new cap keep what they hold and may shrink; no reader may grow."""
    shape = SHAPES["openai-chat-sse"]
    big, small = shape.reader(), shape.reader()
    big_parts, small_parts = shape.parts("a" * 60 * KIB), shape.parts("b" * 30 * KIB)
    feed(big, big_parts[0] + big_parts[1][:-10])
    feed(small, small_parts[0] + small_parts[1][:-10])
    previous = set_buffer_cap(50 * KIB)
    feed(small, small_parts[1][-10:-5])  # grows by 5 bytes: refused
    feed(big, b"".join(big_parts)[len(big_parts[0]) + len(big_parts[1]) - 10 :])  # completes its event: shrinks
    after_big = BUFFER_BUDGET.used
    newcomer = shape.reader()
    feed(newcomer, shape.wire())
    assert (previous, small.finish(), after_big, big.finish(), newcomer.finish(), BUFFER_BUDGET.used) == (
        DEFAULT_BUFFER_CAP,
        too_large(50 * KIB),
        0,
        USAGE,
        USAGE,
        0,
    )


def test_cap_of_zero_refuses_every_buffered_byte() -> None:
    set_buffer_cap(0)
    reader = SHAPES["openai-chat-json"].reader()
    reader.feed(b"{")
    assert reader.finish() == UsageResult(
        usage=Usage(),
        status=UsageStatus.UNPARSEABLE,
        error="usage too large to read: buffers of all streams over the 0 bytes cap",
    )


def test_cap_in_mib_is_named_so() -> None:
    set_buffer_cap(3 * 1024 * KIB)
    reader = SHAPES["openai-chat-json"].reader()
    feed(reader, chat_json("x" * 4 * 1024 * KIB)[0], step=64 * KIB)
    assert reader.finish().error == "usage too large to read: buffers of all streams over the 3 MiB cap"


@pytest.mark.parametrize("cap", [-1, 1.5, True, "1"])
def test_set_buffer_cap_refuses_what_is_not_a_byte_count(cap) -> None:
    with pytest.raises(ValueError, match=r"buffer cap must be a non-negative number of bytes"):
        set_buffer_cap(cap)


@shapes
def test_reader_dropped_unfinished_gives_its_reservation_back(shape) -> None:
    reader = shape.reader()
    wire = shape.wire("x" * 20 * KIB)
    feed(reader, wire[: len(wire) // 2])
    held = BUFFER_BUDGET.used
    del reader
    assert (held, BUFFER_BUDGET.used) == (IsPositiveInt, 0)


def test_reader_in_a_reference_cycle_gives_its_reservation_back_when_collected() -> None:
    reader = SHAPES["gemini-sse"].reader()
    feed(reader, SHAPES["gemini-sse"].wire("x" * 20 * KIB)[:-10])
    cycle: list = [reader]
    cycle.append(cycle)
    held = BUFFER_BUDGET.used
    del reader, cycle
    gc.collect()
    assert (held, BUFFER_BUDGET.used) == (IsPositiveInt, 0)


def _held_then(shape: Shape, reader, tail: bytes) -> int:
    """Feed a stream up to the middle of its big event, note what is held, then feed `tail`."""
    parts = shape.parts("x" * 10 * KIB)
    feed(reader, parts[0] + parts[1][: len(parts[1]) // 2])
    held = BUFFER_BUDGET.used
    if tail:
        reader.feed(tail)  # one chunk: the failure comes while the splitter holds bytes
    return held


def _unparseable(error: object) -> UsageResult:
    return UsageResult(usage=Usage(), status=UsageStatus.UNPARSEABLE, error=error)


def test_malformed_event_gives_the_reservation_back_at_once() -> None:
    shape = SHAPES["openai-chat-sse"]
    reader = shape.reader()
    held = _held_then(shape, reader, b'"}}]}\n\ndata: {"usage":{oops}}\n\ndata: {"choices":[{"delta":{"content":"pen')
    assert (held, BUFFER_BUDGET.used, reader.finish()) == (
        IsPositiveInt,
        0,
        _unparseable(IsStr(regex=r"malformed JSON in SSE event 3 at byte \d+: .*")),
    )


def test_event_over_its_own_bound_gives_the_reservation_back_at_once(monkeypatch) -> None:
    monkeypatch.setattr(_sse, "MAX_EVENT_BYTES", 16 * KIB)
    shape = SHAPES["anthropic-sse"]
    reader = shape.reader()
    held = _held_then(shape, reader, b"y" * 12 * KIB)
    assert (held, BUFFER_BUDGET.used, reader.finish()) == (
        IsPositiveInt,
        0,
        _unparseable(f"SSE event larger than {16 * KIB} bytes without a separator"),
    )


def test_body_over_its_own_bound_holds_nothing(monkeypatch) -> None:
    monkeypatch.setattr(_base, "MAX_BODY_BYTES", 16 * KIB)
    reader = SHAPES["anthropic-json"].reader()
    feed(reader, SHAPES["anthropic-json"].wire("x" * 20 * KIB))
    assert (BUFFER_BUDGET.used, reader.finish()) == (
        0,
        _unparseable(f"response body over {16 * KIB} bytes: not parsed"),
    )


def test_unexpected_reader_error_gives_the_reservation_back_at_once(monkeypatch) -> None:
    def boom(self, event: bytes) -> None:
        if b"usage" in event:
            raise RuntimeError("boom")

    monkeypatch.setattr(ChatStreamReader, "_on_event", boom)
    shape = SHAPES["openai-chat-sse"]
    reader = shape.reader()
    held = _held_then(shape, reader, b'"}}]}\n\ndata: {"usage":{}}\n\ndata: {"choices":[{"delta":{"content":"pen')
    assert (held, BUFFER_BUDGET.used, reader.finish()) == (
        IsPositiveInt,
        0,
        _unparseable("usage reader failed: RuntimeError: boom"),
    )


def test_error_while_finishing_gives_the_reservation_back(monkeypatch) -> None:
    def boom(self, complete: bool) -> UsageResult:
        raise RuntimeError("boom")

    monkeypatch.setattr(ChatStreamReader, "_stream_result", boom)
    shape = SHAPES["openai-chat-sse"]
    reader = shape.reader()
    held = _held_then(shape, reader, b"")
    assert (held, reader.finish(), BUFFER_BUDGET.used) == (
        IsPositiveInt,
        _unparseable("usage reader failed: RuntimeError: boom"),
        0,
    )


def test_truncated_gzip_body_gives_the_reservation_back() -> None:
    reader = reader_for("openai", "chat_completions", streamed=False, content_type=JSON, content_encoding="gzip")
    body = gzip.compress(SHAPES["openai-chat-json"].wire("x" * 20 * KIB), mtime=0)
    feed(reader, body[:-8], step=100)  # without the trailer: the body is all decoded, but never ends
    held = BUFFER_BUDGET.used
    assert (held, reader.finish(), BUFFER_BUDGET.used) == (
        IsPositiveInt,
        _unparseable("gzip stream ended before its end marker"),
        0,
    )


def test_corrupt_gzip_stream_gives_the_reservation_back_at_once() -> None:
    reader = reader_for("anthropic", "messages", streamed=True, content_type=SSE, content_encoding="gzip")
    parts = SHAPES["anthropic-sse"].parts("x" * 10 * KIB)
    gz = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    feed(reader, gz.compress(parts[0] + parts[1][:-10]) + gz.flush(zlib.Z_SYNC_FLUSH), step=100)
    held = BUFFER_BUDGET.used
    reader.feed(b"\x07")  # a final block of the reserved type 3
    assert (held, BUFFER_BUDGET.used, reader.finish()) == (
        len(parts[1]) - 10,
        0,
        _unparseable("gzip decoding failed: Error -3 while decompressing data: invalid block type"),
    )
