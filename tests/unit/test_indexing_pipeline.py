"""``bulk_index_pipelined``: the next chunk is built while the previous one is being written,
results are kept per index, and the first transport error stops everything after it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opensearchpy.exceptions import ConnectionError as OSConnectionError

from indexer.bulk import bulk_index_pipelined
from indexer.client import make_client
from indexer.documents import IndexDoc


class FakeBulk:
    """Stands in for ``client.bulk``: answers per document, records what was sent."""

    def __init__(self, reject: set[str] | None = None, fail_on_call: int | None = None,
                 hold_first: threading.Event | None = None) -> None:
        self.reject = reject or set()
        self.fail_on_call = fail_on_call
        self.hold_first = hold_first
        self.sent: list[tuple[str, list[str]]] = []
        self.calls = 0

    def __call__(self, body: str, **_: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1 and self.hold_first is not None:
            # The caller must build the next chunk while this request is in flight.
            assert self.hold_first.wait(5), "the next chunk was not built during the request"
        if self.fail_on_call == self.calls:
            raise OSConnectionError("N/A", "connection refused", None)
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        actions = lines[0::2]
        index = actions[0]["index"]["_index"]
        ids = [a["index"]["_id"] for a in actions]
        self.sent.append((index, ids))
        items = []
        for doc_id in ids:
            if doc_id in self.reject:
                items.append({"index": {"_id": doc_id, "status": 400, "error": {
                    "type": "strict_dynamic_mapping_exception", "reason": "no"}}})
            else:
                items.append({"index": {"_id": doc_id, "status": 201}})
        return {"errors": bool(self.reject & set(ids)), "items": items}


def _client(fake: FakeBulk) -> Any:
    client = make_client("http://127.0.0.1:1", 1)  # never contacted: bulk is replaced
    client.bulk = fake
    return client


def _docs(prefix: str, n: int) -> list[IndexDoc]:
    return [IndexDoc(f"{prefix}{i}", 1, {"n": i}) for i in range(n)]


def test_results_per_index_and_rejections_reported() -> None:
    fake = FakeBulk(reject={"p3"})
    chunks = [("persons", _docs("p", 5)), ("persons", []), ("notes", _docs("n", 2))]
    results = bulk_index_pipelined(_client(fake), chunks)
    assert results["persons"].indexed == 4
    assert [doc_id for doc_id, _ in results["persons"].errors] == ["p3"]
    assert results["notes"].indexed == 2 and not results["notes"].errors
    assert [index for index, _ in fake.sent] == ["persons", "notes"]  # empty chunk: no request


def test_next_chunk_is_built_while_the_previous_is_written() -> None:
    built_second = threading.Event()
    fake = FakeBulk(hold_first=built_second)

    def chunks() -> Iterator[tuple[str, list[IndexDoc]]]:
        yield "persons", _docs("a", 3)
        built_second.set()  # runs only if the first request does not block the builder
        yield "persons", _docs("b", 3)

    results = bulk_index_pipelined(_client(fake), chunks())
    assert results["persons"].indexed == 6


def test_transport_error_raises_and_stops_later_chunks() -> None:
    fake = FakeBulk(fail_on_call=2)
    built: list[int] = []

    def chunks() -> Iterator[tuple[str, list[IndexDoc]]]:
        for i in range(6):
            built.append(i)
            yield "persons", _docs(f"c{i}-", 2)

    with pytest.raises(OSConnectionError):
        bulk_index_pipelined(_client(fake), chunks())
    assert len(fake.sent) == 1  # chunk 0 written; chunk 1 failed; nothing after it sent
    assert len(built) <= 3  # at most one chunk built ahead of the failing one
