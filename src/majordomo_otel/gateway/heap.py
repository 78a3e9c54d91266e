"""The garbage collector set for a proxy that runs for weeks: start-up's heap frozen, the young collected less often.

CPython's cyclic collector walks every tracked object in a full (oldest-generation) collection. Once
the gateway has started, most of its ~110,000 tracked objects are the price tables, the provider
table and the imported modules: they live as long as the process, yet each full collection walked
them all again, for ~35 ms with the event loop stopped. Under load that was a full collection every
few seconds, ~6 % of the gateway's CPU, and the whole of its p99 latency above direct (measured in
bench/README.md). `gc.freeze()` moves what exists once start-up is over into a generation the
collector never walks; `gc.collect()` first, so no garbage is frozen. Objects start-up made that die
later are still freed by reference counting; only one of them caught in a cycle would stay.

A request allocates a few hundred container objects and leaves almost no cycles, so the young
generation is collected every `YOUNG_THRESHOLD` allocations instead of CPython's 700: cyclic garbage
still goes within one such interval, so memory stays bounded.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from aiohttp import web

#: Allocations (net of deallocations) of container objects between two young-generation collections.
YOUNG_THRESHOLD: Final = 10_000


def settle() -> None:
    """Collect, freeze what is left, raise the young threshold: once, when start-up is over, before serving."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


async def settle_on_startup(app: web.Application) -> None:
    """`settle` as the app's last startup hook (append it after `create_app`): the store, the writer and
    the upstream session exist by then, so they are frozen too."""
    settle()
