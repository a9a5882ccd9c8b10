"""Keep a store's files in memory while a latency benchmark runs.

    python bench/keep_resident.py DIR [DIR ...]        # until Ctrl+C / SIGTERM

Why: this machine is a VM whose kernel runs a DAMON ``pageout`` scheme
(/sys/kernel/mm/damon/admin/kdamonds/0: file pages not touched for about 60 s are dropped,
up to 128 MB/s). A 1M-people store is ~4.6 GB of PostgreSQL files and ~1.3 GB of OpenSearch
index, read at random by search and linking, so most reads of a benchmark went to disk
(0.8 ms a page) where a server in steady use serves them from memory. This locks every file
under the given directories into memory (``mlock`` of a read-only mapping: nothing is
written, no file changes) and picks up new files (segment merges, new relations) every
``--rescan`` seconds. BENCHMARKS.md reports which runs used it.

Needs root (or CAP_IPC_LOCK) and the memory to hold the files.
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import signal
import sys
import time
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mlock.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_MAP_FAILED = ctypes.c_void_p(-1).value


def _pin(path: Path) -> tuple[int, int] | None:
    """Map ``path`` read-only and lock its pages in memory: (address, size), or None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # gone since the scan
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    finally:
        os.close(fd)  # the mapping keeps the file
    if addr is None or addr == _MAP_FAILED:
        return None
    if _libc.mlock(addr, size) != 0:
        print(f"mlock {path}: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        _libc.munmap(addr, size)
        return None
    return addr, size


def _unpin(pin: tuple[int, int]) -> None:
    _libc.munmap(pin[0], pin[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--rescan", type=float, default=20.0)
    args = ap.parse_args()
    pinned: dict[Path, tuple[int, int]] = {}
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop:
        present = {p for d in args.dirs for p in d.rglob("*") if p.is_file()}
        for gone in set(pinned) - present:
            _unpin(pinned.pop(gone))
        for path in sorted(present - set(pinned)):
            pin = _pin(path)
            if pin is not None:
                pinned[path] = pin
        total = sum(size for _, size in pinned.values())
        print(f"resident: {len(pinned)} files, {total / 2**20:,.0f} MiB", flush=True)
        for _ in range(int(args.rescan * 10)):
            if stop:
                break
            time.sleep(0.1)
    for pin in pinned.values():
        _unpin(pin)


if __name__ == "__main__":
    main()
