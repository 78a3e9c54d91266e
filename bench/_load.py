"""Load generators for bench_gateway.py: `wrk` (rps, latency percentiles) and an aiohttp stream
client (time to first byte and total stream time, which wrk cannot see)."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

_LUA = """
wrk.method = "POST"
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "status_errors": %d, "connect_errors": %d, '
    .. '"read_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(s: str) -> str:
    return "[==[" + s + "]==]"


def wrk_script(directory: Path, name: str, body: bytes, headers: dict[str, str]) -> Path:
    """A wrk Lua script that POSTs `body` with `headers` and prints a JSON summary at the end."""
    lines = "\n".join(f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items())
    path = directory / f"{name}.lua"
    path.write_text(_LUA.format(body=_lua_string(body.decode()), headers=lines))
    return path


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    ttfb_p50_ms: float | None = None
    ttfb_p99_ms: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


async def run_wrk(url: str, script: Path, *, connections: int, seconds: float, core: int) -> LoadResult:
    """One wrk thread pinned to `core`; `errors` counts non-2xx, socket errors and timeouts."""
    proc = await asyncio.create_subprocess_exec(
        "taskset", "-c", str(core), "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
        "-s", str(script), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    line = next((x for x in out.decode().splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.decode()} {err.decode()}")
    d = json.loads(line.removeprefix("WRKJSON "))
    errors = d["status_errors"] + d["connect_errors"] + d["read_errors"] + d["timeouts"]
    return LoadResult(d["requests"], d["duration_us"] / 1e6, errors, d["p50_us"] / 1000, d["p99_us"] / 1000)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_streams(
    url: str, body: bytes, headers: dict[str, str], *, concurrency: int, seconds: float
) -> LoadResult:
    """`concurrency` workers, each POSTing streams back to back for `seconds`.

    TTFB is the time from sending until the first body bytes (the first SSE chunk) arrive; total
    is until the end of the stream. A stream that is not 200 or does not end in `[DONE]` is an error.
    """
    ttfb: list[float] = []
    total: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                first: float | None = None
                tail = b""
                async with session.post(url, data=body, headers=headers) as response:
                    async for chunk in response.content.iter_any():
                        if first is None:
                            first = time.perf_counter()
                        tail = chunk
                    end = time.perf_counter()
                    if response.status != 200 or first is None or not tail.rstrip().endswith(b"[DONE]"):
                        errors += 1
                        continue
                ttfb.append(first - t0)
                total.append(end - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    if not total:
        raise RuntimeError(f"no stream completed against {url} ({errors} errors)")
    return LoadResult(
        requests=len(total),
        seconds=elapsed,
        errors=errors,
        p50_ms=statistics.median(total) * 1000,
        p99_ms=_pct(total, 0.99) * 1000,
        ttfb_p50_ms=statistics.median(ttfb) * 1000,
        ttfb_p99_ms=_pct(ttfb, 0.99) * 1000,
    )
