"""Merging a freshly built index's segments before it takes traffic.

A bulk-built index is left in many Lucene segments (14 for the 1M-people bench index). Every
term of a query is looked up once per segment, and a linkage query holds dozens of terms: at
1M people, one segment cut OpenSearch's time for a linkage retrieval from 7 to 3-4 ms (mean).
Merging also drops the ``_recovery_source`` copies OpenSearch keeps while ``_source`` is
filtered (that index: 2.1 GB before, 1.2 GB after). BENCHMARKS.md, Linkage, session 16.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

__all__ = ["MERGED_SEGMENT_BYTES", "SegmentMergeError", "merge_segments", "segments_for"]

log = logging.getLogger("casesearch.indexer")

# Segments are kept below the tiered merge policy's 5 GB cap on a merged segment, so that
# later writes' merges can still rewrite them (a larger segment is only merged away once it is
# mostly deleted documents).
MERGED_SEGMENT_BYTES = 4 * 1024**3


class SegmentMergeError(RuntimeError):
    """OpenSearch reported the merge task as failed."""


def segments_for(size_in_bytes: int) -> int:
    """How many segments an index of this size is merged into."""
    return max(1, math.ceil(size_in_bytes / MERGED_SEGMENT_BYTES))


def merge_segments(client: Any, index: str, *, poll_seconds: float = 1.0,
                   on_poll: Callable[[], None] | None = None) -> int:
    """Force-merge ``index`` (a physical index nobody searches yet) and wait for it. The merge
    runs as a task, polled, so no HTTP request has to outlast it (about two minutes at 1M
    people on a 2-core machine). Returns the segment count asked for."""
    stats = client.indices.stats(index=index, metric="store")
    size = int(stats["_all"]["primaries"]["store"]["size_in_bytes"])
    segments = segments_for(size)
    started = time.monotonic()
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
        if on_poll is not None:
            on_poll()
        time.sleep(poll_seconds)
    # Searchers keep the old segments open (and on disk) until a refresh opens the merged one.
    client.indices.refresh(index=index)
    log.info("segments merged", extra={"index": index, "segments": segments,
                                       "seconds": round(time.monotonic() - started, 1)})
    return segments
