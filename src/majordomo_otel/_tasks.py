"""Stopping a background task for sure.

`task.cancel()` asks once, and on Python 3.11 the request can be lost: `asyncio.wait_for` (ours, or a
library's) returns the result instead of raising when what it waits on finishes in the same loop iteration as
the cancellation (CPython gh-86296, fixed in 3.12). A `while True` refresh loop then goes on, and a shutdown
that awaits it waits forever; under load that is what hung the gateway's shutdown in the tests. So: ask
again until the task has ended. (The package's own timeouts use `asyncio.timeout`, which does not lose it.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final

log = logging.getLogger("majordomo_otel")

_ASK_AGAIN_S: Final = 0.1


async def stop_task(task: asyncio.Future[Any] | None, *, give_up_after: float = 10.0) -> bool:
    """Cancel `task` and return once it has ended, however it ends (its exception, if any, is consumed).

    A task that refuses every cancellation for `give_up_after` seconds is a bug; it is logged and left
    running rather than holding the shutdown forever. True if the task ended.
    """
    if task is None:
        return True
    deadline = time.monotonic() + give_up_after
    while not task.done():
        if time.monotonic() >= deadline:
            log.error(
                "task %r still running %g s after it was cancelled: shutting down without it", task, give_up_after
            )
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=_ASK_AGAIN_S)
    if not task.cancelled():
        task.exception()  # retrieved: a task that failed while stopping is not reported again at exit
    return True
