"""Incremental Server-Sent Events splitting: bytes in, whole raw events out.

Events may be split across arbitrary chunk boundaries, separated by "\\n\\n" or "\\r\\n\\r\\n" (Gemini),
and a CR may end one chunk with its LF starting the next. Events come back as raw bytes (line
endings normalised to "\\n") so readers can test them with cheap substring checks and parse JSON
only for the few events that carry usage.
"""

from __future__ import annotations

#: An event larger than this without a separator is not SSE we can use (protects memory).
MAX_EVENT_BYTES = 32 * 1024 * 1024


class SSEError(Exception):
    """The byte stream cannot be SSE."""


class SSESplitter:
    __slots__ = ("_buf", "_cr")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._cr = False  # the previous chunk ended with "\r" (already turned into "\n")

    def feed(self, data: bytes) -> list[bytes]:
        """Append `data`; return the events completed by it (possibly none)."""
        if self._cr and data.startswith(b"\n"):
            data = data[1:]  # the LF of a CRLF split across chunks: the CR already ended the line
        self._cr = data.endswith(b"\r")
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf
        start = len(buf) - 1 if buf else 0
        buf += data
        if buf.find(b"\n\n", start) < 0:
            if len(buf) > MAX_EVENT_BYTES:
                raise SSEError(f"SSE event larger than {MAX_EVENT_BYTES} bytes without a separator")
            return []
        parts = bytes(buf).split(b"\n\n")
        self._buf = bytearray(parts.pop())
        return [p for p in parts if p]

    def pending(self) -> bytes:
        """Bytes of an event not yet terminated by a blank line."""
        return bytes(self._buf)


def event_data(event: bytes) -> bytes | None:
    """The event's `data` field (multi-line data joined by "\\n"), None if it has none."""
    if event.startswith(b"data:") and b"\n" not in event:  # the common single-line case
        data = event[5:]
        return data[1:] if data.startswith(b" ") else data
    lines = [line for line in event.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    return b"\n".join(line[6:] if line.startswith(b"data: ") else line[5:] for line in lines)


def event_name(event: bytes) -> bytes | None:
    """The event's `event` field, None if it has none."""
    if not event.startswith(b"event:"):
        idx = event.find(b"\nevent:")
        if idx < 0:
            return None
        event = event[idx + 1 :]
    end = event.find(b"\n")
    name = event[6:end] if end >= 0 else event[6:]
    return name.strip()
