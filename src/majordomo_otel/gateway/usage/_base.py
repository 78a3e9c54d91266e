"""Shared reader machinery: decoding, bounded buffering, JSON and SSE framing, result building.

Subclasses supply only the provider-specific parts: how to read usage out of a parsed JSON body
(`_JsonReader._extract`) or which SSE events to look at (`_SSEReader._on_event` / `_result`).
Every public method catches everything: a reader must never break the proxy.

Buffers are bounded twice: per reader (MAX_BODY_BYTES, MAX_SNIFF_BYTES, the splitter's
MAX_EVENT_BYTES) and for all readers together (`_budget.BUFFER_BUDGET`). Every reader reserves
exactly the bytes it buffers (a JSON body so far; an SSE stream's pending event, sniff and any
kept event) and gives them all back as soon as it fails, in `finish`, or when collected unfinished.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from ..json_parse import parse_json
from ._budget import BUFFER_BUDGET
from ._decode import DecodeError, Decoder, decoder_for
from ._sse import SSEError, SSESplitter, event_data
from ._types import Usage, UsageResult, UsageStatus

#: Non-stream bodies larger than this (after decompression) are not parsed.
MAX_BODY_BYTES = 32 * 1024 * 1024
#: How much of an SSE-labelled body we keep in case it turns out to be plain JSON (an error).
MAX_SNIFF_BYTES = 1024 * 1024


def as_count(value: Any) -> int | None:
    """A token count as reported, or None when absent or not a non-negative int."""
    if type(value) is int and value >= 0:
        return value
    return None


def add_counts(*values: int | None) -> int | None:
    """Sum of the reported counts; None only when none was reported."""
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def model_of(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def json_error_message(exc: json.JSONDecodeError, raw: bytes, where: str) -> str:
    """'malformed JSON in <where> at byte N: msg', N counted in the decoded bytes."""
    try:
        byte_pos = len(exc.doc[: exc.pos].encode("utf-8", "surrogatepass"))
    except Exception:  # pragma: no cover - defensive
        byte_pos = exc.pos
    return f"malformed JSON in {where} at byte {byte_pos}: {exc.msg}"


def loads(raw: bytes, where: str) -> tuple[Any, str | None]:
    """Parse JSON; return (value, None) or (None, error)."""
    try:
        return parse_json(raw), None
    except json.JSONDecodeError as e:
        return None, json_error_message(e, raw, where)
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 in {where} at byte {e.start}"
    except (ValueError, RecursionError) as e:
        return None, f"unreadable JSON in {where}: {e}"


def provider_error(body: Any) -> str | None:
    """The message of a provider error body ({"error": ...}), None if `body` is not one."""
    if not isinstance(body, dict) or "error" not in body:
        return None
    err = body["error"]
    if isinstance(err, dict):
        message = err.get("message")
        kind = err.get("type") or err.get("status") or err.get("code")
        if isinstance(message, str):
            return f"provider error ({kind}): {message}" if kind else f"provider error: {message}"
    return f"provider error: {json.dumps(err)[:500]}"


def missing(model: str | None, error: str | None) -> UsageResult:
    return UsageResult(usage=Usage(), status=UsageStatus.MISSING, model=model, error=error)


def unparseable(error: str, model: str | None = None) -> UsageResult:
    return UsageResult(usage=Usage(), status=UsageStatus.UNPARSEABLE, model=model, error=error)


class _DecodingReader:
    """Decompresses each chunk and hands plain bytes to `_consume`; records the first failure.

    Also keeps this reader's share of the process-wide buffer budget (`_reserved` bytes), which
    subclasses set to what they buffer (`_hold`) after each chunk; `_fail` and `finish` zero it.
    """

    __slots__ = ("_decoder", "_failed", "_finished", "_reserved", "ended")

    def __init__(self, content_encoding: str | None) -> None:
        self._reserved = 0  # first: __del__ reads it even if the rest of __init__ failed
        #: the stream's terminal event has been read, blank line included (SSE readers set it)
        self.ended = False
        self._failed: str | None = None
        self._finished: UsageResult | None = None
        self._decoder: Decoder | None = None
        try:
            self._decoder = decoder_for(content_encoding)
        except DecodeError as e:
            self._failed = str(e)

    def __del__(self) -> None:
        # A reader dropped without finish() (a caller's bug, a cancelled task) must not keep its share forever.
        if self._reserved:
            BUFFER_BUDGET.used -= self._reserved
            self._reserved = 0

    def feed(self, chunk: bytes) -> None:
        if self._failed is not None or self._finished is not None or not chunk:
            if self._failed is not None and self._finished is None and chunk:
                self._after_failure(chunk)
            return
        try:
            data = self._decoder.decompress(chunk) if self._decoder is not None else chunk
            if data:
                self._consume(data)
        except (DecodeError, SSEError) as e:
            self._fail(str(e))
        except Exception as e:  # never raise on the hot path
            self._fail(f"usage reader failed: {type(e).__name__}: {e}")

    def finish(self, *, complete: bool = True) -> UsageResult:
        if self._finished is not None:
            return self._finished
        try:
            if self._failed is None and self._decoder is not None:
                try:
                    tail = self._decoder.flush()
                except DecodeError as e:
                    tail = b""
                    if complete:
                        self._fail(str(e))
                if tail and self._failed is None:
                    self._consume(tail)
            result = unparseable(self._failed) if self._failed is not None else self._result(complete)
        except Exception as e:
            result = unparseable(f"usage reader failed: {type(e).__name__}: {e}")
        finally:
            self._release()
            self._hold(0)
        self._finished = result
        return result

    def _hold(self, size: int) -> bool:
        """Make this reader's reservation `size` bytes; False (reservation unchanged) if over the budget."""
        budget = BUFFER_BUDGET
        grow = size - self._reserved
        if grow > 0 and budget.used + grow > budget.cap:
            return False
        budget.used += grow
        self._reserved = size
        return True

    def _over_budget(self) -> None:
        """The budget refused: stop buffering for good; the result says the usage was too large to read."""
        self._fail(BUFFER_BUDGET.over_cap_error())

    def _fail(self, error: str) -> None:
        self._failed = error
        self._release()
        self._hold(0)

    def _release(self) -> None:
        """Drop buffered data once it can no longer be used (its reservation is given back by the caller)."""

    def _consume(self, data: bytes) -> None:
        raise NotImplementedError

    def _after_failure(self, chunk: bytes) -> None:
        """A chunk after the reader failed: nothing is read from it (SSE readers still watch for the end)."""

    def _result(self, complete: bool) -> UsageResult:
        raise NotImplementedError


