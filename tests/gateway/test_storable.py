"""make_storable: whatever text a request brings, every value it leaves is storable, and only bad text changes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.storable import REPLACEMENT, make_storable

_BAD = re.compile("[\x00\ud800-\udfff]")
# Mostly ASCII (the fast path), with NUL, lone surrogates and other non-ASCII text mixed in.
_TEXT = st.text(alphabet=st.one_of(st.characters(max_codepoint=127), st.sampled_from("\x00\ud800\udcff\udfffé€😀")))


def _record(model: str, error: str | None, tags: dict[str, str]) -> RequestRecord:
    record = RequestRecord(
        id="0193a4b2-0000-7000-8000-000000000000",
        provider="openai",
        request_path="/v1/chat/completions",
        request_method="POST",
        requested_at=datetime(2026, 12, 7, tzinfo=UTC),
        model=model,
        error_message=error,
    )
    record.raw_metadata = dict(tags)
    return record


@given(model=_TEXT, error=st.one_of(st.none(), _TEXT), tags=st.dictionaries(_TEXT, _TEXT, max_size=4))
def test_every_value_left_is_storable_and_clean_values_are_the_same_objects(
    model: str, error: str | None, tags: dict[str, str]
) -> None:
    record = _record(model, error, tags)
    changed = make_storable(record)
    values = [record.model, *record.raw_metadata, *record.raw_metadata.values()]
    expected_changed = (["model"] if _BAD.search(model) else []) + (
        ["error_message"] if error is not None and _BAD.search(error) else []
    )
    assert not any(_BAD.search(v) for v in values if v is not None)
    assert [c for c in changed if not c.startswith("tag ")] == expected_changed
    assert (record.model is model) == (not _BAD.search(model))
    assert bool(changed) == bool(record.error_message and "unstorable characters" in record.error_message)


def test_a_clean_ascii_record_is_left_alone() -> None:
    record = _record("gpt-4o-mini", None, {"Feature": "research", "User-Id": "u-1"})
    assert (make_storable(record), record.error_message, record.raw_metadata) == (
        [],
        None,
        {"Feature": "research", "User-Id": "u-1"},
    )


def test_non_ascii_text_that_is_valid_is_kept_as_sent() -> None:
    record = _record("modèle-€", None, {"Feature": "recherche 😀"})
    assert (make_storable(record), record.model, record.raw_metadata) == ([], "modèle-€", {"Feature": "recherche 😀"})


def test_nul_and_lone_surrogates_become_the_replacement_character_and_are_named() -> None:
    record = _record("gpt\x00x", None, {"Feature": "a\udcffb"})
    changed = make_storable(record)
    assert (changed, record.model, record.raw_metadata) == (
        ["model", "tag Feature"],
        f"gpt{REPLACEMENT}x",
        {"Feature": f"a{REPLACEMENT}b"},
    )
