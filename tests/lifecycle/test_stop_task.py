"""Shutdown stops every background task, even one that lost a cancellation (Python 3.11's `wait_for` can)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from majordomo_otel._tasks import stop_task


async def test_a_running_task_is_cancelled_and_awaited() -> None:
    task = asyncio.create_task(asyncio.sleep(60))
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await stop_task(task)
    assert task.cancelled()


async def test_a_loop_that_swallows_one_cancellation_is_still_stopped() -> None:
    """What `asyncio.wait_for` does on 3.11 when its awaitable finishes as the cancellation arrives (gh-86296)."""
    lost = 0

    async def refresh_forever() -> None:
        nonlocal lost
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if lost:
                    raise
                lost += 1  # the cancellation is gone; the loop goes on

    task = asyncio.create_task(refresh_forever())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await stop_task(task)
    assert (task.cancelled(), lost) == (True, 1)


async def test_a_task_that_failed_is_awaited_without_raising() -> None:
    async def fail() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(fail())
    await asyncio.sleep(0)
    await stop_task(task)
    assert (task.done(), type(task.exception())) == (True, RuntimeError)


async def test_a_task_that_refuses_every_cancellation_is_left_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A bug, not a state to wait out: the shutdown goes on without it."""
    done = asyncio.Event()

    async def stubborn() -> None:
        while not done.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="majordomo_otel"):
        stopped = await stop_task(task, give_up_after=0.3)
    running = not task.done()
    done.set()
    await task
    assert (stopped, running, [r.getMessage().split(" still running ")[1] for r in caplog.records]) == (
        False,
        True,
        ["0.3 s after it was cancelled: shutting down without it"],
    )
