"""parse_json is json.loads: the same value (types included) or the same exception with the same message,
for any document and any corruption of one."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from majordomo_otel.gateway.json_parse import FAST_BYTES, parse_json

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**64 + 2)  # where orjson's integers end
    | st.integers(min_value=-(2**63) - 2, max_value=-(2**63) + 2)
    | st.floats()  # NaN and infinities included: json.dumps writes them, json.loads reads them
    | st.text()  # lone surrogates included
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)


def _outcome(parse: Any, raw: bytes) -> tuple[str, str]:
    try:
        return ("value", repr(parse(raw)))  # repr: 1 and 1.0 differ, NaN equals NaN
    except Exception as exc:  # the exception itself is what is compared
        return (type(exc).__name__, str(exc))


@given(_VALUES, st.booleans())
@example(2**64, False)
@example(float("nan"), False)
@example("\ud800", False)
@example({"usage": {"prompt_tokens": 18446744073709551616}}, True)
def test_any_document_parses_as_json_loads_parses_it(value: Any, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert _outcome(parse_json, raw) == _outcome(json.loads, raw)


@given(_VALUES, st.data())
def test_any_corrupted_document_fails_or_parses_as_json_loads_does(value: Any, data: st.DataObject) -> None:
    raw = bytearray(json.dumps(value).encode("utf-8", "surrogatepass"))
    at = data.draw(st.integers(min_value=0, max_value=len(raw)))
    raw[at:at] = data.draw(st.binary(min_size=1, max_size=3))  # a BOM, a stray byte, invalid UTF-8, ...
    assert _outcome(parse_json, bytes(raw)) == _outcome(json.loads, bytes(raw))


def test_fixed_cases_outside_the_rfc_are_read_as_json_loads_reads_them() -> None:
    large = b'{"usage": {"prompt_tokens": 12345678901234567890123}, "pad": "' + b"x" * FAST_BYTES + b'"}'
    for raw in (
        b"\xef\xbb\xbf{}",
        b"[NaN, Infinity, -Infinity]",
        b"1e400",
        b'"\\udc00"',
        b"[" * 5000 + b"]" * 5000,
        large,
    ):
        assert _outcome(parse_json, raw) == _outcome(json.loads, raw), raw[:20]
