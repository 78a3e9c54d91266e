"""A budget's input is validated where it is made: scopes, limits, windows, time zones, modes, names."""

from __future__ import annotations

from decimal import Decimal

import pytest

from majordomo_otel.gateway.budgets import Budget, BudgetError, Condition, Mode, Window, parse_scope


def test_a_scope_has_one_canonical_spelling_whatever_the_order_it_is_written_in() -> None:
    written = ["model=gpt-4o-mini", "user_id=*", "tag.Team-Name=search", "feature=research", "key=ci-bot"]
    assert parse_scope(written) == parse_scope(
        "feature=research,key=ci-bot user_id=* model=gpt-4o-mini tag.team_name=search"
    )
    assert parse_scope(written) == (
        Condition("feature", "research"),
        Condition("user_id", None),
        Condition("key", "ci-bot"),
        Condition("model", "gpt-4o-mini"),
        Condition("tag.team_name", "search"),
    )


def test_a_free_form_tag_condition_reads_the_tag_under_its_raw_metadata_key() -> None:
    [condition] = parse_scope({"tag.team_name": "search"})
    assert (condition.metadata_key, str(condition)) == ("Team-Name", "tag.team_name=search")


def test_a_value_may_hold_equals_signs_and_non_ascii_text() -> None:
    assert parse_scope(["feature=a=b", "step=résumé"]) == (Condition("feature", "a=b"), Condition("step", "résumé"))


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("", "a budget needs a scope: one or more NAME=VALUE conditions, e.g. feature=research user_id=*"),
        (
            "team=search",
            "unknown scope 'team': use feature, step, user_id, session_id, key, provider, model or "
            "tag.NAME (a free-form tag)",
        ),
        ("feature", "scope 'feature': expected NAME=VALUE (or NAME=* for each value), e.g. feature=research"),
        ("feature=", "scope feature=: empty value (use feature=* for each value separately)"),
        ("feature=a feature=b", "scope feature given twice"),
        ("tag.key=x", "scope 'tag.key': tag key 'key' is reserved; use the named argument or another key"),
        ("tag.user_id=x", "scope 'tag.user_id': tag key 'user_id' is reserved; use the named argument or another key"),
        ("feature=" + "x" * 257, "scope feature: value longer than 256 characters"),
    ],
)
def test_a_bad_scope_is_refused_with_a_line_saying_what_is_wrong(scope: str, message: str) -> None:
    with pytest.raises(BudgetError) as caught:
        parse_scope(scope)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("given", "limit"),
    [
        ("5", Decimal(5)),
        ("0.25", Decimal("0.25")),
        (3, Decimal(3)),
        ("$1.50", Decimal("1.5")),
        ("0.000000000001", Decimal("1E-12")),
    ],
)
def test_a_limit_is_an_exact_decimal_of_usd(given: str | int, limit: Decimal) -> None:
    assert Budget.new("b", "feature=x", limit=given, window="day").limit == limit


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("0", "limit '0' must be more than 0 USD"),
        ("-5", "limit '-5' must be more than 0 USD"),
        ("NaN", "limit 'NaN' must be more than 0 USD"),
        ("Infinity", "limit 'Infinity' must be more than 0 USD"),
        ("five", "limit 'five' is not a number of USD (e.g. 5 or 0.25)"),
        ("1000001", "limit '1000001' is above the largest budget, 1000000 USD"),
        ("0.0000000000001", "limit '0.0000000000001' has more than 12 decimals"),
    ],
)
def test_a_limit_that_is_not_a_positive_amount_is_refused(given: str, message: str) -> None:
    with pytest.raises(BudgetError) as caught:
        Budget.new("b", "feature=x", limit=given, window="day")
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("window", "fortnight", "unknown window 'fortnight': use day, week, month"),
        ("timezone", "Mars/Olympus", "unknown time zone 'Mars/Olympus': use an IANA name such as Europe/Paris, or UTC"),
        (
            "timezone",
            "../../etc/passwd",
            "unknown time zone '../../etc/passwd': use an IANA name such as Europe/Paris, or UTC",
        ),
        ("mode", "shout", "unknown mode 'shout': use block or warn"),
        (
            "name",
            "has space",
            "budget name 'has space': 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        ),
    ],
)
def test_an_unknown_window_time_zone_mode_or_bad_name_is_refused(field: str, value: str, message: str) -> None:
    given = {"name": "b", "window": "day", "timezone": None, "mode": "block", field: value}
    with pytest.raises(BudgetError) as caught:
        Budget.new(given.pop("name"), "feature=x", limit="1", **given)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_defaults_are_utc_and_block_and_the_description_says_what_is_limited() -> None:
    budget = Budget.new("per-user", "feature=research user_id=*", limit="5", window="DAY")
    assert (budget.window, budget.timezone, budget.mode, budget.describe()) == (
        Window.DAY,
        "UTC",
        Mode.BLOCK,
        "feature=research user_id=*: up to $5 per day (UTC) for each user_id, block",
    )
