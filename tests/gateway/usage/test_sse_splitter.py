"""The incremental SSE splitter: separators, chunk boundaries, multi-line data."""

from __future__ import annotations

import pytest

from majordomo_otel.gateway.usage._sse import SSESplitter, event_data, event_name

STREAM = b'event: a\ndata: {"x":1}\n\ndata: [DONE]\n\n'


def _split(stream: bytes, step: int) -> list[bytes]:
    splitter = SSESplitter()
    out: list[bytes] = []
    for i in range(0, len(stream), step):
        out += splitter.feed(stream[i : i + step])
    return out


@pytest.mark.parametrize("step", [1, 2, 3, 5, 1000])
@pytest.mark.parametrize("sep", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_events_across_any_boundary(step, sep) -> None:
    assert _split(STREAM.replace(b"\n", sep), step) == [b'event: a\ndata: {"x":1}', b"data: [DONE]"]


def test_unterminated_event_is_pending() -> None:
    splitter = SSESplitter()
    assert (splitter.feed(b"data: 1\n\ndata: 2\r"), splitter.pending()) == ([b"data: 1"], b"data: 2\n")


def test_event_fields() -> None:
    event = b"event: message_delta\nid: 3\ndata: line1\ndata:line2"
    assert (event_name(event), event_data(event), event_data(b": comment")) == (
        b"message_delta",
        b"line1\nline2",
        None,
    )
