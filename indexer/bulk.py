"""Bulk writes with external versions: an older update can never overwrite a newer one.

Each document is written with ``version_type=external_gte`` and ``version`` = the SQL record
version, so replays and out-of-order deliveries are harmless: OpenSearch answers 409 for a
document older than what it holds, which is counted as a conflict, not an error.

``bulk_index_pipelined`` sends chunks on a background thread while the caller builds the next
ones (SQL reads and document building overlap OpenSearch's indexing time).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch, helpers

from indexer.documents import IndexDoc

__all__ = ["BulkResult", "bulk_index", "bulk_index_pipelined", "index_actions"]

DEFAULT_CHUNK = 500
DEFAULT_CHUNK_BYTES = 10 * 1024 * 1024


@dataclass
class BulkResult:
    indexed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (doc id, reason)
    # Refused because the index held a newer version (or, for a strict write, the same one):
    # fine, the index is at least as new.
    conflict_ids: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> int:
        return len(self.conflict_ids)

    @property
    def failed_ids(self) -> set[str]:
        return {doc_id for doc_id, _ in self.errors}

    def add(self, other: BulkResult) -> None:
        self.indexed += other.indexed
        self.errors.extend(other.errors)
        self.conflict_ids.extend(other.conflict_ids)


def index_actions(index: str, docs: Iterable[IndexDoc]) -> Iterator[dict[str, Any]]:
    for doc in docs:
        yield {
            "_op_type": "index",
            "_index": index,
            "_id": doc.id,
            "version": doc.version,
            "version_type": "external_gte" if doc.replace_equal else "external",
            "_source": doc.source,
        }


def bulk_index(client: OpenSearch, index: str, docs: Iterable[IndexDoc], *,
               chunk_size: int = DEFAULT_CHUNK, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
               refresh: bool = False, on_chunk: Callable[[int], None] | None = None,
               request_timeout: float | None = None) -> BulkResult:
    """Write documents in bounded chunks. Transport errors (cluster down) raise; per-document
    failures are returned in ``errors``; version conflicts are counted, not failed."""
    result = BulkResult()
    kwargs: dict[str, Any] = {}
    if request_timeout is not None:
        kwargs["request_timeout"] = request_timeout
    done = 0
    for ok, item in helpers.streaming_bulk(
            client, index_actions(index, docs), chunk_size=chunk_size,
            max_chunk_bytes=max_chunk_bytes, raise_on_error=False, raise_on_exception=True,
            max_retries=0, yield_ok=True, **kwargs):
        info = item.get("index", item)
        done += 1
        if ok:
            result.indexed += 1
        elif info.get("status") == 409:
            result.conflict_ids.append(str(info.get("_id")))
        else:
            error = info.get("error")
            reason = (error.get("type", "") + ": " + str(error.get("reason", ""))
                      if isinstance(error, dict) else str(error))
            result.errors.append((str(info.get("_id")), reason[:400]))
        if on_chunk is not None and done % chunk_size == 0:
            on_chunk(chunk_size)
    if on_chunk is not None and done % chunk_size:
        on_chunk(done % chunk_size)
    if refresh:
        client.indices.refresh(index=index)
    return result


def bulk_index_pipelined(client: OpenSearch, chunks: Iterable[tuple[str, Sequence[IndexDoc]]],
                         *, in_flight: int = 2, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                         request_timeout: float | None = None) -> dict[str, BulkResult]:
    """Write ``(index, docs)`` chunks, one bulk request each (split further only beyond
    ``max_chunk_bytes``), returning a result per index.

    ``chunks`` is consumed in the calling thread (it may read SQL through the caller's session)
    while up to ``in_flight - 1`` earlier chunks are queued or being sent by one background
    thread. The first transport error is raised once the chunks before it are done; nothing
    after it is sent. Order between chunks does not matter: documents carry external versions.
    """
    results: dict[str, BulkResult] = {}
    pending: deque[tuple[str, Future[BulkResult]]] = deque()
    failed = threading.Event()

    def send(index: str, docs: Sequence[IndexDoc]) -> BulkResult:
        if failed.is_set():  # an earlier chunk failed: the batch is retried as a whole
            return BulkResult()
        try:
            return bulk_index(client, index, docs, chunk_size=max(1, len(docs)),
                              max_chunk_bytes=max_chunk_bytes, request_timeout=request_timeout)
        except BaseException:
            failed.set()
            raise

    def collect() -> None:
        index, future = pending.popleft()
        results.setdefault(index, BulkResult()).add(future.result())

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk") as pool:
        try:
            for index, docs in chunks:
                if not docs:
                    continue
                pending.append((index, pool.submit(send, index, docs)))
                while len(pending) >= max(1, in_flight):
                    collect()
            while pending:
                collect()
        except BaseException:
            for _, future in pending:
                future.cancel()  # not started yet: never sent
            raise
    return results
