"""A local stand-in for the OpenAI, Anthropic and Gemini APIs.

It replays the shared recorded fixtures byte for byte (`X-Sim-Fixture`), or answers synthetically with
schema-correct, deterministic replies (tool calls included) that real SDKs and Pydantic AI agents accept.
Steered per request with `X-Sim-*` headers (see `_controls.py`)."""

from ._app import create_app
from ._cli import main
from ._fixtures import Fixture, fixtures_dir, load_fixtures
from ._recording import RecordedRequest, SimUsage
from ._server import SimServer

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
