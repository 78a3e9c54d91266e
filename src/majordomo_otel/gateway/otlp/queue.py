"""A bounded hand-off from the serving path to one export thread: spans are queued, never waited for.

`put` takes a lock for a few appends and returns; when the queue is full (a dead, slow or hung
collector) the spans are dropped and counted, so memory stays bounded by span count and by bytes
and no request ever waits on export. The thread sends batches when enough spans are queued or
the schedule delay passes, and `ExportStats` says what became of every span (`/readyz`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from opentelemetry.sdk.environment_variables import (
    OTEL_BSP_EXPORT_TIMEOUT,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_SCHEDULE_DELAY,
)

log = logging.getLogger("majordomo_otel.gateway.spans")

T = TypeVar("T")
#: How often a failing or overflowing export is logged again (the counts are on /readyz all along).
_LOG_EVERY_S: Final = 60.0


class ExportError(Exception):
    """A batch the receiver did not take: its message says why (never a header: they carry API keys)."""


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """The standard batch-processor variables (`OTEL_BSP_*`, as the SDK reads them), plus bounds in bytes.

    Where a span's size is known (the gateway's own encoder) the queue also holds at most 16 KiB
    per span of `max_spans` on average (32 MiB by default), however large hostile requests make
    their spans; batches stay under `batch_bytes`, below a Collector's default 4 MiB gRPC limit.
    """

    max_spans: int = 2048
    batch_spans: int = 512
    delay_s: float = 5.0
    shutdown_s: float = 30.0
    batch_bytes: int = 3 << 20

    @property
    def max_bytes(self) -> int:
        return self.max_spans << 14

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> QueueLimits:
        defaults = cls()

        def number(name: str, default: float) -> float:
            try:
                value = float(environ.get(name) or default)
            except ValueError:
                log.warning("%s=%r is not a number; using %g", name, environ.get(name), default)
                return default
            return value if value > 0 else default

        max_spans = int(number(OTEL_BSP_MAX_QUEUE_SIZE, defaults.max_spans))
        return cls(
            max_spans=max_spans,
            batch_spans=min(int(number(OTEL_BSP_MAX_EXPORT_BATCH_SIZE, defaults.batch_spans)), max_spans),
            delay_s=number(OTEL_BSP_SCHEDULE_DELAY, defaults.delay_s * 1000) / 1000,
            shutdown_s=number(OTEL_BSP_EXPORT_TIMEOUT, defaults.shutdown_s * 1000) / 1000,
        )


class ExportStats:
    """What became of every span handed to export, so a slow or dead collector is visible (`/readyz`).

    `ended` = exported + failed + dropped + queued, at every moment (all change under one lock).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ended = 0
        self.exported = 0
        self.failed = 0
        self.dropped = 0

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            pending = self.ended - self.exported - self.failed
            return {
                "ended": self.ended,
                "exported": self.exported,
                "failed": self.failed,  # sent but not taken: collector down, refusing, or timing out
                "dropped": self.dropped,  # never sent: the queue was full (collector slow or hung)
                "queued": pending - self.dropped,  # waiting, or being sent right now
                "pending_or_dropped": pending,  # neither exported nor failed (queued + dropped)
            }


#: Sends one batch; returns how many of its spans the receiver rejected (OTLP partial success), or raises ExportError.
Send = Callable[[list[T]], int]


