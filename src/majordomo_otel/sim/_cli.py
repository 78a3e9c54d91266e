"""`python -m majordomo_otel.sim --port 7681`: the sim as a standalone server (demo, benchmarks)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The sim's options; pass a (sub)parser to add them to another CLI."""
    parser = parser or argparse.ArgumentParser(
        prog="python -m majordomo_otel.sim", description="Local stand-in for the OpenAI, Anthropic and Gemini APIs."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7681, help="0 picks a free port (printed on start)")
    parser.add_argument(
        "--fixtures-dir",
        type=Path,
        default=None,
        help="default: $MAJORDOMO_FIXTURES_DIR or the bundled recordings",
    )
    parser.add_argument("--record", action="store_true", help="keep every request in memory (off for long runs)")
    return parser


async def serve(host: str, port: int, fixtures_dir: Path | None = None, record: bool = False) -> None:
    """Run until SIGINT/SIGTERM; prints the URL (with the real port) once listening."""
    from ._server import SimServer  # aiohttp: only when serving, not for `--help`

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with SimServer(fixtures_dir=fixtures_dir, record=record, host=host, port=port) as sim:
        fixtures = len(sim.state.fixtures)
        print(f"majordomo sim listening on {sim.url} ({fixtures} fixtures)", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Serve with parsed options (`python -m majordomo_otel.sim` and `majordomo sim` alike)."""
    try:
        asyncio.run(serve(args.host, args.port, args.fixtures_dir, args.record))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"majordomo sim: {exc}", file=sys.stderr)
        return 1
    return 0
