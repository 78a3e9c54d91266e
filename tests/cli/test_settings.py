"""Every gateway setting has a flag, an environment variable and a config-file key; flags win, then env, then file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from majordomo_otel.gateway.settings import Settings, SpanUsagePolicy, add_arguments, load_settings


def _flags(*argv: str) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return vars(parser.parse_args(list(argv)))


def test_defaults_are_the_documented_ones() -> None:
    assert load_settings({}, environ={}) == Settings(
        host="127.0.0.1",
        port=7680,
        database_url="sqlite:///./majordomo.db",
        openai_base_url="https://api.openai.com",
        anthropic_base_url="https://api.anthropic.com",
        gemini_base_url="https://generativelanguage.googleapis.com",
        auth=True,
        spool_dir=None,
        max_body_bytes=32 * 1024 * 1024,
        span_usage=SpanUsagePolicy.AUTO,
    )


def test_flag_beats_environment_beats_config_file(tmp_path: Path) -> None:
    config = tmp_path / "majordomo.toml"
    config.write_text('[gateway]\nport = 9001\nhost = "0.0.0.0"\ndatabase_url = "sqlite:///file.db"\n')
    environ = {"MAJORDOMO_CONFIG": str(config), "MAJORDOMO_PORT": "9002", "MAJORDOMO_DATABASE_URL": "sqlite:///env.db"}
    settings = load_settings(_flags("--port", "9003"), environ=environ)
    assert (settings.port, settings.database_url, settings.host) == (9003, "sqlite:///env.db", "0.0.0.0")


def test_no_auth_flag_and_on_off_values() -> None:
    assert load_settings(_flags("--no-auth"), environ={}).auth is False
    assert load_settings({}, environ={"MAJORDOMO_AUTH": "off"}).auth is False
    assert load_settings(_flags("--auth", "on"), environ={"MAJORDOMO_AUTH": "off"}).auth is True


def test_config_file_keys_may_sit_at_top_level(tmp_path: Path) -> None:
    config = tmp_path / "m.toml"
    config.write_text('span_usage = "always"\nupstream_timeout = 30\n')
    settings = load_settings(_flags("--config", str(config)), environ={})
    assert (settings.span_usage, settings.upstream_timeout) == (SpanUsagePolicy.ALWAYS, 30.0)


def test_unknown_config_keys_are_an_error(tmp_path: Path) -> None:
    config = tmp_path / "m.toml"
    config.write_text("[gateway]\nprot = 1\n")
    with pytest.raises(ValueError, match=r"unknown setting\(s\) in .*m\.toml: prot"):
        load_settings(_flags("--config", str(config)), environ={})


def test_bad_boolean_is_an_error() -> None:
    with pytest.raises(ValueError, match="setting auth: expected on/off, got 'maybe'"):
        load_settings({}, environ={"MAJORDOMO_AUTH": "maybe"})
