"""Stopping a background task for sure.

`task.cancel()` asks once, and on Python 3.11 the request can be lost: `asyncio.wait_for` (ours, or a
library's) returns the result instead of raising when what it waits on finishes in the same loop iteration as
the cancellation (CPython gh-86296, fixed in 3.12). A `while True` refresh loop then goes on, and a shutdown
that awaits it waits forever; under load that is what hung the gateway's shutdown in the tests. So: ask
again until the task has ended. (The package's own timeouts use `asyncio.timeout`, which does not lose it.)
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

_ASK_AGAIN_S: Final = 0.1


async def stop_task(task: asyncio.Future[Any] | None) -> None:
    """Cancel `task` and return once it has ended, however it ends (its exception, if any, is consumed)."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=_ASK_AGAIN_S)
    if not task.cancelled():
        task.exception()  # retrieved: a task that failed while stopping is not reported again at exit