class JsonReader(_DecodingReader):
    """Buffers a JSON body (bounded) and parses it once, in `finish`."""

    __slots__ = ("_chunks", "_size", "_too_large")

    def __init__(self, content_encoding: str | None) -> None:
        super().__init__(content_encoding)
        self._chunks: list[bytes] = []
        self._size = 0
        self._too_large = False

    def _consume(self, data: bytes) -> None:
        if self._too_large:
            return
        self._size += len(data)
        if self._size > MAX_BODY_BYTES:
            self._too_large = True
            self._chunks = []
            self._hold(0)
        elif self._hold(self._size):
            self._chunks.append(data)
        else:
            self._over_budget()

    def _release(self) -> None:
        self._chunks = []

    def _result(self, complete: bool) -> UsageResult:
        if self._too_large:
            return unparseable(f"response body over {MAX_BODY_BYTES} bytes: not parsed")
        raw = b"".join(self._chunks)
        self._chunks = []
        if not raw.strip():
            return missing(None, "empty response body")
        return self._from_raw(raw, complete)

    def _from_raw(self, raw: bytes, complete: bool) -> UsageResult:
        body, error = loads(raw, "response body")
        if error is not None:
            return unparseable(error)
        return self._extract(body, complete)

    def _extract(self, body: Any, complete: bool) -> UsageResult:
        raise NotImplementedError


def _starts_a_line(event: bytes, field: bytes) -> bool:
    """`field` opens one of the event's lines: a field of the event, not text quoted in its data."""
    return event.startswith(field) or b"\n" + field in event


def result_from_usage(
    usage: Usage | None, model: str | None, complete: bool, *, note: str | None = None
) -> UsageResult:
    """REPORTED (or PARTIAL when cut short) if counts were read, else MISSING."""
    if usage is None or not usage.reported:
        reason = "no usage in response" if complete else "stream ended before usage was reported"
        return missing(model, reason)
    status = UsageStatus.REPORTED if complete else UsageStatus.PARTIAL
    return UsageResult(usage=usage, status=status, model=model, error=note)


