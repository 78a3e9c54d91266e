"""The recorded provider exchanges (shipped in `sim/fixtures/`) and their exact wire bytes."""

from __future__ import annotations

import base64
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

_ENV = "MAJORDOMO_FIXTURES_DIR"
_JSON_ARRAY_WRITES = 4


#: The recorded exchanges ship inside the package, so the sim, the demo and the tests need nothing beside it.
BUNDLED_FIXTURES: Final = Path(__file__).resolve().parent / "fixtures"


def fixtures_dir() -> Path:
    """Where the provider fixtures are read from: `$MAJORDOMO_FIXTURES_DIR`, else the bundled ones."""
    env = os.environ.get(_ENV)
    return Path(env) if env else BUNDLED_FIXTURES


@dataclass(frozen=True, eq=False)
class Fixture:
    """One recorded exchange. `wire_body()` / `wire_chunks()` give the response exactly as it was sent."""

    key: str
    provider: str
    api: str
    streaming: bool
    request: dict[str, Any]
    status: int
    headers: dict[str, str]
    body: Any = None
    sse: tuple[str, ...] | None = None
    sse_separator: str = "\n\n"
    stream_format: str | None = None
    raw_body: bytes | None = None
    expected_usage: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, key: str, data: dict[str, Any]) -> Fixture:
        response = data["response"]
        raw = response.get("raw_body_base64")
        sse = response.get("sse")
        return cls(
            key=key,
            provider=data["provider"],
            api=data["api"],
            streaming=bool(data.get("streaming")),
            request=data["request"],
            status=response["status"],
            headers=dict(response.get("headers") or {}),
            body=response.get("body"),
            sse=tuple(sse) if sse is not None else None,
            sse_separator=response.get("sse_separator") or "\n\n",
            stream_format=response.get("stream_format"),
            raw_body=base64.b64decode(raw) if raw else None,
            expected_usage=data.get("expected_usage") or {},
        )

    def wire_chunks(self) -> tuple[bytes, ...]:
        """The body as the writes the sim makes: one per SSE event, a JSON-array stream in a few pieces,
        anything else in one piece. Joined, they are `wire_body()`."""
        return _wire_chunks(self)

    def wire_body(self) -> bytes:
        return b"".join(self.wire_chunks())


@functools.cache
def _wire_chunks(fixture: Fixture) -> tuple[bytes, ...]:
    if fixture.sse is not None:
        sep = fixture.sse_separator
        return tuple((event + sep).encode() for event in fixture.sse)
    if fixture.raw_body is not None:
        whole = fixture.raw_body
    else:
        whole = json.dumps(fixture.body, separators=(",", ":"), ensure_ascii=False).encode()
    if fixture.stream_format == "json_array" and len(whole) >= _JSON_ARRAY_WRITES:
        step = -(-len(whole) // _JSON_ARRAY_WRITES)
        return tuple(whole[i : i + step] for i in range(0, len(whole), step))
    return (whole,)


def load_fixtures(directory: Path | None = None) -> dict[str, Fixture]:
    """All fixtures keyed `"<provider>/<file stem>"`, e.g. `"openai/chat_stream_usage_text"`;
    {} when there is no fixtures folder."""
    directory = directory if directory is not None else fixtures_dir()
    if directory is None:
        return {}
    return _load(Path(directory).resolve())


@functools.cache
def _load(directory: Path) -> dict[str, Fixture]:
    fixtures: dict[str, Fixture] = {}
    for path in sorted(directory.glob("*/*.json")):
        key = f"{path.parent.name}/{path.stem}"
        fixtures[key] = Fixture.from_json(key, json.loads(path.read_text()))
    return fixtures
