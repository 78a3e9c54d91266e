"""Incremental body decoding (`Content-Encoding`), so readers see plain bytes chunk by chunk.

gzip and deflate use `zlib.decompressobj` (no buffering of the whole body); br works only when the
optional `brotli` package is installed. Errors surface as `DecodeError`, which readers turn into
an UNPARSEABLE result: a reader never raises on the proxy's hot path.
"""

from __future__ import annotations

import zlib
from typing import Protocol

try:  # optional: `brotli` is not a dependency
    import brotli as _brotli
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None


class DecodeError(Exception):
    """The body could not be decompressed."""


class Decoder(Protocol):
    def decompress(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


def is_zlib_header(head: bytes) -> bool:
    """Whether the first 2 bytes of a deflate body are a zlib header (RFC 1950), not raw deflate.

    CM (low nibble of CMF) is 8, the window (CINFO) at most 32K, no preset dictionary, and
    CMF*256 + FLG a multiple of 31.
    """
    cmf, flg = head[0], head[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and not flg & 0x20 and (cmf << 8 | flg) % 31 == 0


class _Zlib:
    """gzip or deflate; deflate may be zlib-wrapped or raw (servers send both): its first 2 bytes
    decide, however the body is chunked (a 1-byte first chunk is held until the second arrives)."""

    __slots__ = ("_encoding", "_head", "_obj", "_started")

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._head = b""  # deflate: the bytes seen before the header could be told
        gzip = encoding in ("gzip", "x-gzip")
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self._started = False

    def decompress(self, data: bytes) -> bytes:
        if self._obj is None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return b""
            self._head = b""
            self._obj = zlib.decompressobj(zlib.MAX_WBITS if is_zlib_header(data) else -zlib.MAX_WBITS)
        try:
            out = self._obj.decompress(data)
        except zlib.error as e:
            raise DecodeError(f"{self._encoding} decoding failed: {e}") from None
        self._started = True
        return out

    def flush(self) -> bytes:
        if self._obj is None:  # deflate that never got 2 bytes: nothing, or a body cut after 1 byte
            if self._head:
                raise DecodeError(f"{self._encoding} stream ended before its end marker")
            return b""
        try:
            out = self._obj.flush()
        except zlib.error as e:  # pragma: no cover - flush rarely fails once decompress succeeded
            raise DecodeError(f"{self._encoding} decoding failed: {e}") from None
        if self._started and not self._obj.eof:
            raise DecodeError(f"{self._encoding} stream ended before its end marker")
        return out


class _Brotli:  # pragma: no cover - only with the optional brotli package
    __slots__ = ("_obj",)

    def __init__(self) -> None:
        assert _brotli is not None
        self._obj = _brotli.Decompressor()

    def decompress(self, data: bytes) -> bytes:
        try:
            out: bytes = self._obj.process(data)
        except Exception as e:
            raise DecodeError(f"br decoding failed: {e}") from None
        return out

    def flush(self) -> bytes:
        return b""


def decoder_for(content_encoding: str | None) -> Decoder | None:
    """A fresh decoder for `content_encoding`, None for identity; raises DecodeError if unsupported."""
    if not content_encoding:
        return None
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Zlib(encoding)
    if encoding == "br" and _brotli is not None:  # pragma: no cover - optional dependency
        return _Brotli()
    raise DecodeError(f"unsupported content-encoding {content_encoding!r}")
