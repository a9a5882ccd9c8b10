"""The collector threshold for bulk work (schemas.collector)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from schemas.collector import BULK_GC_THRESHOLD, relaxed_collector


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_raised_while_reading_and_put_back() -> None:
    with relaxed_collector():
        assert gc.get_threshold() == (BULK_GC_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_put_back_when_the_ingest_raises() -> None:
    with pytest.raises(RuntimeError), relaxed_collector():
        raise RuntimeError("a failed file")
    assert gc.get_threshold() == (700, 10, 10)


def test_nested_uses_restore_once_the_outermost_leaves() -> None:
    with relaxed_collector():
        with relaxed_collector():
            assert gc.get_threshold()[0] == BULK_GC_THRESHOLD
        assert gc.get_threshold()[0] == BULK_GC_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


def test_never_lowers_a_higher_setting_nor_enables_a_disabled_collector() -> None:
    gc.set_threshold(200_000, 10, 10)
    with relaxed_collector():
        assert gc.get_threshold()[0] == 200_000
    assert gc.get_threshold()[0] == 200_000
    gc.set_threshold(0)
    with relaxed_collector():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0


def test_a_setting_changed_meanwhile_is_not_overwritten() -> None:
    with relaxed_collector():
        gc.set_threshold(10_000, 10, 10)  # e.g. the API configured its own
    assert gc.get_threshold() == (10_000, 10, 10)
