"""Request bodies: forwarded exactly as sent, read for `model`/`stream` without stalling the loop or unbounded memory.

The upstream here is a stand-in that parses nothing and keeps each body's bytes as they arrived (the
sim inflates gzip bodies and `json.loads` them). It and the client run in threads of their own, so
that the event loop under test runs the gateway alone.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import os
import struct
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_harness import Harness, sim_settings, start_gateway
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local_processes import free_port
from majordomo_otel.gateway import request_body
from majordomo_otel.gateway.request_body import (
    NOT_JSON,
    NOT_OBJECT,
    TOO_COMPLEX,
    BodyFacts,
    read_body_facts,
    scan,
)
from majordomo_otel.sim import SimServer

CHAT = "/v1/chat/completions"
LIMIT = 32 * 1024 * 1024  # the gateway's default max_body_bytes
BOMB_NOTE = f"request body inflates to more than {LIMIT} bytes; model not read, taken from the response"
REPLY = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


def thirty_mb_array() -> bytes:
    return b"[" + b"{}," * 9_999_999 + b"{}]"


def gzip_bomb() -> bytes:
    """1 GiB of zeros as one valid gzip member (~1 MB), built from a repeated byte-aligned deflate block."""
    zeros = b"\0" * (1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflate.compress(zeros)
    deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)  # the same bytes each time, after a full flush
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + block * 1024 + deflate.flush() + struct.pack("<II", crc, 0)  # ISIZE: 2**30 mod 2**32


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)  # the same bytes in every xdist worker


@dataclass(frozen=True)
class Seen:
    path: str
    content_encoding: str | None
    body: bytes


class Upstream(ThreadingHTTPServer):
    """Answers every request with one chat completion and keeps what arrived, raw; serves from threads."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)
        self.requests: list[Seen] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[Upstream]:
        thread = threading.Thread(target=self.serve_forever, name="test-upstream", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.shutdown()
            self.server_close()
            thread.join()


class _UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as providers do
    server: Upstream

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(Seen(self.path, self.headers.get("Content-Encoding"), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(REPLY)))
        self.end_headers()
        self.wfile.write(REPLY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream().running() as up:
        yield up


@pytest.fixture
async def gw(sim: SimServer, upstream: Upstream, tmp_path: Path) -> AsyncIterator[Harness]:
    settings = sim_settings(sim, f"sqlite:///{tmp_path / 'gw.db'}", tmp_path / "spool", openai_base_url=upstream.url)
    harness = await start_gateway(settings, sim=sim)
    try:
        yield harness
    finally:
        await harness.runner.cleanup()


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST from a thread of its own: the client's work stays off the event loop under test."""
    response = await asyncio.to_thread(httpx.post, url + CHAT, content=body, headers=headers, timeout=60)
    return response.status_code


class LoopLag:
    """The longest the event loop went without running a 1 ms ticker, while `measuring()` is open.

    `cpu` is what the loop's thread computed in that time, `wall` the time itself: on a loaded test
    machine (the suite runs several workers at once) wall-clock gaps also count other processes' turns.
    """

    cpu = wall = 0.0

    @asynccontextmanager
    async def measuring(self) -> AsyncIterator[LoopLag]:
        loop = asyncio.get_running_loop()

        async def tick() -> None:
            while True:
                wall, cpu = loop.time(), time.thread_time()
                await asyncio.sleep(0.001)
                self.wall = max(self.wall, loop.time() - wall - 0.001)
                self.cpu = max(self.cpu, time.thread_time() - cpu)

        ticker = loop.create_task(tick())
        try:
            yield self
        finally:
            ticker.cancel()


# --- over HTTP ----------------------------------------------------------------------------------------
async def test_deeply_nested_body_is_forwarded_and_recorded_with_a_note(gw: Harness, upstream: Upstream) -> None:
    body = b"[" * 2000 + b"]" * 2000  # json.loads: RecursionError (it was a 500, not forwarded, no status)
    status = await post(gw.url, body, gw.headers())
    [record] = await gw.records(expected=1)
    assert (status, upstream.requests[0].body) == (200, body)
    assert (record.status_code, record.request_model, record.error_message) == (200, None, NOT_OBJECT)


async def test_30mb_body_never_blocks_the_event_loop(gw: Harness, upstream: Upstream) -> None:
    body = thirty_mb_array()
    gc.collect()  # a full collection of the worker's heap is not the body's doing: not during the measurement
    async with LoopLag().measuring() as lag:  # json.loads of this body held the loop about a second
        status = await post(gw.url, body, gw.headers())
    [record] = await gw.records(expected=1)
    print(f"30 MB [{{}},...] body: event loop busy at most {lag.cpu * 1000:.0f} ms ({lag.wall * 1000:.0f} ms wall)")
    assert (status, upstream.requests[0].body == body) == (200, True)
    assert (record.status_code, record.model, record.error_message) == (200, "gpt-4o-mini-2024-07-18", NOT_OBJECT)
    # Typically 15-40 ms; one loaded CI run saw 111 ms. Parsing the body on the loop costs about a second.
    assert lag.cpu < 0.25


async def test_gzip_body_goes_upstream_byte_identical_and_its_model_is_recorded(
    gw: Harness, upstream: Upstream
) -> None:
    body = _gzip(json.dumps({"model": "gpt-4o", "stream": False, "messages": []}).encode())
    status = await post(gw.url, body, gw.headers(**{"Content-Encoding": "gzip", "Content-Type": "application/json"}))
    [record] = await gw.records(expected=1)
    assert (status, upstream.requests[0]) == (200, Seen(CHAT, "gzip", body))
    assert (record.request_model, record.streamed, record.error_message) == ("gpt-4o", False, None)


async def test_gzip_bomb_is_forwarded_and_noted(gw: Harness, upstream: Upstream) -> None:
    bomb = gzip_bomb()  # aiohttp inflated it itself and answered 413: not forwarded
    status = await post(gw.url, bomb, gw.headers(**{"Content-Encoding": "gzip"}))
    [record] = await gw.records(expected=1)
    assert (status, upstream.requests[0]) == (200, Seen(CHAT, "gzip", bomb))
    assert record.error_message == BOMB_NOTE


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


async def _wait_healthy(url: str, proc: asyncio.subprocess.Process) -> None:
    for _ in range(200):
        assert proc.returncode is None, "the gateway exited"
        try:
            if (await asyncio.to_thread(httpx.get, url + "/health")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("gateway did not become healthy")


async def test_four_30mb_bodies_at_once_stay_within_bounded_memory(upstream: Upstream, tmp_path: Path) -> None:
    """Peak RSS of a real gateway process (`majordomo gateway`), read from the kernel (VmHWM)."""
    port = free_port()
    env = {
        **os.environ,
        "MAJORDOMO_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
        "MAJORDOMO_OPENAI_BASE_URL": upstream.url,
        "MAJORDOMO_PORT": str(port),
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "majordomo_otel.cli",
        "gateway",
        "--no-auth",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    body = thirty_mb_array()
    try:
        await _wait_healthy(url, proc)
        idle = _peak_rss_mb(proc.pid)
        statuses = await asyncio.gather(*(post(url, body, {}) for _ in range(4)))
        peak = _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
    print(f"four 30 MB bodies at once: gateway peak RSS {peak:.0f} MB (idle {idle:.0f} MB)")
    assert (statuses, [len(r.body) for r in upstream.requests]) == ([200] * 4, [len(body)] * 4)
    assert peak < 500  # was ~970 MB


# --- the reader itself ----------------------------------------------------------------------------------
@pytest.fixture
def tiny_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every body goes through the scanner, two bytes per regex call: every token straddles a window."""
    monkeypatch.setattr(request_body, "FAST_PATH_BYTES", 0)
    monkeypatch.setattr(request_body, "WINDOW", 2)


def _facts_by_json_loads(body: bytes) -> BodyFacts:
    data = json.loads(body)
    if not isinstance(data, dict):
        return BodyFacts(note=NOT_OBJECT)
    model, stream = data.get("model"), data.get("stream")
    return BodyFacts(model if isinstance(model, str) else None, stream if isinstance(stream, bool) else None)


_TEXT = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from('"\\/\n\t\u2028'), max_size=12)
_KEYS = st.sampled_from(["model", "stream", "messages", "m", "model\\"]) | _TEXT
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=20,
)


def _dumps(members: list[tuple[str, Any]], indent: int | None, ensure_ascii: bool) -> bytes:
    """An object with these members in this order, duplicates kept (json.dumps of a dict cannot repeat a key)."""
    parts = [
        json.dumps(k, ensure_ascii=ensure_ascii) + ": " + json.dumps(v, indent=indent, ensure_ascii=ensure_ascii)
        for k, v in members
    ]
    sep = ",\n " if indent is not None else ","
    return ("{" + sep.join(parts) + "}").encode()


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    members=st.lists(st.tuples(_KEYS, _JSON), max_size=6),
    indent=st.none() | st.integers(0, 2),
    ensure_ascii=st.booleans(),
)
def test_scanner_reads_what_json_loads_reads(
    tiny_windows: None, members: list[tuple[str, Any]], indent: int | None, ensure_ascii: bool
) -> None:
    """Escaped quotes, "model" inside nested values, duplicate keys (the last wins), any whitespace."""
    body = _dumps(members, indent, ensure_ascii)
    assert scan(body) == _facts_by_json_loads(body)


@pytest.mark.parametrize(
    ("body", "facts"),
    [
        pytest.param(b'{"mod\\u0065l": "m", "str\\u0065am": true}', BodyFacts("m", True), id="escaped-keys"),
        pytest.param(
            b'{"messages": [{"model": "inner", "stream": true}], "x": "\\"model\\": \\"no\\""}',
            BodyFacts(),
            id="model-only-nested-or-in-a-string",
        ),
        pytest.param(b'{"model": "a", "model": "b"}', BodyFacts("b"), id="duplicate-key-last-wins"),
        pytest.param(b' \r\n\t{ "model" :\n"m" , "stream":false }\n', BodyFacts("m", False), id="whitespace"),
        pytest.param(b'{"t": NaN, "u": -Infinity, "model": "m"}', BodyFacts("m"), id="nan-as-json-loads-takes-it"),
        pytest.param(b'{"model": 4, "stream": "yes"}', BodyFacts(), id="wrong-types"),
        pytest.param(b'{"model": "' + b"x" * 5000 + b'"}', BodyFacts(), id="too-long-for-a-model-name"),
        pytest.param(b'\xef\xbb\xbf{"model": "m"}', BodyFacts("m"), id="utf8-bom"),
        pytest.param(b"{}", BodyFacts(), id="empty-object"),
        pytest.param(b"", BodyFacts(), id="empty-body"),
        pytest.param(b'{"model": "m\xff"}', BodyFacts(note=NOT_JSON), id="invalid-utf8"),
        pytest.param(b'{"model": "\\x"}', BodyFacts(note=NOT_JSON), id="invalid-escape"),
        pytest.param(b'{"mod\\el": "m"}', BodyFacts(note=NOT_JSON), id="invalid-escape-in-key"),
        pytest.param(b'{"model": "m"', BodyFacts(note=NOT_JSON), id="unclosed"),
        pytest.param(b'{"model": "m"} {}', BodyFacts(note=NOT_JSON), id="trailing-data"),
        pytest.param(b'{"a": "unterminated}', BodyFacts(note=NOT_JSON), id="unterminated-string"),
        pytest.param(b'{"a": ["x"]]}', BodyFacts(note=NOT_JSON), id="unbalanced"),
        pytest.param(b'{"a": "\\', BodyFacts(note=NOT_JSON), id="ends-in-a-backslash"),
        pytest.param(b" \n ", BodyFacts(note=NOT_JSON), id="only-whitespace"),
        pytest.param(b"not json", BodyFacts(note=NOT_JSON), id="not-json"),
        pytest.param(b"[1, 2]", BodyFacts(note=NOT_OBJECT), id="array"),
        pytest.param(b'"model"', BodyFacts(note=NOT_OBJECT), id="string"),
        pytest.param(b"null", BodyFacts(note=NOT_OBJECT), id="null"),
        pytest.param(
            b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b', "model": "m"}', BodyFacts("m"), id="nested-2000-in-an-object"
        ),
    ],
)
def test_scanner_edge_cases(tiny_windows: None, body: bytes, facts: BodyFacts) -> None:
    assert scan(body) == facts


def test_deep_nesting_in_a_small_body_falls_back_to_the_scanner() -> None:
    assert scan(b'{"model": "m", "a": ' + b"[" * 5000 + b"]" * 5000 + b"}") == BodyFacts("m")


@pytest.mark.parametrize(
    ("head", "unit", "tail", "facts"),
    [
        (b'{"model": "m", "stream": true, "messages": [', b"{},", b"{}]}", BodyFacts("m", True)),
        (b'{"messages": [', b"{},", b'{}], "model": "m"}', BodyFacts(note=TOO_COMPLEX)),
        (b'{"prompt": "', b'\\"q\\"\\n', b'", "model": "m"}', BodyFacts("m")),
    ],
    ids=["model-first", "over-budget", "long-escaped-string"],
)
def test_30mb_bodies_are_read_within_a_budget(head: bytes, unit: bytes, tail: bytes, facts: BodyFacts) -> None:
    assert scan(head + unit * (30_000_000 // len(unit)) + tail) == facts


def _raw_deflate(data: bytes) -> bytes:
    deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return deflate.compress(data) + deflate.flush()


@pytest.mark.parametrize(
    ("coding", "body", "facts"),
    [
        pytest.param("gzip", _gzip(b'{"model": "a"}'), BodyFacts("a"), id="gzip"),
        pytest.param("gzip", _gzip(b'{"model": ') + _gzip(b'"a"}'), BodyFacts("a"), id="gzip-two-members"),
        pytest.param("x-gzip", _gzip(b'{"model": "a"}'), BodyFacts("a"), id="x-gzip"),
        pytest.param("deflate", zlib.compress(b'{"model": "a"}'), BodyFacts("a"), id="deflate-zlib"),
        pytest.param(" Deflate ", _raw_deflate(b'{"model": "a"}'), BodyFacts("a"), id="deflate-raw"),
        pytest.param("identity", b'{"model": "a"}', BodyFacts("a"), id="identity"),
        pytest.param(
            "gzip", b'{"model": "a"}', BodyFacts(note="request body is not valid gzip; model unknown"), id="not-gzip"
        ),
        pytest.param(
            "gzip",
            _gzip(b'{"model": "a"}')[:-12],
            BodyFacts(note="request body is not valid gzip; model unknown"),
            id="gzip-truncated",
        ),
        pytest.param(
            "deflate",
            b"\x00garbage",
            BodyFacts(note="request body is not valid deflate; model unknown"),
            id="not-deflate",
        ),
        pytest.param(
            "br",
            b"\x0b\x02\x80{}\x03",
            BodyFacts(note="request body Content-Encoding 'br' not decoded; model taken from the response"),
            id="br",
        ),
    ],
)
async def test_compressed_bodies_are_inflated_for_reading(coding: str, body: bytes, facts: BodyFacts) -> None:
    assert await read_body_facts(body, coding, limit=LIMIT) == facts


async def test_reading_a_gzip_bomb_holds_about_the_limit_not_what_it_inflates_to() -> None:
    bomb = gzip_bomb()
    tracemalloc.start()
    try:
        facts = await read_body_facts(bomb, "gzip", limit=LIMIT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"gzip bomb ({len(bomb)} bytes, 1 GiB inflated): peak allocation while reading {peak / 2**20:.0f} MiB")
    assert (facts, peak < 1.5 * LIMIT) == (BodyFacts(note=BOMB_NOTE), True)


async def test_inflating_stops_at_the_limit() -> None:
    body = _gzip(b'{"model": "a", "pad": "' + b"x" * 2000 + b'"}')
    assert await read_body_facts(body, "gzip", limit=1000) == BodyFacts(
        note="request body inflates to more than 1000 bytes; model not read, taken from the response"
    )
