"""A loopback TCP forwarder a test can cut and restore, to simulate a database (or upstream) outage
without touching the real server that other tests share.

    async with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
        await proxy.cut()       # drop every open connection; new ones are reset at once
        await proxy.restore()   # forward again

The listening socket stays bound while cut (new connections are accepted and reset immediately), so the
port never changes hands.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from types import TracebackType


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = 0
        self.connections_total = 0
        self._server: asyncio.Server | None = None
        self._cut = False
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def is_cut(self) -> bool:
        return self._cut

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._drop_all()
            await self._server.wait_closed()
            self._server = None

    async def cut(self) -> None:
        """Close all connections (with a reset) and refuse new ones until `restore()`."""
        self._cut = True
        await self._drop_all()

    async def restore(self) -> None:
        self._cut = False

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _drop_all(self) -> None:
        for client, upstream in list(self._pairs):
            _reset(client)
            _reset(upstream)
        self._pairs.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections_total += 1
        if self._cut:
            _reset(client_w)
            return
        try:
            up_r, up_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            _reset(client_w)
            return
        pair = (client_w, up_w)
        self._pairs.add(pair)
        t1 = asyncio.create_task(self._pipe(client_r, up_w))
        t2 = asyncio.create_task(self._pipe(up_r, client_w))
        self._tasks.update((t1, t2))
        try:
            await asyncio.gather(t1, t2, return_exceptions=True)
        finally:
            self._tasks.difference_update((t1, t2))
            self._pairs.discard(pair)
            for w in pair:
                w.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), like a crashed peer, so the other side notices at once."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
