"""Tag values are any Unicode text: each becomes a header value every HTTP client sends and every server
keeps whole, and decodes back to itself. What no store keeps (NUL, lone surrogates) is refused up front."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from majordomo_otel import TagError, tags
from majordomo_otel.tags import decode_header_value, encode_header_value

# RFC 9110 §5.5 as h11 enforces it: visible ASCII, inner spaces and tabs only (ours: no tabs at all).
_FIELD_VALUE = re.compile(r"(?:[!-~](?:[ !-~]*[!-~])?)?")

unicode_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=256)


@given(unicode_text)
@example(" edge spaces ")
@example("Zoë 東京 🚀\r\n\t%")
def test_any_text_encodes_to_a_field_value_that_decodes_back(value: str) -> None:
    encoded = encode_header_value(value)
    assert (bool(_FIELD_VALUE.fullmatch(encoded)), decode_header_value(encoded)) == (True, value)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (" research ", "%20research%20"),
        ("  ", "%20%20"),
        ("deep research", "deep research"),
        ("Zoë", "Zo%C3%AB"),
        ("a\r\nb", "a%0D%0Ab"),
        ("100%", "100%25"),
    ],
    ids=["edge-spaces", "only-spaces", "inner-space", "non-ascii", "crlf", "percent"],
)
def test_encoding(value: str, encoded: str) -> None:
    assert encode_header_value(value) == encoded


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature": "a\x00b"}, "tag 'feature' contains a NUL character, which no store keeps"),
        ({"team": "\x00"}, "tag 'team' contains a NUL character, which no store keeps"),
        ({"user_id": "u-\ud800"}, "tag 'user_id' contains a lone surrogate, which is not Unicode text"),
    ],
    ids=["nul", "nul-extra", "lone-surrogate"],
)
def test_text_no_store_keeps_is_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(TagError) as exc_info:
        tags(**kwargs)
    assert str(exc_info.value) == message
