"""`majordomo budgets create|list|delete` (and `costs --budgets`), run as a user runs them."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest
from dirty_equals import IsStr

from majordomo_otel.cli import main
from majordomo_otel.gateway.budgets import list_budgets, period_at
from majordomo_otel.gateway.budgets._store import apply_flush
from majordomo_otel.gateway.store import open_store

RESETS = r"\d{4}-\d\d-\d\d \d\d:\d\d \(in \d+(h \d\dm|d \d+h)\)"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _spend(url: str, pico_by_subject: dict[str, int]) -> None:
    """Spend in each budget's current window, as the gateways would have flushed it."""

    async def run() -> None:
        store = open_store(url)
        await store.open()
        try:
            deltas = {}
            for budget in await list_budgets(store):
                window = period_at(budget.window, budget.timezone, time.time()).key
                deltas |= {
                    (budget.id, window, s): v for s, v in pico_by_subject.items() if bool(s) == bool(budget.each)
                }
            await apply_flush(store, "a-gateway", 1, deltas)
        finally:
            await store.close()

    asyncio.run(run())


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'b.db'}"


def test_create_confirms_what_the_budget_limits(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    created = _run(
        capsys,
        "budgets",
        "create",
        "per-user",
        "feature=research",
        "user_id=*",
        "--limit",
        "5",
        "--window",
        "day",
        "--database-url",
        url,
    )
    assert created == (
        0,
        "created budget per-user: feature=research user_id=*: up to $5 per day (UTC) for each user_id, block\n",
        "",
    )


def test_list_shows_spend_limit_share_used_and_when_each_window_resets(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(
        capsys,
        "budgets",
        "create",
        "research",
        "feature=research",
        "--limit",
        "4",
        "--window",
        "week",
        "--timezone",
        "Europe/Paris",
        "--database-url",
        url,
    )
    _run(
        capsys,
        "budgets",
        "create",
        "per-user",
        "user_id=*",
        "--limit",
        "2",
        "--window",
        "month",
        "--mode",
        "warn",
        "--database-url",
        url,
    )
    _spend(url, {"": 3 * 10**12, '["alice"]': 2 * 10**12, '["bob"]': 5 * 10**11})
    code, out, err = _run(capsys, "budgets", "list", "--database-url", url)
    assert (code, err, out.splitlines()) == (
        0,
        "",
        [
            IsStr(regex=r"name +scope +mode +limit +spent +used +window +resets \(UTC\)"),
            IsStr(regex=rf"per-user +user_id=\* +warn +2 +2 +100\.0% +month UTC +{RESETS}"),
            IsStr(regex=r" +user_id=alice +2 +100\.0%"),
            IsStr(regex=r" +user_id=bob +0\.5 +25\.0%"),
            IsStr(regex=r" +2 value\(s\), 1 at the limit"),
            IsStr(regex=rf"research +feature=research +block +4 +3 +75\.0% +week Europe/Paris +{RESETS}"),
        ],
    )


def test_list_as_json_gives_exact_decimal_strings(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _run(
        capsys,
        "budgets",
        "create",
        "research",
        "feature=research",
        "--limit",
        "0.25",
        "--window",
        "day",
        "--database-url",
        url,
    )
    _spend(url, {"": 123_456_789_012})
    code, out, _ = _run(capsys, "budgets", "list", "--json", "--database-url", url)
    assert (code, json.loads(out)) == (
        0,
        [
            {
                "name": "research",
                "scope": {"feature": "research"},
                "mode": "block",
                "window": "day",
                "timezone": "UTC",
                "limit_usd": "0.25",
                "spent_usd": "0.123456789012",
                "share_used": 0.493827156048,
                "window_start": IsStr(regex=r"\d{4}-\d\d-\d\dT00:00:00\+00:00"),
                "resets_at": IsStr(regex=r"\d{4}-\d\d-\d\dT00:00:00\+00:00"),
                "values": None,
                "over_limit": 0,
                "top": [],
            }
        ],
    )


def test_costs_can_show_budget_use(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _run(
        capsys,
        "budgets",
        "create",
        "research",
        "feature=research",
        "--limit",
        "4",
        "--window",
        "day",
        "--database-url",
        url,
    )
    _spend(url, {"": 10**12})
    listed = _run(capsys, "budgets", "list", "--database-url", url)
    assert _run(capsys, "costs", "--budgets", "--database-url", url) == listed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["bogus=1", "--limit", "1"],
            "unknown scope 'bogus': use feature, step, user_id, session_id, key, provider, "
            "model or tag.NAME (a free-form tag)",
        ),
        (["feature=x", "--limit", "0"], "limit '0' must be more than 0 USD"),
        (
            ["feature=x", "--limit", "1", "--timezone", "Moon/Base"],
            "unknown time zone 'Moon/Base': use an IANA name such as Europe/Paris, or UTC",
        ),
        (["key=nobody", "--limit", "1"], "no Majordomo key is named 'nobody' (`majordomo keys list`)"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    argv: list[str], message: str, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "budgets", "create", "b", *argv, "--window", "day", "--database-url", url)
    db = tmp_path / "b.db"
    rows = sqlite3.connect(db).execute("SELECT COUNT(*) FROM majordomo_budgets").fetchone()[0] if db.exists() else 0
    assert (code, out, err, rows) == (2, "", f"majordomo budgets: {message}\n", 0)


def test_a_duplicate_is_refused_and_the_first_budget_stays(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _run(
        capsys,
        "budgets",
        "create",
        "research",
        "feature=research",
        "--limit",
        "5",
        "--window",
        "day",
        "--database-url",
        url,
    )
    again = _run(
        capsys,
        "budgets",
        "create",
        "research",
        "feature=chat",
        "--limit",
        "1",
        "--window",
        "day",
        "--database-url",
        url,
    )
    _, listing, _ = _run(capsys, "budgets", "list", "--database-url", url)
    assert (again, listing.splitlines()[1]) == (
        (2, "", "majordomo budgets: a budget named 'research' already exists (`majordomo budgets list`)\n"),
        IsStr(regex=r"research +feature=research +block +5 .*"),
    )


def test_delete_removes_the_budget(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _run(
        capsys,
        "budgets",
        "create",
        "research",
        "feature=research",
        "--limit",
        "5",
        "--window",
        "day",
        "--database-url",
        url,
    )
    deleted = _run(capsys, "budgets", "delete", "research", "--database-url", url)
    again = _run(capsys, "budgets", "delete", "research", "--database-url", url)
    assert (deleted, again, _run(capsys, "budgets", "list", "--database-url", url)[1]) == (
        (0, "deleted budget research (feature=research: up to $5 per day (UTC), block)\n", ""),
        (2, "", "majordomo budgets: no budget named 'research' (`majordomo budgets list`)\n"),
        "no budgets (create one with `majordomo budgets create NAME SCOPE... --limit USD --window day`)\n",
    )


def test_listing_where_there_is_no_database_creates_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nothing-here.db"
    assert (_run(capsys, "budgets", "list", "--database-url", f"sqlite:///{path}"), path.exists()) == (
        (2, "", f"majordomo budgets: no database at {path} (set --database-url or MAJORDOMO_DATABASE_URL)\n"),
        False,
    )
