"""The cyclic garbage collector and the long-lived heap of a full re-link.

A full re-link holds a feature record per stored record (1.9M at 1M people), each with its
own lists, tuples and sets. Those are acyclic and live until the run ends, yet every full
collection walks all of them: at 100k people the collector was 40 % of the load's CPU, and
its cost grows with the heap. So the load runs with the collector paused, and what it built
is then frozen (moved out of the collector's generations) for the rest of the run."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection inside; the collector's previous state is restored after.
    Only for code that builds long-lived objects: cycles made inside wait until after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Everything alive now is left alone by the collector (and so, in forked workers, its
    pages are not written by it) until the outermost ``frozen_heap`` ends. Nests: an inner
    one freezes the newer objects too and leaves the unfreezing to the outer one."""
    outermost = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        yield
    finally:
        if outermost:
            gc.unfreeze()
