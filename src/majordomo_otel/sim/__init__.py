"""A local stand-in for the OpenAI, Anthropic and Gemini APIs.

It replays the bundled recorded fixtures byte for byte (`X-Sim-Fixture`), or answers synthetically with
schema-correct, deterministic replies (tool calls included) that real SDKs and Pydantic AI agents accept.
Steered per request with `X-Sim-*` headers (see `_controls.py`).

Names are imported on first use, so `majordomo --help` (which adds the sim's options to its own
parser) does not load aiohttp."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import create_app
    from ._cli import main
    from ._fixtures import Fixture, fixtures_dir, load_fixtures
    from ._recording import RecordedRequest, SimUsage
    from ._server import SimServer

_WHERE = {
    "create_app": "._app",
    "main": "._cli",
    "Fixture": "._fixtures",
    "fixtures_dir": "._fixtures",
    "load_fixtures": "._fixtures",
    "RecordedRequest": "._recording",
    "SimUsage": "._recording",
    "SimServer": "._server",
}

__all__ = [
    "Fixture",
    "RecordedRequest",
    "SimServer",
    "SimUsage",
    "create_app",
    "fixtures_dir",
    "load_fixtures",
    "main",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name], __name__), name)
