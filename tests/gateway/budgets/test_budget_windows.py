"""Calendar windows start at local midnight in the budget's time zone: day, ISO week (Monday), month."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from majordomo_otel.gateway.budgets import Period, Window, period_at


def _at(text: str, zone: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_a_utc_day_runs_from_midnight_to_midnight() -> None:
    assert period_at(Window.DAY, "UTC", _at("2026-12-07T13:45:00")) == Period(
        "2026-12-07", _at("2026-12-07T00:00:00"), _at("2026-12-08T00:00:00")
    )


def test_a_week_starts_on_monday() -> None:
    sunday = _at("2026-12-13T23:59:59")
    assert period_at(Window.WEEK, "UTC", sunday) == Period(
        "2026-12-07", _at("2026-12-07T00:00:00"), _at("2026-12-14T00:00:00")
    )


def test_a_month_in_december_ends_at_the_new_year() -> None:
    assert period_at(Window.MONTH, "UTC", _at("2026-12-31T23:00:00")) == Period(
        "2026-12-01", _at("2026-12-01T00:00:00"), _at("2027-01-01T00:00:00")
    )


def test_a_day_in_a_time_zone_starts_at_its_local_midnight() -> None:
    # 23:30 UTC on the 7th is already the 8th in Paris (UTC+1 in winter).
    period = period_at(Window.DAY, "Europe/Paris", _at("2026-12-07T23:30:00"))
    assert (period.key, datetime.fromtimestamp(period.start, UTC)) == (
        "2026-12-08",
        datetime(2026, 12, 7, 23, tzinfo=UTC),
    )


def test_the_day_clocks_go_forward_lasts_23_hours() -> None:
    period = period_at(Window.DAY, "Europe/Paris", _at("2026-03-29T12:00:00", "Europe/Paris"))
    assert (period.key, period.end - period.start) == ("2026-03-29", 23 * 3600)


def test_retry_after_is_the_whole_seconds_left_and_at_least_one() -> None:
    period = period_at(Window.DAY, "UTC", _at("2026-12-07T12:00:00"))
    assert [period.seconds_left(period.end - 90.2), period.seconds_left(period.end - 0.001)] == [91, 1]
