"""`heap.settle`: start-up's objects frozen out of the collector's walks, cyclic garbage still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from majordomo_otel.gateway import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """This test process's collector as it was: unfrozen, its thresholds back."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_settle_freezes_what_exists_and_collects_the_young_less_often(restored_gc: None) -> None:
    survivor = [object()]
    _, middle, old = gc.get_threshold()
    heap.settle()
    assert {
        "survivor frozen": gc.get_freeze_count() > 0 and not any(o is survivor for o in gc.get_objects()),
        "thresholds": gc.get_threshold(),
    } == {"survivor frozen": True, "thresholds": (heap.YOUNG_THRESHOLD, middle, old)}


def test_a_cycle_made_after_settle_is_collected_without_anyone_calling_collect(restored_gc: None) -> None:
    heap.settle()
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    assert gone() is not None  # reference counting alone cannot free a cycle
    kept = [[] for _ in range(heap.YOUNG_THRESHOLD + 100)]  # allocations, as serving makes them: no collect()
    assert (gone() is None, len(kept)) == (True, heap.YOUNG_THRESHOLD + 100)