class SSEReader(_DecodingReader):
    """Splits an SSE stream into events and hands each to `_on_event` (which must stay cheap).

    If no `data:` event ever arrives, the first MAX_SNIFF_BYTES are kept and parsed as JSON at the
    end: providers answer a stream request with a plain JSON error, sometimes still labelled
    `text/event-stream`.
    """

    #: What the stream's last event starts with (`data: [DONE]`, `event: message_stop`): once that event
    #: reached the client the request succeeded, whatever the client does next (the openai SDKs close the
    #: connection at `[DONE]`, before the body's end). None: the stream ends with its body (Gemini's).
    TERMINAL: ClassVar[bytes | None] = None

    __slots__ = ("_error", "_events", "_kept", "_sniff", "_splitter", "_tail")

    def __init__(self, content_encoding: str | None) -> None:
        super().__init__(content_encoding)
        self._splitter = SSESplitter()
        self._sniff: bytearray | None = bytearray()
        self._events = 0  # data events seen
        self._error: str | None = None  # an error event in the stream
        self._kept = 0  # bytes a subclass keeps beyond the splitter and the sniff (Gemini's last event)
        self._tail = b""  # after a failure: the last bytes seen, for a terminal marker split across chunks

    def _consume(self, data: bytes) -> None:
        splitter = self._splitter
        sniff = self._sniff
        terminal = self.TERMINAL
        if sniff is not None and len(sniff) < MAX_SNIFF_BYTES:
            sniff += data[: MAX_SNIFF_BYTES - len(sniff)]
        for event in splitter.feed(data):
            if self._failed is not None:
                return
            # Here, where events are split anyway: one substring test per event, not a scan per chunk.
            if terminal is not None and terminal in event and _starts_a_line(event, terminal):
                self.ended = True
            if self._events == 0:
                if event_data(event) is None:
                    continue
                self._sniff = None
            self._events += 1
            self._on_event(event)
        if self._failed is not None:
            return
        # Reserve exactly what is held once the chunk is in: the pending event, the sniff (if still
        # kept) and a subclass's kept event. Complete events have left the splitter, and the first
        # data event drops the sniff, so this is often less than before the chunk. Reserving an upper
        # bound up front instead (e.g. twice the chunk while sniffing) refuses streams near the cap
        # that would hold next to nothing; checking after means a refused reader held one chunk too
        # many for a moment (a chunk already in memory as `data`), and drops it at once.
        sniff = self._sniff
        held = len(splitter._buf) + self._kept + (len(sniff) if sniff is not None else 0)
        grow = held - self._reserved
        if grow:  # `_hold(held)`, inlined: this runs for nearly every chunk of every stream
            budget = BUFFER_BUDGET
            if grow > 0 and budget.used + grow > budget.cap:
                self._over_budget()
            else:
                budget.used += grow
                self._reserved = held

    def _release(self) -> None:
        self._sniff = None
        self._splitter = SSESplitter()
        self._kept = 0

    def _after_failure(self, chunk: bytes) -> None:
        # No events are split any more (the buffers are gone): the raw bytes still show the terminal
        # marker, if the stream is not compressed; its blank line is not waited for.
        terminal = self.TERMINAL
        if terminal is None or self.ended:
            return
        data = self._tail + chunk
        if terminal in data:
            self.ended = True
        self._tail = data[-len(terminal) :]

    def _result(self, complete: bool) -> UsageResult:
        if self._events == 0:
            return self._not_sse(complete)
        return self._stream_result(complete)

    def _not_sse(self, complete: bool) -> UsageResult:
        raw = bytes(self._sniff or b"")
        self._sniff = None
        if not raw.strip():
            return missing(None, "empty response body" if complete else "stream ended before any event")
        body, error = loads(raw, "response body (no SSE events)")
        if error is not None:
            return unparseable(f"response is neither SSE nor JSON: {error}")
        return self._from_json_body(body, complete)

    def parse_event(self, event: bytes) -> Any:
        """JSON of an event's data; a malformed one marks the whole result UNPARSEABLE."""
        data = event_data(event)
        if data is None:
            return None
        body, error = loads(data, f"SSE event {self._events}")
        if error is not None:
            self._fail(error)
            return None
        return body

    def _on_event(self, event: bytes) -> None:
        raise NotImplementedError

    def _stream_result(self, complete: bool) -> UsageResult:
        raise NotImplementedError

    def _from_json_body(self, body: Any, complete: bool) -> UsageResult:
        """A stream request answered with a JSON body: error bodies are MISSING."""
        return missing(None, provider_error(body) or "stream request answered with a JSON body without usage")


def has_object(event: bytes, key: bytes) -> bool:
    """Whether `key` (quoted, e.g. b'"usage"') appears followed by ':' and an object, not null.

    A key inside a JSON string is escaped (`\\"usage\\"`), so it never matches.
    """
    start = 0
    n = len(event)
    while True:
        idx = event.find(key, start)
        if idx < 0:
            return False
        i = idx + len(key)
        while i < n and event[i] in b" \t\n":
            i += 1
        if i < n and event[i] == 58:  # ':'
            i += 1
            while i < n and event[i] in b" \t\n":
                i += 1
            if i < n and event[i] == 123:  # '{'
                return True
        start = idx + 1
