"""Spool and journal lines: every record reads back exactly as it was written, whatever its text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from _store_helpers import make_record
from hypothesis import example, given
from hypothesis import strategies as st

from majordomo_otel.gateway.store._codec import json_text, record_from_json, record_to_line, utc_text


def test_a_record_reads_back_equal() -> None:
    record = make_record(3)
    assert record_from_json(record_to_line(record)) == record


def test_a_line_is_one_json_object_ending_in_a_newline_with_costs_as_text() -> None:
    line = record_to_line(make_record(0, total_cost=Decimal("0.000000123456789")))
    assert (line.count(b"\n"), line.endswith(b"\n"), json.loads(line)["total_cost"]) == (1, True, "1.23456789E-7")


def test_a_lone_surrogate_is_kept_exactly_in_ascii_escaped_form() -> None:
    record = make_record(0, model="gpt-4o-mini\ud800", raw_metadata={"user_id": "a\udcff"})
    line = record_to_line(record)
    assert (line.isascii(), record_from_json(line)) == (True, record)


def test_naive_times_are_taken_as_utc() -> None:
    naive = make_record(0, requested_at=datetime(2026, 1, 2, 3, 4, 5), responded_at=None)
    back = record_from_json(record_to_line(naive))
    assert back.requested_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _isoformat_utc(value: datetime) -> str:
    """What `utc_text` wrote before it used orjson: its reference."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.timezones()))
@example(datetime(2026, 12, 7, 13, 2, 58, 0, tzinfo=UTC))  # a zero fraction: orjson would omit it
@example(datetime(2026, 12, 7, 14, 2, 58, 1, tzinfo=timezone(timedelta(hours=1))))
def test_utc_text_is_fixed_width_isoformat_in_utc(value: datetime) -> None:
    assert utc_text(value) == _isoformat_utc(value)


def test_utc_text_of_a_naive_time_reads_it_as_utc() -> None:
    assert utc_text(datetime(2026, 1, 2, 3, 4, 5, 6)) == "2026-01-02T03:04:05.000006Z"


@given(st.dictionaries(st.text(), st.text() | st.integers() | st.none() | st.booleans()))
@example({"User-Id": "a\ud800"})  # a lone surrogate: orjson refuses it, the stdlib writes it
@example({"Feature": '\x00\x1f\x7f\u2028 "\\ é 🙂'})
def test_json_text_is_the_stdlibs_compact_json(value: dict[str, object]) -> None:
    assert json_text(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("value", [{1: "not a text key"}, {"\udcff": "a lone surrogate key"}])
def test_json_text_writes_what_orjson_refuses_as_the_stdlib_does(value: dict[object, object]) -> None:
    assert json_text(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