class SpanQueue(Generic[T]):
    """Items of one or more spans each, queued by the serving thread and sent in batches by one daemon thread."""

    def __init__(
        self,
        send: Send[T],
        limits: QueueLimits,
        *,
        name: str,
        target: str,
        interrupt: Callable[[], None] | None = None,
    ) -> None:
        self.stats = ExportStats()
        self.limits = limits
        self._send = send
        self._interrupt = interrupt  # ends a send in flight (to a hung collector) at the shutdown deadline
        self._target = target  # for log lines: an endpoint without credentials
        self._items: deque[tuple[T, int, int]] = deque()
        self._spans = 0  # queued, not yet taken by the thread
        self._bytes = 0
        self._accepted = 0  # every span ever queued
        self._settled = 0  # of those, exported or failed
        self._changed = threading.Condition(self.stats.lock)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._deadline = float("inf")  # set at shutdown
        self._logged: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def stopping(self) -> threading.Event:
        """Set at shutdown: a sender's retry backoff waits on it, so shutdown never waits out a backoff."""
        return self._stop

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def full(self) -> bool:
        """Cheap unlocked check before encoding spans that `put` would drop anyway (`put` decides)."""
        return self._closed or self._spans >= self.limits.max_spans or self._bytes >= self.limits.max_bytes

    def put(self, item: T, spans: int, size: int = 0) -> None:
        """Queue `item` (`spans` spans, `size` bytes) or drop it when full; never blocks, never raises."""
        limits, stats = self.limits, self.stats
        wake = False
        with stats.lock:
            stats.ended += spans
            if self._closed or self._spans + spans > limits.max_spans or self._bytes + size > limits.max_bytes:
                stats.dropped += spans
                dropped = True
            else:
                self._items.append((item, spans, size))
                self._spans += spans
                self._bytes += size
                self._accepted += spans
                dropped = False
                wake = self._spans >= limits.batch_spans or self._bytes >= limits.batch_bytes
        if dropped:
            self._note("dropped", "span export queue full (%s): spans dropped, %d so far", stats.dropped)
        elif wake:
            self._wake.set()

    def drop(self, spans: int) -> None:
        """Count spans that were not even queued (`full()` said so)."""
        with self.stats.lock:
            self.stats.ended += spans
            self.stats.dropped += spans
        self._note("dropped", "span export queue full (%s): spans dropped, %d so far", self.stats.dropped)

    def force_flush(self, timeout_s: float = 30.0) -> bool:
        """Send everything queued before this call; True once it is exported or failed, False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            goal = self._accepted
            self._wake.set()
            while self._settled < goal:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._changed.wait(remaining)
        return True

    def shutdown(self) -> None:
        """Stop taking spans; send what is queued, one attempt per batch, for at most the export timeout
        (`OTEL_BSP_EXPORT_TIMEOUT`); what is left then counts as failed. Stops the thread."""
        with self.stats.lock:
            if self._closed:
                return
            self._closed = True
            self._deadline = time.monotonic() + self.limits.shutdown_s
        self._stop.set()  # no more retry backoffs: a dead collector must not hold the shutdown
        self._wake.set()
        self._thread.join(self.limits.shutdown_s)
        if self._thread.is_alive() and self._interrupt is not None:
            self._interrupt()
            self._thread.join(1.0)

    # --- the export thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            if not self._closed:
                self._wake.wait(self.limits.delay_s)
                self._wake.clear()
            while (batch := self._take()) is not None:
                if time.monotonic() > self._deadline:
                    self._settle(batch[1], batch[1], "not sent before the shutdown deadline")
                else:
                    self._export(*batch)
            with self.stats.lock:
                if self._closed and not self._items:  # nothing is queued once closed
                    return

    def _take(self) -> tuple[list[T], int] | None:
        limits = self.limits
        with self.stats.lock:
            if not self._items:
                return None
            items: list[T] = []
            spans = size = 0
            while self._items and spans < limits.batch_spans and size < limits.batch_bytes:
                item, n, nbytes = self._items[0]
                if items and (spans + n > limits.batch_spans or size + nbytes > limits.batch_bytes):
                    break
                self._items.popleft()
                items.append(item)
                spans += n
                size += nbytes
            self._spans -= spans
            self._bytes -= size
            return items, spans

    def _export(self, items: list[T], spans: int) -> None:
        try:
            rejected = min(max(self._send(items), 0), spans)
            error = f"the receiver rejected {rejected} of {spans} spans" if rejected else None
        except ExportError as exc:
            rejected, error = spans, str(exc)
        except Exception as exc:  # a sender bug must not kill the thread: the spans count as failed
            rejected, error = spans, f"{type(exc).__name__}: {exc}"
        self._settle(spans, rejected, error)

    def _settle(self, spans: int, rejected: int, error: str | None) -> None:
        with self._changed:
            self.stats.exported += spans - rejected
            self.stats.failed += rejected
            self._settled += spans
            self._changed.notify_all()
        if error is not None:
            self._note("failed", "span export to %s failed (%s): %d spans failed so far", error, self.stats.failed)

    def _note(self, what: str, message: str, *args: object) -> None:
        """Log `message` at most once a minute per kind: a dead collector must not flood the log."""
        now = time.monotonic()
        if now - self._logged.get(what, -_LOG_EVERY_S) < _LOG_EVERY_S:
            return
        self._logged[what] = now
        log.warning(message, self._target, *args)
