"""`majordomo costs` end to end on both stores: whole outputs, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from dirty_equals import IsUUID
from inline_snapshot import snapshot

from ._records import TRACE_A, record, run_cli, seed, tags


def test_totals_by_feature_step_user_json(known_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "--by", "feature,step,user", "--database-url", known_url, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == snapshot(
        [
            {
                "feature": "research",
                "step": "answer",
                "user": "alice",
                "requests": 1,
                "input_tokens": 5000,
                "output_tokens": 800,
                "total_cost": "0.027",
                "unpriced_requests": 0,
            },
            {
                "feature": "research",
                "step": "answer",
                "user": "bob",
                "requests": 1,
                "input_tokens": 2000,
                "output_tokens": 500,
                "total_cost": "0.00185",
                "unpriced_requests": 0,
            },
            {
                "feature": "research",
                "step": "plan",
                "user": "alice",
                "requests": 2,
                "input_tokens": 1600,
                "output_tokens": 350,
                "total_cost": "0.00036",
                "unpriced_requests": 1,
            },
            {
                "feature": "support",
                "step": None,
                "user": "bob",
                "requests": 1,
                "input_tokens": 800,
                "output_tokens": 100,
                "total_cost": "0.00018",
                "unpriced_requests": 0,
            },
            {
                "feature": None,
                "step": None,
                "user": "carol",
                "requests": 1,
                "input_tokens": 100,
                "output_tokens": 20,
                "total_cost": "0.000027",
                "unpriced_requests": 0,
            },
            {
                "feature": None,
                "step": None,
                "user": None,
                "requests": 1,
                "input_tokens": 0,
                "output_tokens": 0,
                "total_cost": None,
                "unpriced_requests": 1,
            },
        ]
    )


def test_table_has_total_line_and_none_labels(known_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--by", "feature", "--database-url", known_url)
    assert code == 0
    assert out == snapshot("""\
feature   requests  input tokens  output tokens  cost (USD)  unpriced
--------  --------  ------------  -------------  ----------  --------
research         4         8,600          1,650     0.02921         1
support          1           800            100     0.00018         0
(none)           2           100             20    0.000027         1
--------  --------  ------------  -------------  ----------  --------
total            7         9,500          1,770    0.029417         2
""")


def test_totals_csv_by_provider_and_model(known_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--by", "provider,model", "--database-url", known_url, "--csv")
    assert code == 0
    assert out == snapshot("""\
provider,model,requests,input_tokens,output_tokens,total_cost,unpriced_requests
anthropic,claude-sonnet-4-5,2,5000,800,0.027,1
gemini,gemini-2.5-flash,1,2000,500,0.00185,0
openai,gpt-4o-mini,3,2100,420,0.000567,0
openai,my-finetune-xyz,1,400,50,,1
""")


def test_totals_by_session_table(known_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--by", "session", "--database-url", known_url)
    assert code == 0
    assert out == snapshot("""\
session  requests  input tokens  output tokens  cost (USD)  unpriced
-------  --------  ------------  -------------  ----------  --------
s1              3         6,600          1,150     0.02736         1
s2              2         2,800            600     0.00203         0
(none)          2           100             20    0.000027         1
-------  --------  ------------  -------------  ----------  --------
total           7         9,500          1,770    0.029417         2
""")


def test_iso_window_is_half_open(known_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--since is inclusive, --until exclusive: T0 itself is in, T0 + 1 day is out."""
    argv = ["--by", "provider", "--since", "2026-03-01T10:00:00Z", "--until", "2026-03-02T10:00:00+00:00"]
    code, out, _ = run_cli(capsys, *argv, "--database-url", known_url, "--json")
    assert code == 0
    assert json.loads(out) == snapshot(
        [
            {
                "provider": "anthropic",
                "requests": 1,
                "input_tokens": 5000,
                "output_tokens": 800,
                "total_cost": "0.027",
                "unpriced_requests": 0,
            },
            {
                "provider": "gemini",
                "requests": 1,
                "input_tokens": 2000,
                "output_tokens": 500,
                "total_cost": "0.00185",
                "unpriced_requests": 0,
            },
            {
                "provider": "openai",
                "requests": 3,
                "input_tokens": 2400,
                "output_tokens": 450,
                "total_cost": "0.00054",
                "unpriced_requests": 1,
            },
        ]
    )


