"""linkage.heap: the collector is paused and restored, and frozen heaps nest."""

from __future__ import annotations

import gc

import pytest

from linkage.heap import collector_paused, frozen_heap


def test_collector_paused_restores_an_enabled_collector() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collector_paused_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_collector_paused_restores_after_an_error() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("load failed")
    assert gc.isenabled()


def test_frozen_heap_nests_and_only_the_outermost_unfreezes() -> None:
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        outer = gc.get_freeze_count()
        assert outer > 0
        kept = [object() for _ in range(10)]  # tracked containers made after the freeze
        extra = [[i] for i in range(1000)]
        with frozen_heap():
            assert gc.get_freeze_count() >= outer + len(extra)
        # the inner one ended, yet what it froze and what the outer froze stay frozen
        assert gc.get_freeze_count() >= outer + len(extra)
        del kept, extra
    assert gc.get_freeze_count() == 0


def test_frozen_heap_unfreezes_after_an_error() -> None:
    with pytest.raises(ValueError), frozen_heap():
        raise ValueError("scoring failed")
    assert gc.get_freeze_count() == 0
