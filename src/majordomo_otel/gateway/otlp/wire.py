"""Protobuf wire format for the parts of OTLP the gateway writes: varints, length-delimited fields, attributes.

Field numbers are those of opentelemetry-proto's `common.proto` (`AnyValue`, `KeyValue`); the
decoders on the other side are the generated classes, which the tests use to read everything back.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Final

#: varint bytes of every length below 16 KiB: one list index instead of a loop per field.
_SMALL: Final = [bytes((n,)) if n < 0x80 else bytes((n & 0x7F | 0x80, n >> 7)) for n in range(1 << 14)]
_INT64: Final = (-(1 << 63), (1 << 63) - 1)
_DOUBLE: Final = struct.Struct("<Bd").pack  # AnyValue.double_value (field 4, fixed64) with its tag
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def varint(n: int) -> bytes:
    """Unsigned LEB128, as protobuf writes lengths, enums and non-negative int64s."""
    if n < 1 << 14:
        return _SMALL[n]
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (`tag` is already `number << 3 | 2`)."""
    return bytes((tag,)) + varint(len(payload)) + payload


def text(value: str) -> bytes:
    """UTF-8, with anything that is not encodable (a lone surrogate) replaced: a receiver rejects a whole
    batch over one invalid string, so the span keeps the attribute with U+FFFD in it instead."""
    try:
        return value.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value).encode()


def any_value(value: Any) -> bytes:
    """`AnyValue` for an OTel attribute value: str, bool, int, float, bytes, None, or a sequence or mapping of them.

    An int outside int64 (a hostile usage count) goes as a double rather than being dropped.
    """
    if isinstance(value, str):
        return field(0x0A, text(value))
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            return _DOUBLE(0x21, float(value))
        return b"\x18" + varint(value & 0xFFFFFFFFFFFFFFFF)  # two's complement, as int64 is on the wire
    if isinstance(value, float):
        return _DOUBLE(0x21, value)
    if value is None:
        return b""
    if isinstance(value, bytes):
        return field(0x3A, value)
    if isinstance(value, Mapping):
        return field(0x32, b"".join(key_value(0x0A, str(k), v) for k, v in value.items()))
    if isinstance(value, Sequence):
        return field(0x2A, b"".join(field(0x0A, any_value(v)) for v in value))
    return field(0x0A, text(str(value)))


def string_field(tag: int, value: str) -> bytes:
    """A proto3 `string` field outside a oneof: absent when empty, as protobuf writes it."""
    return field(tag, text(value)) if value else b""


def key_value(tag: int, key: str, value: Any) -> bytes:
    """One `KeyValue` as field `tag` of its parent (span attributes are 9, resource and kvlist 1, scope 3)."""
    return field(tag, string_field(0x0A, key) + field(0x12, any_value(value)))


def key_values(tag: int, attributes: Mapping[str, Any]) -> bytes:
    return b"".join(key_value(tag, k, v) for k, v in attributes.items())


class SpanAttributes:
    """Span attributes (field 9 of `Span`), each attribute's bytes cached when its value repeats.

    Most values are the same request after request (operation, provider, path, model, statuses,
    tags, status codes): a dict lookup instead of an encoding. Strings, bools and ints are cached by
    (key, value), ints apart (1 and True are equal as dict keys); a float (costs, timings: rarely
    the same twice) is its key's cached head plus 9 bytes. Caches are bounded in entries and entry
    size, and simply start over when full.
    """

    __slots__ = ("_doubles", "_ints", "_pairs")

    MAX_ENTRIES: Final = 4096
    MAX_ENTRY_BYTES: Final = 512

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, Any], bytes] = {}  # str and bool values
        self._ints: dict[tuple[str, Any], bytes] = {}
        self._doubles: dict[str, bytes] = {}  # key → the KeyValue up to its double's 8 bytes

    def encode(self, attributes: Mapping[str, Any]) -> bytes:
        pairs, ints, doubles = self._pairs, self._ints, self._doubles
        out: list[bytes] = []
        append = out.append
        for item in attributes.items():
            kind = type(item[1])
            if kind is str:
                encoded = pairs.get(item)
            elif kind is float:
                append((doubles.get(item[0]) or self._double_head(item[0])) + _DOUBLE(0x21, item[1]))
                continue
            elif kind is int:
                encoded = ints.get(item)
            elif kind is bool:
                encoded = pairs.get(item)
            else:
                append(key_value(0x4A, *item))
                continue
            if encoded is None:
                encoded = key_value(0x4A, *item)
                if len(encoded) <= self.MAX_ENTRY_BYTES:
                    cache = ints if kind is int else pairs
                    if len(cache) >= self.MAX_ENTRIES:
                        cache.clear()
                    cache[item] = encoded
            append(encoded)
        return b"".join(out)

    def _double_head(self, key: str) -> bytes:
        if len(self._doubles) >= self.MAX_ENTRIES:
            self._doubles.clear()
        key_field = string_field(0x0A, key)
        head = b"\x4a" + varint(len(key_field) + 11) + key_field + b"\x12\x09"  # AnyValue: tag + fixed64
        self._doubles[key] = head
        return head
