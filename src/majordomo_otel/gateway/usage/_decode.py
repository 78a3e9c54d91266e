"""Incremental body decoding (`Content-Encoding`), so readers see plain bytes chunk by chunk.

gzip and deflate use `zlib.decompressobj` (no buffering of the whole body); br works only when the
optional `brotli` package is installed. Errors surface as `DecodeError`, which readers turn into
an UNPARSEABLE result: a reader never raises on the proxy's hot path.
"""

from __future__ import annotations

import zlib
from typing import Protocol

try:  # optional: `brotli` is not a dependency
    import brotli as _brotli  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None


class DecodeError(Exception):
    """The body could not be decompressed."""


class Decoder(Protocol):
    def decompress(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class _Zlib:
    """gzip or deflate; deflate tries zlib-wrapped first, then raw (servers send both)."""

    __slots__ = ("_encoding", "_obj", "_started")

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(wbits)
        self._started = False

    def decompress(self, data: bytes) -> bytes:
        try:
            out = self._obj.decompress(data)
        except zlib.error as e:
            if self._encoding == "deflate" and not self._started:
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                return self.decompress(data)
            raise DecodeError(f"{self._encoding} decoding failed: {e}") from None
        self._started = True
        return out

    def flush(self) -> bytes:
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
            return self._obj.process(data)
        except Exception as e:
            raise DecodeError(f"br decoding failed: {e}") from None

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
