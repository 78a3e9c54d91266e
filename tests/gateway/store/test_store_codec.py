"""Spool and journal lines: every record reads back exactly as it was written, whatever its text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from _store_helpers import make_record

from majordomo_otel.gateway.store._codec import record_from_json, record_to_line


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
