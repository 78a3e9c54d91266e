"""`majordomo gateway --workers N`: N worker processes on one port, started and supervised by one parent.

A Python process serves from one core. Workers let a host's cores share the load without a load balancer:
each listens on the same port with `SO_REUSEPORT` and the kernel spreads new connections among them.

The parent serves nothing. It checks that the port is free (its probe has no `SO_REUSEPORT`, so a running
gateway's workers cannot be joined by accident), hands the spools of slots this run does not start to slot
1 (spool_slots.py), migrates the schema once rather than N workers racing to, then starts and supervises:

* A worker that dies (crash, OOM kill, `kill -9`) is started again in its slot at once, and the new one
  replays what the dead one journaled (nothing lost; inserts are idempotent, nothing doubled). While it
  keeps dying within `HEALTHY_AFTER` seconds, each restart waits twice as long (0.5 s up to 30 s). One log
  line per death. A worker that fails before it ever listened, at the first start, stops the gateway: that
  is a configuration or environment error (the worker's own line says which), which restarts cannot fix.
* The first SIGTERM or SIGINT is forwarded once, as SIGTERM, to every worker: each stops accepting,
  finishes its requests in flight, drains its record writer and logs the records it kept. The parent exits
  0 when every worker did so; 1 if one failed, or had to be killed after `DRAIN_TIMEOUT`. Workers ignore
  SIGINT (a terminal sends Ctrl-C to the whole process group: the parent's forwarded SIGTERM is the one
  that counts) and take a repeated SIGTERM (systemd signals every process of a unit) as the same stop.
* If the parent dies, every worker sees its stdin close and stops as on SIGTERM.

A worker is `python -m majordomo_otel.gateway.workers --slot K --ready-fd F`: its settings arrive pickled
on stdin (which the parent keeps open: its end is the parent's death), and it writes `ready` to fd F once
it listens (the end of that pipe tells the parent the worker has exited). Everything a process holds
(journal, spool, key cache, span and metric exporters, in-memory counters) is per worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import pickle
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .._explain import explain
from .._redact import hide_password
from .providers import ProviderTable
from .serve import SHUTDOWN_TIMEOUT, configure_logging, new_event_loop, start_line
from .settings import Settings
from .spool_slots import collect_rejected, merge_unused_slots, slot_dir, spool_root
from .store import open_store

log = logging.getLogger("majordomo_otel.gateway")

#: a worker that ran this long (seconds) before dying is restarted at once; sooner, with backoff
HEALTHY_AFTER = 10.0
RESTART_BACKOFF_FIRST, RESTART_BACKOFF_MAX = 0.5, 30.0
#: seconds stopping workers get (requests in flight, then the writer's drain) before they are killed
DRAIN_TIMEOUT = SHUTDOWN_TIMEOUT + 30.0
#: seconds the parent's one migration may take before workers start anyway (they retry on their own)
MIGRATE_TIMEOUT = 15.0
#: seconds between a stopping worker's last accept and the start of its drain (see `_serve`)
ACCEPTED_GRACE = 0.2
_READY = b"ready\n"


def supervise(settings: Settings, *, verbose: bool = False) -> int:
    """Run `settings.workers` workers until SIGTERM/SIGINT; the exit code (0: every worker drained).

    `verbose` (`majordomo --verbose`): a worker that cannot serve logs its traceback with its one line."""
    if settings.database_url.endswith(":memory:"):
        raise ValueError(
            f"--workers {settings.workers} needs a database the workers share: each would have its own "
            f"{settings.database_url}"
        )
    settings = replace(settings, port=_claim_port(settings.host, settings.port))
    table = ProviderTable.build(settings.base_urls(), settings.providers)  # a bad [providers] table fails here
    root = spool_root(settings)
    merge_unused_slots(root, settings.workers)
    _migrate_once(settings.database_url)
    log.info("%s", start_line(settings, table))
    try:
        return Supervisor(settings, root, verbose=verbose).run()
    finally:
        collect_rejected(root, settings.workers)


def _claim_port(host: str, port: int) -> int:
    """Fail now with "address in use" if anything listens on the port; port 0 picks one for every worker."""
    addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = addresses[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        return int(probe.getsockname()[1])


def _migrate_once(url: str) -> None:
    """Create or upgrade the schema before any worker starts. A database that is down does not stop the
    gateway (records spool; each worker migrates once it is back); a URL it cannot use does."""
    store = open_store(url)

    async def run() -> None:
        try:
            async with asyncio.timeout(MIGRATE_TIMEOUT):
                await store.open()
                await store.migrate()
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await store.close()

    try:
        asyncio.run(run())
    except Exception as exc:
        log.warning(
            "database unavailable at start (%s); starting the workers anyway: records spool until it returns",
            type(exc).__name__ if isinstance(exc, TimeoutError) else hide_password(str(exc)),
        )


@dataclass(slots=True)
class _Worker:
    slot: int
    proc: subprocess.Popen[bytes]
    status_fd: int  # the read end of the worker's ready pipe: `ready`, then end of file when it exits
    started: float
    ready: bool = False

    def describe(self) -> str:
        return f"worker {self.slot} (pid {self.proc.pid})"


class Supervisor:
    """The parent's loop: one selector over the signal pipe and every worker's ready pipe; no threads."""

    def __init__(self, settings: Settings, spool: Path, *, verbose: bool = False) -> None:
        self.settings = settings
        self.spool = spool
        self.verbose = verbose
        self._workers: dict[int, _Worker] = {}
        self._failures: dict[int, int] = {}
        self._restart_at: dict[int, float] = {}
        self._selector = selectors.DefaultSelector()
        self._booting = True  # until every worker of the first start listens
        self._stopping = False
        self._drain_deadline = 0.0
        self._killed = False
        self._exit_code = 0

    def run(self) -> int:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        # Wake-up fd first: a signal then always leaves its number in the pipe; the handlers do nothing else.
        previous_wakeup = signal.set_wakeup_fd(wake_w)
        handlers = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
        self._selector.register(wake_r, selectors.EVENT_READ, None)
        try:
            for slot in range(1, self.settings.workers + 1):
                self._start(slot)
            while not (self._stopping and not self._workers):
                for key, _ in self._selector.select(self._timeout()):
                    if key.data is None:
                        self._on_signals(os.read(wake_r, 64))
                    else:
                        self._on_status(key.data)
                self._on_time()
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            for worker in list(self._workers.values()):  # only if the loop itself failed: leave no orphan
                worker.proc.kill()
                self._reap(worker)
            self._selector.close()
            os.close(wake_r)
            os.close(wake_w)
        return self._exit_code

    # -- workers ------------------------------------------------------------------------------------------
    def _start(self, slot: int) -> None:
        settings = replace(self.settings, spool_dir=str(slot_dir(self.spool, slot)), workers=1)
        ready_r, ready_w = os.pipe()
        # -P: the working directory is not on sys.path, so no file there can shadow a module the worker imports
        argv = [sys.executable, "-P", "-m", __name__, "--slot", str(slot), "--ready-fd", str(ready_w)]
        if self.verbose:
            argv.append("--verbose")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, pass_fds=(ready_w,))
        except BaseException:
            os.close(ready_r)
            raise
        finally:
            os.close(ready_w)
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it died at once: its ready pipe's end says so
            proc.stdin.write(pickle.dumps(settings))
            proc.stdin.flush()
        worker = _Worker(slot, proc, ready_r, time.monotonic())
        self._workers[slot] = worker
        self._selector.register(ready_r, selectors.EVENT_READ, worker)

    def _on_status(self, worker: _Worker) -> None:
        data = os.read(worker.status_fd, 64)
        if not data:
            self._on_exit(worker)
            return
        if _READY in data and not worker.ready:
            worker.ready = True
            if self._booting and all(w.ready for w in self._workers.values()):
                self._booting = False
                pids = ", ".join(str(w.proc.pid) for w in self._workers.values())
                log.info("%d workers listening on port %d (pids %s)", len(self._workers), self.settings.port, pids)
            elif not self._booting:
                log.info("%s listening", worker.describe())

    def _on_exit(self, worker: _Worker) -> None:
        code = self._reap(worker)
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        if self._stopping:
            if code not in (0, -signal.SIGTERM):  # -SIGTERM: stopped before it had its handler, serving nothing
                self._exit_code = 1
                log.error("%s %s while stopping", worker.describe(), how)
            return
        if self._booting and not worker.ready:
            log.error(
                "%s %s before it was listening: stopping the gateway (the worker said why above)",
                worker.describe(),
                how,
            )
            self._exit_code = 1
            self._stop()
            return
        ran = time.monotonic() - worker.started
        delay = self._schedule_restart(worker.slot, at_once=worker.ready and ran >= HEALTHY_AFTER)
        failures = self._failures[worker.slot]
        when = (
            "now" if delay == 0 else f"in {delay:g} s (deaths within {HEALTHY_AFTER:g} s of start in a row: {failures})"
        )
        log.warning(
            "%s %s after %.1f s; restarting it %s (it replays what this one journaled)",
            worker.describe(),
            how,
            ran,
            when,
        )

    def _schedule_restart(self, slot: int, *, at_once: bool) -> float:
        """Restart `slot` now, or after a delay doubling with each quick failure in a row; the delay."""
        if at_once:
            self._failures[slot] = 0
            delay = 0.0
        else:
            self._failures[slot] = failures = self._failures.get(slot, 0) + 1
            delay = min(RESTART_BACKOFF_MAX, RESTART_BACKOFF_FIRST * 2 ** (failures - 1))
        self._restart_at[slot] = time.monotonic() + delay
        return delay

    def _reap(self, worker: _Worker) -> int:
        self._selector.unregister(worker.status_fd)
        os.close(worker.status_fd)
        if worker.proc.stdin is not None:
            with contextlib.suppress(OSError):
                worker.proc.stdin.close()
        del self._workers[worker.slot]
        return worker.proc.wait()  # its ready pipe closed: it has exited (or is about to)

    # -- signals and time ---------------------------------------------------------------------------------
    def _on_signals(self, received: bytes) -> None:
        if any(sig in (signal.SIGTERM, signal.SIGINT) for sig in received):
            if self._stopping:
                log.warning("already stopping: waiting for %d worker(s) to drain their records", len(self._workers))
            else:
                log.info("stopping %d workers: each drains its requests and records", len(self._workers))
                self._stop()

    def _stop(self) -> None:
        self._stopping = True
        self._restart_at.clear()
        self._drain_deadline = time.monotonic() + DRAIN_TIMEOUT
        for worker in self._workers.values():
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGTERM)

    def _timeout(self) -> float | None:
        due = [self._drain_deadline] if self._stopping and not self._killed else list(self._restart_at.values())
        return max(0.0, min(due) - time.monotonic()) if due else None

    def _on_time(self) -> None:
        now = time.monotonic()
        if self._stopping:
            if not self._killed and now >= self._drain_deadline:
                self._killed, self._exit_code = True, 1
                for worker in self._workers.values():
                    log.error(
                        "%s still draining after %g s: killed (its journal is replayed at the next start)",
                        worker.describe(),
                        DRAIN_TIMEOUT,
                    )
                    worker.proc.kill()
            return
        for slot, at in list(self._restart_at.items()):
            if now >= at:
                del self._restart_at[slot]
                try:
                    self._start(slot)
                except OSError as exc:  # no memory or file descriptors for a new process: try again later
                    delay = self._schedule_restart(slot, at_once=False)
                    log.error("cannot start worker %d (%s); trying again in %g s", slot, exc, delay)


# -- the worker process -------------------------------------------------------------------------------------
def worker_main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent takes Ctrl-C and forwards one SIGTERM
    parser = argparse.ArgumentParser(
        prog="majordomo gateway worker", description="one of `majordomo gateway --workers N`"
    )
    parser.add_argument("--slot", type=int, required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--verbose", action="store_true", help="log the traceback of a failure too")
    args = parser.parse_args(argv)
    try:
        settings: Settings = pickle.load(sys.stdin.buffer)
    except (EOFError, pickle.UnpicklingError):
        print(
            "majordomo gateway worker: no settings on stdin (started by `majordomo gateway --workers N` only)",
            file=sys.stderr,
        )
        return 1
    os.set_inheritable(args.ready_fd, False)
    configure_logging(settings.log_level, worker=args.slot)
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(settings, args.ready_fd))
    except Exception as exc:
        log.debug("worker failed", exc_info=not args.verbose)
        log.error("cannot serve: %s", explain(exc), exc_info=args.verbose)
        return 1
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return 0


async def _serve(settings: Settings, ready_fd: int) -> None:
    from aiohttp import web

    from .app import create_app, runner_options
    from .heap import settle_on_startup

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)  # a second SIGTERM is the same stop, not an abort

    def parent_gone() -> None:
        if os.read(0, 1):
            return  # nothing else is ever sent; ignore it
        loop.remove_reader(0)
        log.warning("the supervising process is gone: stopping")
        stop.set()

    loop.add_reader(0, parent_gone)
    app = create_app(settings)
    app.on_startup.append(settle_on_startup)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT, **runner_options(settings))
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port, reuse_port=True).start()
        os.write(ready_fd, _READY)
        await stop.wait()
        for site in list(runner.sites):
            await site.stop()  # no new connections: the kernel gives them to the other workers
        # A connection accepted just before that may not have sent its request yet; once aiohttp's shutdown
        # begins it ignores what arrives, and waits out its whole timeout on that connection (the client
        # hangs as long). So give such requests a moment to arrive and start, then drain.
        await asyncio.sleep(ACCEPTED_GRACE)
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    raise SystemExit(worker_main())
