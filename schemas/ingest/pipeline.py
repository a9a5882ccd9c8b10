"""Parse an extract on every core while keeping its rows in file order.

The reading process streams units (line number + raw row) in chunks to a process pool and
yields the parsed rows chunk by chunk in submission order, so rejections keep their exact
line numbers and the store sees rows in file order. At most ``AHEAD`` chunks are in flight,
so memory stays flat however large the file.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager

from schemas.ingest.prepare import Prepared
from schemas.ingest.readers import Parsed, ParseJob, Source, Unit, parse_all

CHUNK_UNITS = 256  # rows per task: big enough to amortise pickling, small enough to balance
AHEAD = 24  # chunks in flight: keeps the workers busy while the store waits on the database
# Below this a pool costs more to start (about a second) than it saves.
MIN_PARALLEL_BYTES = 4 * 1024 * 1024
MAX_WORKERS = 4


def default_workers() -> int:
    """One parse worker per core; none on one core or inside a daemon (Celery) process."""
    cores = os.cpu_count() or 1
    if cores < 2 or multiprocessing.current_process().daemon:
        return 0
    return min(cores, MAX_WORKERS)


@contextmanager
def parse_pool(workers: int) -> Iterator[Executor | None]:
    """A pool of ``workers`` processes, or None (parse in this process) for 0."""
    if workers <= 0:
        yield None
        return
    # spawn, not fork: the caller may hold database connections and threads (the API server).
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# How much lower a parse worker's CPU priority is than the process that started it.
WORKER_NICENESS = 10


def _worker_init() -> None:
    """Tune a parse worker (a process of ours alone): its garbage collector, its priority.

    Parsing allocates and frees many small containers, freed by reference counting; the
    cyclic collector still scanned them, and everything imported, every 700 allocations.
    Freezing what was imported and collecting the young generation every 10,000 allocations
    saves about 5 % of a worker's time; memory stays bounded (nothing parsed is kept).

    The workers parse ahead of the store, so the store sets an ingest's pace: the reading
    process and the database server writing each batch. At equal priority the workers took
    CPU from them whenever all were runnable on the two cores, and then sat idle once their
    chunks in flight were done. A lower priority gives the store the CPU first and the
    workers the rest: about 10 % more records a second on two cores (BENCHMARKS.md,
    Ingestion, session 19). On a server it also leaves the API's requests ahead of a file's parsing.
    """
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    with contextlib.suppress(OSError):  # a lower priority only helps: carry on without it
        os.nice(WORKER_NICENESS)


# A parsed row as it crosses from a worker: an accepted row as the plain tuple of its
# Prepared, a rejected one as its Parsed.
Packed = tuple[object, ...] | Parsed


def _parse_chunk(job: ParseJob, units: list[Unit]) -> list[Packed]:
    # Plain tuples pickle in under half the time of the Parsed and Prepared objects (no
    # Python-level reduce per object); unpacking them costs the reading process about what
    # unpickling the objects did.
    return [tuple(p.prepared) if p.prepared is not None and not p.rejections else p
            for p in job.parse(units)]


_tuple_new = tuple.__new__


def _unpack(packed: list[Packed]) -> list[Parsed]:
    return [Parsed(t[0], _tuple_new(Prepared, t))  # type: ignore[arg-type]
            if type(t) is tuple else t for t in packed]  # type: ignore[misc]


def parse_stream(source: Source, pool: Executor | None,
                 chunk_units: int = CHUNK_UNITS) -> Iterator[Parsed]:
    """Every unit of ``source`` parsed, in file order; in ``pool`` when one is given."""
    if pool is None:
        yield from parse_all(source)
        return
    pending: deque[Future[list[Packed]]] = deque()
    chunk: list[Unit] = []
    for unit in source.units:
        chunk.append(unit)
        if len(chunk) >= chunk_units:
            pending.append(pool.submit(_parse_chunk, source.job, chunk))
            chunk = []
            if len(pending) >= AHEAD:
                yield from _unpack(pending.popleft().result())
    if chunk:
        pending.append(pool.submit(_parse_chunk, source.job, chunk))
    while pending:
        yield from _unpack(pending.popleft().result())
