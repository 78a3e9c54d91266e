"""Requests of each provider family, with tags, through a gateway (in process or a real process)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from majordomo_otel.gateway.app import create_app, runner_options
from majordomo_otel.gateway.settings import Settings

#: Budget syncs this often in the tests' gateways: short, so they wait little (the behaviour is the same at any).
INTERVAL = 0.05
#: The sim's answer is this many tokens long: gpt-4o-mini then costs $0.00030285 a request.
OUTPUT_TOKENS = "500"
TEXT = [{"role": "user", "content": "hello"}]


def wire(family: str, *, stream: bool = False, model: str | None = None) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Path, body and provider headers of one chat request in that family's own API."""
    if family == "openai":
        body: dict[str, Any] = {"model": model or "gpt-4o-mini", "messages": TEXT}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return "/v1/chat/completions", body, {"Authorization": "Bearer sk-test"}
    if family == "anthropic":
        body = {"model": model or "claude-haiku-4-5", "max_tokens": 1000, "messages": TEXT, "stream": stream}
        return "/v1/messages", body, {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    return f"/v1beta/models/{model or 'gemini-2.5-flash'}:{action}", body, {"x-goog-api-key": "gemini-test"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def send(
    http: aiohttp.ClientSession,
    url: str,
    key: str | None,
    *,
    family: str = "openai",
    stream: bool = False,
    tags: dict[str, str] | None = None,
) -> Reply:
    path, body, headers = wire(family, stream=stream)
    headers = {**headers, "X-Sim-Output-Tokens": OUTPUT_TOKENS}
    if key is not None:
        headers["X-Majordomo-Key"] = key
    headers |= {f"X-Majordomo-{name}": value for name, value in (tags or {}).items()}
    async with http.post(url + path, data=json.dumps(body), headers=headers) as resp:
        return Reply(resp.status, dict(resp.headers), await resp.read())


async def until_refused(
    http: aiohttp.ClientSession, url: str, key: str | None, tags: dict[str, str], most: int = 10
) -> list[Reply]:
    """Requests one at a time until one is not a 200 (or `most` were sent)."""
    replies: list[Reply] = []
    while len(replies) < most:
        replies.append(await send(http, url, key, tags=tags))
        if replies[-1].status != 200:
            break
    return replies


def through(port: int, pg_url: str) -> str:
    """`pg_url` reached through a TcpProxy on `port`."""
    return pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")


async def serve(settings: Settings) -> tuple[str, web.AppRunner]:
    """A gateway as `majordomo gateway` runs it (no key made: its database may be away), and its URL."""
    runner = web.AppRunner(create_app(settings), **runner_options(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", runner  # type: ignore[union-attr]
