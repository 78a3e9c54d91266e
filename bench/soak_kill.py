"""Kill soak: a loaded gateway SIGKILLed at random moments, over and over, then every delivered record counted.

    python bench/soak_kill.py [--rounds 20] [--concurrency 64] [--store sqlite|postgres] [--journal on|off]

Each round starts `majordomo gateway --no-auth` on the same database and spool folder, runs JSON and
streamed chat at `--concurrency` against the stand-in upstream, and SIGKILLs it 0.3 s to `--max-kill-after`
seconds in. A response counts as delivered when the client read all of it with status 200. After the
rounds one clean start replays the journals and SIGTERM drains them; then the rows are compared with the
delivered ids: lost (delivered, no row), duplicates, and rows of responses the client never finished
(billed because the upstream answered: expected, not an error). Peak RSS of each round is reported too.
`--journal off` shows what the write-ahead journal saves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from _procs import PG_DEFAULT, free_port

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]
BODIES = [
    json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES}),
    json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}),
]


def _spawn(argv: list[str], env: dict[str, str] | None, out: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, stdout=out, stderr=out)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"gateway exited with {proc.returncode} at start: see its log")
            try:
                async with http.get(url + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("gateway not ready after 30 s: see its log")


async def _round(url: str, proc: subprocess.Popen[bytes], args: argparse.Namespace, rng: random.Random) -> set[str]:
    delivered: set[str] = set()
    killed = asyncio.Event()

    async def client(n: int, http: aiohttp.ClientSession) -> None:
        body = BODIES[n % 2]
        while not killed.is_set():
            try:
                async with http.post(url + CHAT, data=body, headers={"Content-Type": "application/json"}) as r:
                    await r.read()
                    if r.status == 200:
                        delivered.add(r.headers["X-Majordomo-Request-Id"])
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(0.01)

    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as http:
        tasks = [asyncio.create_task(client(n, http)) for n in range(args.concurrency)]
        await asyncio.sleep(rng.uniform(0.3, args.max_kill_after))
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait)
        killed.set()
        await asyncio.gather(*tasks)
    return delivered


async def _stored_ids(database_url: str) -> list[str]:
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            return [row[0] for row in db.execute("SELECT id FROM llm_requests")]
    dsn, schema = database_url.split("?schema=")
    conn = await asyncpg.connect(dsn)
    try:
        return [str(row["id"]) for row in await conn.fetch(f'SELECT id FROM "{schema}".llm_requests')]
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="soak-kill-"))
    schema = f"soak_kill_{uuid.uuid4().hex[:10]}"
    database_url = f"sqlite:///{tmp / 'soak.db'}" if args.store == "sqlite" else f"{args.pg}?schema={schema}"
    if args.store == "postgres":
        conn = await asyncpg.connect(args.pg)
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.close()
    sim_port, port = free_port(), free_port()
    sim = _spawn([sys.executable, "-m", "majordomo_otel.sim", "--port", str(sim_port)], None, subprocess.DEVNULL)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAJORDOMO_", "OTEL_"))}
    env |= {
        "MAJORDOMO_DATABASE_URL": database_url,
        "MAJORDOMO_OPENAI_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "MAJORDOMO_PORT": str(port),
        "MAJORDOMO_SPOOL_DIR": str(tmp / "spool"),
        "MAJORDOMO_JOURNAL": args.journal,
    }
    url = f"http://127.0.0.1:{port}"
    rng = random.Random(args.seed)
    delivered: set[str] = set()
    argv = [sys.executable, "-m", "majordomo_otel.cli", "gateway", "--no-auth"]
    log = (tmp / "gateway.log").open("ab")
    print(f"{args.rounds} kills, store {args.store}, journal {args.journal}, c={args.concurrency} (logs in {tmp})")
    try:
        for r in range(args.rounds):
            proc = _spawn(argv, env, log)
            await _ready(url, proc)
            got = await _round(url, proc, args, rng)
            delivered |= got
            print(f"round {r + 1}: {len(got):6,} responses delivered before the kill", flush=True)
        proc = _spawn(argv, env, log)
        await _ready(url, proc)
        peak = _peak_rss_mb(proc.pid)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 120)
        ids = await _stored_ids(database_url)
    finally:
        sim.terminate()
        sim.wait()
        if args.store == "postgres":
            conn = await asyncpg.connect(args.pg)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()
    lost = delivered - set(ids)
    print(
        f"\n| store | journal | kills | delivered | rows | lost | lost per kill | duplicates | "
        f"rows not delivered | exit after replay | RSS after replay MB |\n|{'---|' * 11}\n"
        f"| {args.store} | {args.journal} | {args.rounds} | {len(delivered):,} | {len(ids):,} | {len(lost):,} "
        f"| {len(lost) / args.rounds:,.1f} | {len(ids) - len(set(ids))} | {len(set(ids) - delivered):,} "
        f"| {code} | {peak:.0f} |"
    )
    return 0 if not lost and len(ids) == len(set(ids)) and code == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-kill-after", type=float, default=3.0, help="seconds into a round, at most")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--journal", choices=["on", "off"], default="on")
    parser.add_argument("--pg", default=PG_DEFAULT)
    parser.add_argument("--seed", type=int, default=8)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
