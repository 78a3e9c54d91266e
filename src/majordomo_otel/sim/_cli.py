"""`python -m majordomo_otel.sim --port 7681`: the sim as a standalone server (demo, benchmarks)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from ._app import create_app


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="python -m majordomo_otel.sim",
        description="Local stand-in for the OpenAI, Anthropic and Gemini APIs.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7681)
    parser.add_argument(
        "--fixtures-dir", type=Path, default=None, help="default: $MAJORDOMO_FIXTURES_DIR or ../shared"
    )
    parser.add_argument("--record", action="store_true", help="keep every request in memory (off: long runs)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    app = create_app(fixtures_dir=args.fixtures_dir, record=args.record)
    web.run_app(app, host=args.host, port=args.port, access_log=None, handler_cancellation=True)
    return 0
