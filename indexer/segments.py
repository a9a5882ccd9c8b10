"""Merging a freshly built index's segments before it takes traffic.

A bulk-built index is left in many Lucene segments (14 for the 1M-people bench index). Every
term of a query is looked up once per segment, and a linkage query holds dozens of terms: at
1M people, one segment cut OpenSearch's time for a linkage retrieval from 7 to 3-4 ms (mean).
Merging also drops the ``_recovery_source`` copies OpenSearch keeps while ``_source`` is
filtered (that index: 2.1 GB before, 1.2 GB after), but only for operations its retention
leases no longer hold, and a lease moves up to the newest operation only every 30 seconds:
merged at once after a bulk load, the 100k index kept them (242 MB against 142 MB). So a
large index waits for its leases first. BENCHMARKS.md, Linkage, session 16.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

__all__ = [
    "LEASE_WAIT_MIN_BYTES",
    "MERGED_SEGMENT_BYTES",
    "SegmentMergeError",
    "merge_segments",
    "retention_leases_cover_all",
    "segments_for",
    "wait_for_retention_leases",
]

log = logging.getLogger("casesearch.indexer")

# Segments are kept below the tiered merge policy's 5 GB cap on a merged segment, so that
# later writes' merges can still rewrite them (a larger segment is only merged away once it is
# mostly deleted documents).
MERGED_SEGMENT_BYTES = 4 * 1024**3
# Below this size the copies are not worth the wait (a test's or a demo's index).
LEASE_WAIT_MIN_BYTES = 64 * 1024**2
LEASE_WAIT_SECONDS = 90.0


class SegmentMergeError(RuntimeError):
    """OpenSearch reported the merge task as failed."""


def segments_for(size_in_bytes: int) -> int:
    """How many segments an index of this size is merged into."""
    return max(1, math.ceil(size_in_bytes / MERGED_SEGMENT_BYTES))


def retention_leases_cover_all(client: Any, index: str) -> bool:
    """Whether every shard copy's retention leases have moved past its newest operation (so
    a merge may drop the ``_recovery_source`` of every document)."""
    stats = client.indices.stats(index=index, metric="docs", level="shards")
    for copies in stats["indices"][index]["shards"].values():
        for copy in copies:
            newest = int(copy["seq_no"]["max_seq_no"])
            leases = copy.get("retention_leases", {}).get("leases", [])
            if any(int(lease["retaining_seq_no"]) <= newest for lease in leases):
                return False
    return True


def wait_for_retention_leases(client: Any, index: str, *, timeout: float = LEASE_WAIT_SECONDS,
                              poll_seconds: float = 1.0) -> bool:
    """Poll ``retention_leases_cover_all`` until true or ``timeout``; returns the last answer."""
    deadline = time.monotonic() + timeout
    while not retention_leases_cover_all(client, index):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_seconds)
    return True


def merge_segments(client: Any, index: str, *, poll_seconds: float = 1.0) -> int:
    """Force-merge ``index`` (a physical index nobody searches yet) and wait for it. The merge
    runs as a task, polled, so no HTTP request has to outlast it (about two minutes at 1M
    people on a 2-core machine). Returns the segment count asked for."""
    stats = client.indices.stats(index=index, metric="store")
    size = int(stats["_all"]["primaries"]["store"]["size_in_bytes"])
    segments = segments_for(size)
    started = time.monotonic()
    if size >= LEASE_WAIT_MIN_BYTES and not wait_for_retention_leases(
            client, index, poll_seconds=poll_seconds):
        log.warning("merging before the retention leases caught up: the index keeps some "
                    "recovery copies of its documents until later merges",
                    extra={"index": index})
    response = client.indices.forcemerge(index=index, max_num_segments=segments,
                                         wait_for_completion=False)
    task = response.get("task") if isinstance(response, dict) else None
    while task is not None:
        status = client.tasks.get(task_id=task)
        if status.get("completed"):
            if status.get("error"):
                raise SegmentMergeError(f"merging the segments of {index} failed: "
                                        f"{status['error'].get('reason', status['error'])}")
            break
        time.sleep(poll_seconds)
    # Searchers keep the old segments open (and on disk) until a refresh opens the merged one.
    client.indices.refresh(index=index)
    log.info("segments merged", extra={"index": index, "segments": segments,
                                       "seconds": round(time.monotonic() - started, 1)})
    return segments
