"""What bench_gateway.py and bench_instructions.py share: the requests they send and how they set a gateway up.

One place, so the two benches measure the same bodies against gateways started the same way, and a figure
from one can be read beside the other's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp

VENV_BIN = Path(sys.executable).parent
PATH = "/v1/chat/completions"
CHAT = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'
STREAM = (
    b'{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},'
    b'"messages":[{"role":"user","content":"Say hello in one short sentence."}]}'
)
BASE_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench-not-a-real-key"}
STREAM_HEADERS = {"X-Sim-Chunks": "20"}


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the developer's OTel and Majordomo settings, quiet logs, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MAJORDOMO_"))}
    return env | {"MAJORDOMO_LOG_LEVEL": "WARNING"} | extra


def src_env(env: dict[str, str], src: Path | None) -> dict[str, str]:
    """`src` (another checkout's `src/`, e.g. an older commit's) first on the path: its gateway runs instead."""
    return env if src is None else env | {"PYTHONPATH": str(src)}


def create_key(database_url: str, src: Path | None = None) -> str:
    """A Majordomo key in that database, made by `majordomo keys create` (of `src`'s checkout, if given)."""
    out = subprocess.run(
        [str(VENV_BIN / "majordomo"), "keys", "create", "bench", "--database-url", database_url],
        check=True,
        capture_output=True,
        text=True,
        env=src_env(clean_env(), src),
    ).stdout
    match = re.search(r"mdm_sk_\S+", out)
    assert match, out
    return match.group(0)


async def send(name: str, url: str, key: str | None, requests: int, concurrency: int, *, stream: bool) -> None:
    """`requests` chat (or 20-chunk stream) requests to `url` at `concurrency`, each response read to its end;
    any non-200 ends the bench with one line naming `name`."""
    headers = BASE_HEADERS | (STREAM_HEADERS if stream else {}) | ({"X-Majordomo-Key": key} if key else {})
    body = STREAM if stream else CHAT
    todo = iter(range(requests))
    failures: list[int] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:

        async def worker() -> None:
            for _ in todo:
                async with http.post(url + PATH, data=body, headers=headers) as reply:
                    await reply.read()
                    if reply.status != 200:
                        failures.append(reply.status)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    if failures:
        raise SystemExit(f"{name}: {len(failures)} of {requests} requests failed (first: {failures[0]})")


def add_baseline_arguments(parser: argparse.ArgumentParser) -> None:
    """`--baseline-src OLD/src [--baseline-name NAME]`, repeatable: older checkouts' gateways, in the same rounds."""
    parser.add_argument(
        "--baseline-src",
        type=Path,
        action="append",
        default=[],
        help="another checkout's src/ (e.g. `git worktree add /tmp/old <commit>` then /tmp/old/src): its gateway "
        "runs as one more target, 'gateway sqlite+auth @ NAME', in the same rounds; repeatable (ratios: to the first)",
    )
    parser.add_argument(
        "--baseline-name", action="append", default=[], help="the NAME of each --baseline-src (default baseline-N)"
    )


def baselines(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(name, resolved src) of each --baseline-src, names given or baseline-N; a name too many is an error."""
    if len(args.baseline_name) > len(args.baseline_src):
        parser.error("give one --baseline-name per --baseline-src")
    given, srcs = args.baseline_name, args.baseline_src
    names = given + [f"baseline-{i}" for i in range(len(given) + 1, len(srcs) + 1)]
    return [(name, src.resolve()) for name, src in zip(names, srcs, strict=True)]
