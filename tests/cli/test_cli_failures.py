"""Every command failure is one line saying what failed and what to do; tracebacks only when asked for."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from dirty_equals import IsStr

from majordomo_otel.cli import main

UNREACHABLE = "postgresql://postgres:s3cret@127.0.0.1:1/test"  # nothing listens on port 1
CANNOT = r"majordomo {cmd}: cannot use the database \(.+\): check --database-url or MAJORDOMO_DATABASE_URL .*\n"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("cmd", "argv"),
    [("costs", ["costs"]), ("keys", ["keys", "list"]), ("migrate", ["migrate"]), ("records", ["records", "import"])],
)
def test_an_unreachable_database_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str], cmd: str, argv: list[str]
) -> None:
    code, out, err = _run(capsys, *argv, "--database-url", UNREACHABLE)
    assert (code, out, err, "s3cret" in err) == (1, "", IsStr(regex=CANNOT.format(cmd=cmd)), False)


def test_verbose_adds_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--verbose", "costs", "--database-url", UNREACHABLE)
    assert (code, err.startswith("Traceback (most recent call last):"), err.splitlines()[-1]) == (
        1,
        True,
        IsStr(regex=CANNOT.format(cmd="costs").rstrip("\\n")),
    )


def test_debug_log_level_adds_the_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAJORDOMO_LOG_LEVEL", "debug")
    _, _, err = _run(capsys, "migrate", "--database-url", UNREACHABLE)
    assert err.startswith("Traceback (most recent call last):")


def test_migrate_never_prints_the_password(capsys: pytest.CaptureFixture[str], pg_schema: str) -> None:
    # the test server trusts every connection, so any password gets in: enough to see it is not printed
    url = f"postgresql://postgres:s3cret@127.0.0.1:5432/test?schema={pg_schema}"
    code, out, err = _run(capsys, "migrate", "--database-url", url)
    assert (code, out, err) == (
        0,
        IsStr(
            regex=rf"schema at version \d+: postgresql://postgres:\*\*\*@127\.0\.0\.1:5432/test\?schema={pg_schema}\n"
        ),
        "",
    )


def test_a_trace_id_that_is_not_one_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = _run(capsys, "costs", "--trace", "nothex", "--database-url", f"sqlite:///{tmp_path / 'x.db'}")
    assert (code, out, err) == (
        2,
        "",
        "majordomo costs: --trace 'nothex' is not a trace id (32 hex digits, as in llm_requests)\n",
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert (exit_.value.code, capsys.readouterr().out) == (0, IsStr(regex=r"majordomo \d+\.\d+\.\d+.*\n"))


def test_gateway_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAJORDOMO_", "OTEL_"))}
        done = subprocess.run(
            [sys.executable, "-m", "majordomo_otel.cli", "gateway", "--no-auth", "--port", str(port)],
            env=env | {"MAJORDOMO_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    last = done.stderr.strip().splitlines()[-1]
    assert (done.returncode, "Traceback" in done.stderr, last) == (
        1,
        False,
        IsStr(regex=r"majordomo gateway: .*address already in use.*: the port is in use; stop the process using it .*"),
    )
