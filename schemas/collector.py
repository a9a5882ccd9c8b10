"""The garbage collector's threshold for bulk work: ingesting a file, draining the outbox,
rebuilding an index.

Such work holds tens of thousands of rows and documents at once, all young objects that
Python's cyclic collector scans again and again: with the default threshold (700) it ran
~2,500 times per 100,000 people ingested, 40 % of the reading process's CPU (4.0 of 10.4 s),
and 38 % of the outbox drainer's (37.6 of 99 s for 50,000 people, over 100 full collections
of the whole heap). At 200,000 allocations it ran about once in either (BENCHMARKS.md).
Memory stays bounded: the rows are freed by reference counting as soon as they are written,
and a collection still comes every 200,000 net allocations.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BULK_GC_THRESHOLD = 200_000
Thresholds = tuple[int, int, int]


def raised_thresholds(current: Thresholds, wanted: Thresholds) -> Thresholds:
    """``wanted`` where it is higher than ``current``: never lowers a setting, and a
    collector switched off (threshold 0) stays off."""
    if current[0] == 0:
        return current
    low, middle, old = (max(c, w) for c, w in zip(current, wanted, strict=True))
    return low, middle, old


_lock = threading.Lock()
_depth = 0
_saved: Thresholds | None = None


@contextmanager
def relaxed_collector() -> Iterator[None]:
    """Collect the young generation every BULK_GC_THRESHOLD allocations while bulk work
    runs, then put the thresholds back.

    Process-wide, so nested and concurrent uses share one setting, restored by the last to
    leave (and only if nobody changed it meanwhile). Never lowers a higher setting and leaves
    a collector switched off (threshold 0) off.
    """
    global _depth, _saved
    with _lock:
        _depth += 1
        if _depth == 1:
            current = gc.get_threshold()
            target = raised_thresholds(current, (BULK_GC_THRESHOLD, *current[1:]))
            if target != current:
                _saved = current
                gc.set_threshold(*target)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            saved = _saved
            if _depth == 0 and saved is not None:
                _saved = None
                if gc.get_threshold() == (BULK_GC_THRESHOLD, *saved[1:]):
                    gc.set_threshold(*saved)
