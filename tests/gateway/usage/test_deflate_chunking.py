"""Compressed bodies however the network chunks them: raw deflate, zlib-wrapped deflate and gzip.

`deflate` may be either (servers send both); the first 2 bytes tell which, so a first chunk of a
single byte must wait for the second rather than be guessed from.
"""

from __future__ import annotations

import json
import zlib

import pytest
from dirty_equals import IsStr

from majordomo_otel.gateway.usage import Usage, UsageResult, UsageStatus, reader_for
from majordomo_otel.gateway.usage._decode import is_zlib_header

JSON_BODY = json.dumps(
    {
        "model": "gpt-x",
        "choices": [{"message": {"content": "hi"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
).encode()
SSE_BODY = (
    b'data: {"model":"gpt-x","choices":[{"delta":{"role":"assistant"}}]}\n\n'
    b'data: {"model":"gpt-x","choices":[{"delta":{"content":"hi"}}]}\n\n'
    b'data: {"model":"gpt-x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n'
    b"data: [DONE]\n\n"
)
USAGE = UsageResult(usage=Usage(input_tokens=3, output_tokens=4), status=UsageStatus.REPORTED, model="gpt-x")

#: Content-Encoding → zlib window bits of a compressor producing it
ENCODINGS = {
    "raw-deflate": ("deflate", -zlib.MAX_WBITS),
    "zlib-deflate": ("deflate", zlib.MAX_WBITS),
    "gzip": ("gzip", 31),
}
SHAPES = {"json": ("application/json", JSON_BODY), "sse": ("text/event-stream", SSE_BODY)}

encodings = pytest.mark.parametrize("encoding", ENCODINGS, ids=ENCODINGS)
shapes = pytest.mark.parametrize("shape", SHAPES, ids=SHAPES)


def compress(plain: bytes, wbits: int, level: int = 6, memlevel: int = 8) -> bytes:
    obj = zlib.compressobj(level, zlib.DEFLATED, wbits, memlevel)
    return obj.compress(plain) + obj.flush()


def read(chunks: list[bytes], encoding: str, content_type: str, *, complete: bool = True) -> UsageResult:
    reader = reader_for(
        "openai", "chat_completions", streamed=False, content_type=content_type, content_encoding=encoding
    )
    for chunk in chunks:
        reader.feed(chunk)
    return reader.finish(complete=complete)


def wire(encoding: str, shape: str) -> tuple[str, str, bytes]:
    """(Content-Encoding, content type, compressed body)."""
    content_encoding, wbits = ENCODINGS[encoding]
    content_type, plain = SHAPES[shape]
    return content_encoding, content_type, compress(plain, wbits)


@encodings
@shapes
def test_one_byte_at_a_time(encoding, shape) -> None:
    ce, ct, body = wire(encoding, shape)
    assert read([body[i : i + 1] for i in range(len(body))], ce, ct) == USAGE


@encodings
@shapes
def test_first_chunk_of_one_byte_then_the_rest(encoding, shape) -> None:
    ce, ct, body = wire(encoding, shape)
    assert read([body[:1], body[1:]], ce, ct) == USAGE


@encodings
@shapes
def test_split_at_every_position(encoding, shape) -> None:
    ce, ct, body = wire(encoding, shape)
    results = [read([body[:i], body[i:]], ce, ct) for i in range(1, len(body))]
    assert results == [USAGE] * (len(body) - 1)


@encodings
def test_split_into_three_at_every_early_position(encoding) -> None:
    """A 1-byte chunk after the first one (the header's two bytes in three chunks)."""
    ce, ct, body = wire(encoding, "json")
    results = [read([body[:i], body[i : i + 1], body[i + 1 :]], ce, ct) for i in range(1, 12)]
    assert results == [USAGE] * 11


@encodings
@shapes
def test_body_cut_after_one_byte_is_an_error(encoding, shape) -> None:
    ce, ct, body = wire(encoding, shape)
    assert read([body[:1]], ce, ct) == UsageResult(
        usage=Usage(), status=UsageStatus.UNPARSEABLE, error=f"{ce} stream ended before its end marker"
    )


@encodings
def test_body_cut_anywhere_is_an_error(encoding) -> None:
    ce, ct, body = wire(encoding, "json")
    results = [read([body[:i]], ce, ct) for i in range(1, len(body))]
    assert results == [UsageResult(usage=Usage(), status=UsageStatus.UNPARSEABLE, error=IsStr(regex=f"{ce} .*"))] * (
        len(body) - 1
    )


@pytest.mark.parametrize("wbits", range(9, 16))
@pytest.mark.parametrize("level", range(10))
def test_deflate_of_every_level_and_window_is_told_apart(level, wbits) -> None:
    """Whatever the compressor settings, the first 2 bytes tell a zlib header from raw deflate, and both read."""
    zlib_body, raw_body = compress(JSON_BODY, wbits, level), compress(JSON_BODY, -wbits, level)
    assert (
        is_zlib_header(zlib_body[:2]),
        is_zlib_header(raw_body[:2]),
        read([zlib_body[:1], zlib_body[1:]], "deflate", "application/json"),
        read([raw_body[:1], raw_body[1:]], "deflate", "application/json"),
    ) == (True, False, USAGE, USAGE)


def test_empty_deflate_body_is_an_empty_body() -> None:
    assert read([], "deflate", "application/json") == UsageResult(
        usage=Usage(), status=UsageStatus.MISSING, error="empty response body"
    )


@pytest.mark.parametrize("encoding", ["raw-deflate", "zlib-deflate"])
def test_deflate_cut_after_one_byte_on_a_cut_connection_is_not_a_decoding_error(encoding) -> None:
    """complete=False (the connection broke): the missing end marker is not blamed on the encoding."""
    ce, ct, body = wire(encoding, "sse")
    assert read([body[:1]], ce, ct, complete=False) == UsageResult(
        usage=Usage(), status=UsageStatus.MISSING, error="stream ended before any event"
    )
