"""`--workers`: its values (`auto`, a count), its one-line errors, the start line, and the port it must not share."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from majordomo_otel.cli import main
from majordomo_otel.gateway.providers import ProviderTable
from majordomo_otel.gateway.serve import start_line
from majordomo_otel.gateway.settings import Settings, load_settings


def test_workers_auto_means_one_per_core_this_process_may_run_on() -> None:
    assert load_settings({"workers": "auto"}, environ={}).workers == len(os.sched_getaffinity(0))


def test_workers_come_from_the_flag_the_environment_or_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "m.toml"
    config.write_text("[gateway]\nworkers = 3\n")
    assert (
        load_settings({}, environ={}).workers,
        load_settings({"config": str(config)}, environ={}).workers,
        load_settings({"config": str(config)}, environ={"MAJORDOMO_WORKERS": "4"}).workers,
        load_settings({"workers": "5"}, environ={"MAJORDOMO_WORKERS": "4"}).workers,
    ) == (1, 3, 4, 5)


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_a_workers_value_that_is_not_a_count_is_one_line(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "--workers", value]) == 2
    assert capsys.readouterr().err == (
        f"majordomo gateway: setting workers: expected a number of processes (1 or more) or auto, got {value!r}\n"
    )


def test_the_start_line_says_how_many_workers_serve() -> None:
    settings = Settings(workers=4, port=9000)
    line = start_line(settings, ProviderTable.build(settings.base_urls()))
    assert line.startswith(
        "majordomo gateway on http://127.0.0.1:9000 (clients: MAJORDOMO_GATEWAY_URL=http://127.0.0.1:9000); "
        "4 worker processes; store sqlite:///./majordomo.db; "
    )


def test_workers_refuse_a_port_where_another_gateways_workers_listen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SO_REUSEPORT would let a second `--workers` gateway silently share the port with a running one."""
    with socket.socket() as running:
        running.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        running.bind(("127.0.0.1", 0))
        running.listen()
        port = running.getsockname()[1]
        argv = ["gateway", "--workers", "2", "--port", str(port), "--database-url", f"sqlite:///{tmp_path / 'gw.db'}"]
        assert main(argv) == 1
    assert capsys.readouterr().err == (
        "majordomo gateway: [Errno 98] Address already in use: the port is in use; stop the process using it or "
        "choose another with --port\n"
    )


def test_workers_need_a_database_they_can_share(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "--workers", "2", "--database-url", "sqlite:///:memory:"]) == 2
    assert capsys.readouterr().err == (
        "majordomo gateway: --workers 2 needs a database the workers share: each would have its own "
        "sqlite:///:memory:\n"
    )
