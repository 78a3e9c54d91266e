"""SimServer in the loop and in a thread, what it records, and the CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import urllib.request

import aiohttp
from inline_snapshot import snapshot

from majordomo_otel.sim import RecordedRequest, SimServer


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read()


async def test_records_method_path_query_headers_and_body(sim: SimServer) -> None:
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).encode()
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    host, port = sim.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nX-Custom: one\r\nx-custom: two\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await reader.read()
    writer.close()
    recorded = sim.requests[0]
    assert (recorded.method, recorded.path, recorded.body, recorded.json) == ("POST", path, body, json.loads(body))
    assert recorded.headers == [
        ("Host", host),
        ("X-Custom", "one"),
        ("x-custom", "two"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    assert (recorded.header("X-CUSTOM"), recorded.header_values("x-Custom"), recorded.header("absent")) == (
        "one",
        ["one", "two"],
        None,
    )


def test_recorded_json_is_none_for_non_json_bodies() -> None:
    assert RecordedRequest("POST", "/", [], b"not json").json is None


async def test_clear_forgets_requests(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as session, session.get(sim.url + "/_sim/health") as response:
        assert await response.text() == "ok"
    sim.clear()
    assert sim.requests == []


async def test_record_false_keeps_nothing() -> None:
    async with SimServer(record=False) as sim, aiohttp.ClientSession() as session:
        async with session.post(sim.url + "/v1/embeddings", json={"model": "m", "input": "x"}) as response:
            assert response.status == 200
        assert sim.requests == []


def test_in_thread_serves_sync_clients() -> None:
    with SimServer.in_thread() as sim:
        status, body = post(
            sim.url + "/v1/chat/completions",
            json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}).encode(),
            {"Content-Type": "application/json"},
        )
        assert (status, json.loads(body)["choices"][0]["message"]["content"], len(sim.requests)) == (
            200,
            "sim answer to: hello",
            1,
        )


def test_in_thread_release_from_another_thread() -> None:
    with SimServer.in_thread() as sim:
        result: list[bytes] = []
        headers = {"X-Sim-Fixture": "anthropic/messages_stream_text", "X-Sim-Hold": "1"}
        worker = threading.Thread(target=lambda: result.append(post(sim.url + "/v1/messages", b"{}", headers)[1]))
        worker.start()
        worker.join(0.3)
        assert (worker.is_alive(), result) == (True, [])
        sim.release()
        worker.join(5)
        sim.wait_finished_sync()
        assert (len(result[0]) > 0, sim.requests[0].disconnected) == (True, False)


async def test_cli_serves_on_the_printed_url() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "majordomo_otel.sim", "--port", "0", stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        url = line.split(" on ")[1].split()[0]
        async with aiohttp.ClientSession() as session, session.get(url + "/_sim/health") as response:
            assert (line.startswith("majordomo sim listening on http://127.0.0.1:"), await response.text()) == (
                True,
                "ok",
            )
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == snapshot(0)
