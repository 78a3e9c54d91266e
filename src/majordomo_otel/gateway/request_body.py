"""The top-level `model` and `stream` of a request body, read without parsing the whole body.

The gateway only needs two fields, but `json.loads` builds the whole document: a 30 MB body of
`[{},{},...]` blocked the event loop for over a second and took ~800 MB, and 2,000 nested `[`
raised RecursionError. So only small bodies are parsed whole; larger ones are walked, in a worker
thread, by a scanner that reads the top-level object's members and skips every nested value
without recursion or building anything. Regex matching holds the GIL, so the scanner's patterns
cover at most `WINDOW` bytes per call and one thread does all such reading (between calls the event
loop gets the GIL back); a budget of bracket tokens bounds what a pathological body costs before the
scanner gives up (the response's model is used then).

The client's bytes are forwarded unchanged whatever happens here; this only fills the record.
A compressed body (the gateway does not decompress requests) is inflated at most to the body
limit, a chunk at a time, so a decompression bomb costs bounded memory, and off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypeVar

from .json_parse import parse_json

Body = bytes | bytearray
_T = TypeVar("_T")

FAST_PATH_BYTES: Final = 64 * 1024
"""Bodies up to this size are parsed with `json.loads` on the event loop (a few ms at most, the strictest check)."""
TOKEN_BUDGET: Final = 20_000
"""Brackets and top-level members the scanner walks before giving up (10-50 ms of the reader thread)."""
WINDOW: Final = 64 * 1024
"""Bytes one regex call may cover: ~1 ms of GIL even for escape-dense strings."""
MAX_MODEL_CHARS: Final = 4096
"""A "model" string longer than this is not a model name worth recording."""
_INFLATE_CHUNK: Final = 1024 * 1024

NOT_JSON: Final = "request body is not JSON; model unknown"
NOT_OBJECT: Final = "request body is not a JSON object; model unknown"
TOO_COMPLEX: Final = "model not read from the request body (too complex); taken from the response"


@dataclass(frozen=True, slots=True)
class BodyFacts:
    """What the record needs from a request body."""

    model: str | None = None
    stream: bool | None = None  # None: absent, not a boolean, or not read
    note: str | None = None  # why `model` could not be read, for the record's error_message
    #: `stream_options.include_usage` is `true` (read only from bodies parsed whole): nothing to ask for
    usage_asked: bool = False


async def read_body_facts(body: Body, content_encoding: str | None, *, limit: int) -> BodyFacts:
    """Facts of a body as sent, with `content_encoding` (the client's header); never raises for bad input.

    Large and compressed bodies are read off the event loop (zlib releases the GIL while it
    inflates), so even a body that inflates to `limit` does not stall it.
    """
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        return scan(body) if len(body) <= FAST_PATH_BYTES else await _off_loop(scan, body)
    if coding not in _DECODERS:
        return BodyFacts(note=f"request body Content-Encoding {coding!r} not decoded; model taken from the response")
    return await _off_loop(_inflate_and_scan, body, coding, limit)


_READER: Final = ThreadPoolExecutor(max_workers=1, thread_name_prefix="majordomo-body")
"""One thread for every large body: with one thread per body, four 30 MB bodies at once kept the
event loop waiting up to ~300 ms for the GIL; with one, ~13 ms (and no less throughput: the GIL)."""


async def _off_loop(fn: Callable[..., _T], *args: object) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_READER, fn, *args)


def scan(body: Body) -> BodyFacts:
    """Facts of an uncompressed body: parsed whole (as `json.loads` would) when small, else the bounded scanner."""
    if not body:
        return BodyFacts()
    if len(body) > FAST_PATH_BYTES:
        return _Scanner(body).facts()
    try:
        data = parse_json(body)
    except RecursionError:  # deeply nested but small: the scanner does not recurse
        return _Scanner(body).facts()
    except ValueError:
        return BodyFacts(note=NOT_JSON)
    if not isinstance(data, dict):
        return BodyFacts(note=NOT_OBJECT)
    stream = data.get("stream")
    options = data.get("stream_options")
    return BodyFacts(
        model=_model_name(data.get("model")),
        stream=stream if isinstance(stream, bool) else None,
        usage_asked=isinstance(options, dict) and options.get("include_usage") is True,
    )


def _model_name(value: object) -> str | None:
    return value if isinstance(value, str) and len(value) <= MAX_MODEL_CHARS else None


# --- decompression ----------------------------------------------------------------------------------
_GZIP: Final = 16 + zlib.MAX_WBITS
_DECODERS: Final = {"gzip": _GZIP, "x-gzip": _GZIP, "deflate": zlib.MAX_WBITS}


def _inflate_and_scan(body: Body, coding: str, limit: int) -> BodyFacts:
    try:
        inflated = _inflate(body, _DECODERS[coding], limit)
    except zlib.error:
        if coding != "deflate":
            return BodyFacts(note=f"request body is not valid {coding}; model unknown")
        try:  # "deflate" is zlib-wrapped per RFC 9110, but some clients send raw deflate
            inflated = _inflate(body, -zlib.MAX_WBITS, limit)
        except zlib.error:
            return BodyFacts(note="request body is not valid deflate; model unknown")
    if inflated is None:
        return BodyFacts(
            note=f"request body inflates to more than {limit} bytes; model not read, taken from the response"
        )
    return scan(inflated)


def _inflate(body: Body, wbits: int, limit: int) -> bytearray | None:
    """`body` inflated, or None past `limit` bytes: it never holds more than `limit` plus one chunk."""
    out = bytearray()
    rest: Body = body
    while rest:
        inflater = zlib.decompressobj(wbits)
        pending = rest
        while not inflater.eof:
            chunk = inflater.decompress(pending, _INFLATE_CHUNK)
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                raise zlib.error("truncated stream")
            out += chunk
            if len(out) > limit:
                return None
        rest = inflater.unused_data if wbits == _GZIP else b""  # a gzip body may hold several members
    return out


# --- the scanner ------------------------------------------------------------------------------------
# Every pattern repeats units of one or two bytes (or whole strings), possessively, so a match cut
# short by a window's end stops at a unit boundary and the next window resumes exactly there.
_WS: Final = re.compile(rb"[ \t\n\r]*+")
_STRING_BODY: Final = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)  # up to a string's closing quote
_NUMBER: Final = re.compile(rb"[0-9.eE+-]*+")  # lenient: upstream validates numbers
_LITERALS: Final = (b"true", b"false", b"null", b"NaN", b"Infinity", b"-Infinity")  # json.loads takes all six
# Inside a nested value: everything but brackets, whole strings included, in one C-level match.
_NESTED_SKIP: Final = re.compile(rb'[^"\[\]{}]*+(?:"(?:[^"\\]++|\\.)*+"[^"\[\]{}]*+)*+', re.DOTALL)
_BOM: Final = b"\xef\xbb\xbf"
_QUOTE, _COLON, _COMMA = ord('"'), ord(":"), ord(",")
_OPEN_BRACE, _CLOSE_BRACE, _OPEN_BRACKET, _CLOSE_BRACKET = ord("{"), ord("}"), ord("["), ord("]")
_CLOSING: Final = {_OPEN_BRACE: _CLOSE_BRACE, _OPEN_BRACKET: _CLOSE_BRACKET}
_FIELDS: Final = {b'"model"': "model", b'"stream"': "stream"}
_MAX_KEY_BYTES: Final = 64  # longer keys are neither "model" nor "stream", however escaped
_MAX_MODEL_BYTES: Final = 12 * MAX_MODEL_CHARS + 2  # each character a \u-escaped surrogate pair, and the quotes


class _Invalid(Exception):
    pass


class _NotObject(Exception):
    pass


class _OverBudget(Exception):
    pass


class _Scanner:
    """Walks the members of a top-level JSON object; nested values are skipped by bracket depth.

    It checks the top level's structure and nested values only for balanced brackets and terminated
    strings (enough to know where they end), not numbers or what strings hold: bodies this large go
    upstream, which validates them. A duplicate key counts as for `json.loads`: the last one wins.
    """

    def __init__(self, body: Body) -> None:
        self._body = body
        self._tokens = TOKEN_BUDGET
        self._model: str | None = None
        self._stream: bool | None = None

    def facts(self) -> BodyFacts:
        try:
            self._object()
        except (_Invalid, IndexError):  # IndexError: ran off the end of the body
            return BodyFacts(note=NOT_JSON)
        except _NotObject:
            return BodyFacts(note=NOT_OBJECT)
        except _OverBudget:
            # What was read before the budget ran out stands (a later duplicate key is not seen).
            return BodyFacts(model=self._model, stream=self._stream, note=None if self._model else TOO_COMPLEX)
        return BodyFacts(model=self._model, stream=self._stream)

    def _skip(self, pattern: re.Pattern[bytes], pos: int) -> int:
        """Where `pattern`'s match from `pos` ends, matched one window at a time."""
        size = len(self._body)
        while True:
            window_end = pos + WINDOW
            end = pattern.match(self._body, pos, window_end).end()  # type: ignore[union-attr]  # `*+` always matches
            if end < window_end - 1 or end >= size or end == pos:  # stopped by the body, not by the window
                return end
            pos = end

    def _spend(self) -> None:
        self._tokens -= 1
        if self._tokens < 0:
            raise _OverBudget

    def _object(self) -> None:
        body = self._body
        pos = self._skip(_WS, len(_BOM) if body.startswith(_BOM) else 0)  # json.loads skips it in bytes too
        if body[pos] != _OPEN_BRACE:
            # Another JSON value (only its first token checked: only an object can name a model), or not JSON.
            if body[pos] not in b'["':
                self._scalar_end(pos)  # raises _Invalid if there is no scalar either
            raise _NotObject
        pos = self._skip(_WS, pos + 1)
        if body[pos] == _CLOSE_BRACE:
            return self._end(pos + 1)
        while True:
            self._spend()
            if body[pos] != _QUOTE:
                raise _Invalid
            key_end = self._string_end(pos + 1)
            field = self._field(body[pos:key_end]) if key_end - pos <= _MAX_KEY_BYTES else None
            pos = self._skip(_WS, key_end)
            if body[pos] != _COLON:
                raise _Invalid
            pos = self._skip(_WS, pos + 1)
            value_end = self._value_end(pos)
            if field is not None:
                self._take(field, pos, value_end)
            pos = self._skip(_WS, value_end)
            if body[pos] == _COMMA:
                pos = self._skip(_WS, pos + 1)
            elif body[pos] == _CLOSE_BRACE:
                return self._end(pos + 1)
            else:
                raise _Invalid

    def _end(self, pos: int) -> None:
        if self._skip(_WS, pos) != len(self._body):
            raise _Invalid  # trailing data, as json.loads would say

    @staticmethod
    def _field(raw_key: Body) -> str | None:
        """The field ("model" or "stream") a quoted key names, escaped or not; None for any other key."""
        key = bytes(raw_key)
        if b"\\" not in key:
            return _FIELDS.get(key)
        name = _decode(key)
        return name if name in ("model", "stream") else None

    def _take(self, field: str, start: int, end: int) -> None:
        raw = bytes(self._body[start:end]) if end - start <= _MAX_MODEL_BYTES else b""
        if field == "model":
            self._model = _model_name(_decode(raw)) if raw[:1] == b'"' else None
        else:
            self._stream = True if raw == b"true" else False if raw == b"false" else None

    def _string_end(self, pos: int) -> int:
        """Index after the closing quote of a string whose opening quote is at `pos - 1`."""
        end = self._skip(_STRING_BODY, pos)
        if self._body[end] != _QUOTE:  # a lone backslash at the very end; IndexError if unterminated
            raise _Invalid
        return end + 1

    def _value_end(self, pos: int) -> int:
        first = self._body[pos]
        if first == _QUOTE:
            return self._string_end(pos + 1)
        if first in _CLOSING:
            return self._nested_end(pos)
        return self._scalar_end(pos)

    def _scalar_end(self, pos: int) -> int:
        for literal in _LITERALS:
            if self._body.startswith(literal, pos):
                return pos + len(literal)
        end = self._skip(_NUMBER, pos)
        if end == pos:
            raise _Invalid
        return end

    def _nested_end(self, pos: int) -> int:
        """Index after the array or object opening at `pos`: an explicit stack, never recursion."""
        body = self._body
        expected = [_CLOSING[body[pos]]]
        pos += 1
        while expected:
            pos = self._skip(_NESTED_SKIP, pos)
            token = body[pos]
            if token == _QUOTE:  # a string longer than what was left of the window
                pos = self._string_end(pos + 1)
                continue
            self._spend()
            pos += 1
            if token in _CLOSING:
                expected.append(_CLOSING[token])
            elif expected.pop() != token:
                raise _Invalid
        return pos


def _decode(raw: bytes) -> object:
    """A JSON string token's value; a bad escape or bad UTF-8 makes the body invalid, as for `json.loads`."""
    try:
        return json.loads(raw)
    except ValueError:
        raise _Invalid from None