def test_since_duration_counts_back_from_now(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    seed(
        database_url,
        [
            record(at=now - timedelta(minutes=20), tags=tags("recent"), tokens=(10, 5), cost="0.000005"),
            record(at=now - timedelta(hours=3), tags=tags("today"), tokens=(10, 5), cost="0.000005"),
            record(at=now - timedelta(days=3), tags=tags("this-week"), tokens=(10, 5), cost="0.000005"),
            record(at=now - timedelta(days=30), tags=tags("last-month"), tokens=(10, 5), cost="0.000005"),
        ],
    )
    seen = {}
    for since in ("30m", "24h", "7d", "90d"):
        code, out, _ = run_cli(capsys, "--since", since, "--database-url", database_url, "--json")
        assert code == 0
        seen[since] = sorted(row["feature"] for row in json.loads(out))
    assert seen == snapshot(
        {
            "30m": ["recent"],
            "24h": ["recent", "today"],
            "7d": ["recent", "this-week", "today"],
            "90d": ["last-month", "recent", "this-week", "today"],
        }
    )


def test_trace_table(known_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--trace", TRACE_A, "--database-url", known_url)
    assert code == 0
    assert out == snapshot("""\
trace 4bf92f3577b34da6a3ce929d0e0e4736, 2026-03-01 10:00:00 to 2026-03-01 10:00:03 UTC
time (UTC)    provider    model              step    input  output  cost (USD)  span_id           http  pricing
------------  ----------  -----------------  ------  -----  ------  ----------  ----------------  ----  -------------
10:00:00.000  openai      gpt-4o-mini        plan    1,200     300     0.00036  00f067aa0ba902b7  200   priced
10:00:02.000  anthropic   claude-sonnet-4-5  answer  5,000     800       0.027  53995c3f42cd8ad8  200   priced
10:00:03.000  openai      my-finetune-xyz    plan      400      50         n/a  1f3c6d8e2a4b5c70  200   unknown_model
------------  ----------  -----------------  ------  -----  ------  ----------  ----------------  ----  -------------
total         3 requests                             6,600   1,150     0.02736                          1 unpriced
""")


def test_trace_json_accepts_upper_case_ids(known_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--trace", TRACE_A.upper(), "--database-url", known_url, "--json")
    assert code == 0
    assert json.loads(out) == snapshot(
        {
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "requests": 3,
            "input_tokens": 6600,
            "output_tokens": 1150,
            "total_cost": "0.02736",
            "unpriced_requests": 1,
            "records": [
                {
                    "time": "2026-03-01T10:00:00.000000Z",
                    "provider": "openai",
                    "model": "gpt-4o-mini",
                    "feature": "research",
                    "step": "plan",
                    "input_tokens": 1200,
                    "output_tokens": 300,
                    "total_cost": "0.00036",
                    "pricing_status": "priced",
                    "status_code": 200,
                    "span_id": "00f067aa0ba902b7",
                    "parent_span_id": "b7ad6b7169203331",
                    "request_id": IsUUID(7),
                },
                {
                    "time": "2026-03-01T10:00:02.000000Z",
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "feature": "research",
                    "step": "answer",
                    "input_tokens": 5000,
                    "output_tokens": 800,
                    "total_cost": "0.027",
                    "pricing_status": "priced",
                    "status_code": 200,
                    "span_id": "53995c3f42cd8ad8",
                    "parent_span_id": "b7ad6b7169203331",
                    "request_id": IsUUID(7),
                },
                {
                    "time": "2026-03-01T10:00:03.000000Z",
                    "provider": "openai",
                    "model": "my-finetune-xyz",
                    "feature": "research",
                    "step": "plan",
                    "input_tokens": 400,
                    "output_tokens": 50,
                    "total_cost": None,
                    "pricing_status": "unknown_model",
                    "status_code": 200,
                    "span_id": "1f3c6d8e2a4b5c70",
                    "parent_span_id": "b7ad6b7169203331",
                    "request_id": IsUUID(7),
                },
            ],
        }
    )


def test_trace_csv(known_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--trace", TRACE_A, "--database-url", known_url, "--csv")
    assert code == 0
    assert [line.split(",")[:8] for line in out.splitlines()] == snapshot(
        [
            ["time", "provider", "model", "feature", "step", "input_tokens", "output_tokens", "total_cost"],
            [
                "2026-03-01T10:00:00.000000Z",
                "openai",
                "gpt-4o-mini",
                "research",
                "plan",
                "1200",
                "300",
                "0.00036",
            ],
            [
                "2026-03-01T10:00:02.000000Z",
                "anthropic",
                "claude-sonnet-4-5",
                "research",
                "answer",
                "5000",
                "800",
                "0.027",
            ],
            ["2026-03-01T10:00:03.000000Z", "openai", "my-finetune-xyz", "research", "plan", "400", "50", ""],
        ]
    )


def test_unknown_trace_exits_1(known_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "--trace", "f" * 32, "--database-url", known_url) == snapshot(
        (1, "", "no records for trace ffffffffffffffffffffffffffffffff\n")
    )


def test_unknown_grouping_is_a_usage_error(known_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "--by", "feature,team", "--database-url", known_url) == snapshot(
        (
            2,
            "",
            "majordomo costs: --by: unknown grouping team "
            "(choose from feature, step, user, session, model, provider)\n",
        )
    )


def test_bad_since_is_a_usage_error(known_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "--since", "yesterday", "--database-url", known_url) == snapshot(
        (2, "", "majordomo costs: --since: expected an ISO time or a duration like 30m, 24h, 7d; got 'yesterday'\n")
    )


def test_missing_sqlite_file_is_not_created(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "typo.db"
    code, out, err = run_cli(capsys, "--database-url", f"sqlite:///{path}")
    assert (code, out, err.replace(str(tmp_path), "<tmp>")) == snapshot(
        (2, "", "majordomo costs: no database at <tmp>/typo.db (set --database-url or MAJORDOMO_DATABASE_URL)\n")
    )
    assert not path.exists()


def test_empty_database_prints_zero_totals(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--database-url", database_url)
    assert code == 0
    assert out == snapshot("""\
feature  requests  input tokens  output tokens  cost (USD)  unpriced
-------  --------  ------------  -------------  ----------  --------
-------  --------  ------------  -------------  ----------  --------
total           0             0              0         n/a         0
""")
