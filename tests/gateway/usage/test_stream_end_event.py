"""`reader.ended`: the stream's terminal event has been read, its blank line included.

The proxy settles a record there (a request whose last event reached the client succeeded, whatever the
client does next), so it must turn True exactly at the end of that event: not at text that quotes it, not
a byte before its blank line, and not only when the body ends.
"""

from __future__ import annotations

import gzip
import re

import pytest

from conftest import Case
from majordomo_otel.gateway.usage import reader_for

#: What each API's last event starts with; Gemini's streams end with the body.
TERMINAL = {
    ("openai", "chat_completions"): b"data: [DONE]",
    ("gemini-openai", "chat_completions"): b"data: [DONE]",
    ("openai", "responses"): b"event: response.completed",
    ("anthropic", "messages"): b"event: message_stop",
    ("gemini", "generate_content"): None,
}


def _reader(provider: str, operation: str, encoding: str | None = None):  # type: ignore[no-untyped-def]
    return reader_for(provider, operation, streamed=True, content_type="text/event-stream", content_encoding=encoding)


def _end_of_terminal_event(wire: bytes, marker: bytes) -> int:
    """Offset just past the blank line that ends the event whose line starts with `marker`."""
    start = re.search(rb"(?:^|\n)" + re.escape(marker), wire)
    assert start is not None
    blank = re.compile(rb"\r\n\r\n|\n\n|\r\r").search(wire, start.end())
    assert blank is not None
    return blank.end()


def _first_ended_at(reader, wire: bytes) -> int | None:  # type: ignore[no-untyped-def]
    """Feed `wire` byte by byte: how many bytes had been fed when `ended` turned True."""
    for i in range(len(wire)):
        reader.feed(wire[i : i + 1])
        if reader.ended:
            return i + 1
    return None


def test_ended_turns_true_at_the_terminal_events_blank_line(sse_case: Case) -> None:
    assert sse_case.content_encoding is None  # offsets are in the bytes the reader is fed
    marker = TERMINAL[(sse_case.provider, sse_case.operation)]
    reader = _reader(sse_case.provider, sse_case.operation)
    expected = None if marker is None else _end_of_terminal_event(sse_case.wire, marker)
    assert _first_ended_at(reader, sse_case.wire) == expected


def test_the_terminal_marker_quoted_in_content_does_not_end_the_stream() -> None:
    quoted = b'data: {"choices":[{"delta":{"content":"data: [DONE]\\n\\nevent: message_stop"}}]}\n\n'
    reader = _reader("openai", "chat_completions")
    reader.feed(quoted)
    assert reader.ended is False
    reader.feed(b"data: [DONE]\n\n")
    assert reader.ended is True


def test_a_failed_reader_still_sees_the_terminal_event() -> None:
    reader = _reader("openai", "chat_completions")
    reader.feed(b'data: {"usage": {"prompt_tokens": 3,\n\n')  # unparseable usage: the reader fails
    reader.feed(b"data: [DO")
    reader.feed(b"NE]\n\n")  # split across chunks
    assert (reader.ended, reader.finish().status.value) == (True, "unparseable")


def test_a_gzip_stream_ends_at_its_decoded_terminal_event() -> None:
    wire = gzip.compress(b'data: {"choices":[]}\n\ndata: [DONE]\n\n')
    reader = _reader("openai", "chat_completions", "gzip")
    reader.feed(wire)
    assert reader.ended is True


@pytest.mark.parametrize(("provider", "operation"), [("openai", "chat_completions"), ("anthropic", "messages")])
def test_a_json_body_never_ends_early(provider: str, operation: str) -> None:
    reader = reader_for(provider, operation, streamed=False, content_type="application/json", content_encoding=None)
    reader.feed(b'{"note": "data: [DONE]\\n\\nevent: message_stop\\n\\n"}')
    assert reader.ended is False
