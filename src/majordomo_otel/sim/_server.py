"""SimServer: the sim on 127.0.0.1, a free port, in the current event loop or in its own thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from aiohttp import web

from ._app import STATE, SimState, create_app
from ._recording import RecordedRequest


class SimServer:
    """`async with SimServer() as sim:` serves on `sim.url`.

    `with SimServer.in_thread() as sim:` runs it in a daemon thread for synchronous tests."""

    def __init__(
        self, *, fixtures_dir: Path | None = None, record: bool = True, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.app = create_app(fixtures_dir=fixtures_dir, record=record)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def state(self) -> SimState:
        return self.app[STATE]

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests

    def clear(self) -> None:
        """Forget recorded requests and close the hold gate again."""
        self.state.clear()

    def release(self) -> None:
        """Let streams sent with `X-Sim-Hold: 1` send their last event (now and until `clear()`)."""
        self.state.release()

    async def wait_finished(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Until the sim is done with every recorded request (e.g. it has seen a client disconnect)."""
        deadline = time.monotonic() + timeout
        while not all(r.finished for r in self.requests):
            if time.monotonic() > deadline:
                raise TimeoutError("sim: requests still in flight")
            await asyncio.sleep(0.005)

    def wait_finished_sync(self, timeout: float = 5.0) -> None:
        """`wait_finished` for a sim running `in_thread()`."""
        deadline = time.monotonic() + timeout
        while not all(r.finished for r in self.requests):
            if time.monotonic() > deadline:
                raise TimeoutError("sim: requests still in flight")
            time.sleep(0.005)

    async def start(self) -> None:
        runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @classmethod
    @contextmanager
    def in_thread(
        cls, *, fixtures_dir: Path | None = None, record: bool = True, host: str = "127.0.0.1", port: int = 0
    ) -> Iterator[SimServer]:
        """The sim in a daemon thread with its own loop, for synchronous code."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="majordomo-sim", daemon=True)
        thread.start()

        async def make() -> SimServer:
            sim = cls(fixtures_dir=fixtures_dir, record=record, host=host, port=port)
            await sim.start()
            return sim

        try:
            sim = asyncio.run_coroutine_threadsafe(make(), loop).result(timeout=30)
            try:
                yield sim
            finally:
                asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()
