"""Every recorded fixture comes back byte for byte, with its status and headers, whatever the path."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from inline_snapshot import snapshot

import majordomo_otel
from majordomo_otel.sim import SimServer, fixtures_dir, load_fixtures

FIXTURES = load_fixtures()


def test_all_bundled_fixtures_are_found() -> None:
    assert len(FIXTURES) == snapshot(51)


@pytest.mark.parametrize("key", sorted(FIXTURES))
async def test_replay_is_byte_identical(sim: SimServer, http: aiohttp.ClientSession, key: str) -> None:
    fixture = FIXTURES[key]
    async with http.post(sim.url + "/anything", headers={"X-Sim-Fixture": key}, data=b"{}") as response:
        body = await response.read()
        headers = {
            name: response.headers[name] for name in ("Content-Type", "Content-Encoding") if name in response.headers
        }
    expected_headers = {name.title(): value for name, value in fixture.headers.items()}
    assert (response.status, headers, body) == (fixture.status, expected_headers, fixture.wire_body())


def test_sse_wire_body_is_events_joined_by_separator() -> None:
    fixture = FIXTURES["gemini/stream_sse_text"]
    assert fixture.sse is not None
    assert fixture.wire_body() == ("\r\n\r\n".join(fixture.sse) + "\r\n\r\n").encode()


def test_gzip_wire_body_is_the_recorded_bytes() -> None:
    fixture = FIXTURES["openai/chat_basic_gzip_no_usage_details"]
    assert fixture.wire_body() == fixture.raw_body
    assert fixture.wire_body()[:2] == b"\x1f\x8b"


def test_json_array_stream_is_written_in_several_pieces() -> None:
    chunks = FIXTURES["gemini/stream_json_array_gzip"].wire_chunks()
    assert (len(chunks), b"".join(chunks)) == (4, FIXTURES["gemini/stream_json_array_gzip"].raw_body)


async def test_unknown_fixture_is_a_clear_400(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + "/v1/chat/completions", headers={"X-Sim-Fixture": "openai/nope"}) as response:
        assert (response.status, await response.json()) == snapshot(
            (
                400,
                {
                    "error": {
                        "message": "sim: no fixture named 'openai/nope'",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
        )


def test_fixtures_dir_defaults_to_the_exchanges_bundled_in_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAJORDOMO_FIXTURES_DIR", raising=False)
    found = fixtures_dir()
    assert (found.relative_to(Path(majordomo_otel.__file__).parent).as_posix(), (found / "README.md").is_file()) == (
        "sim/fixtures",
        True,
    )


def test_fixtures_dir_env_override_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "openai").mkdir()
    source = FIXTURES["openai/chat_cache_write"]
    data = {
        "provider": "openai",
        "api": "chat_completions",
        "request": source.request,
        "response": {"status": 200, "headers": {"content-type": "application/json"}, "body": {"ok": True}},
    }
    (tmp_path / "openai" / "mine.json").write_text(json.dumps(data))
    monkeypatch.setenv("MAJORDOMO_FIXTURES_DIR", str(tmp_path))
    loaded = load_fixtures()
    assert (fixtures_dir(), list(loaded), loaded["openai/mine"].wire_body()) == (
        tmp_path,
        ["openai/mine"],
        b'{"ok":true}',
    )
