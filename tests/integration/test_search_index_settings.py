"""The persons index is created with concurrent segment search on (real OpenSearch)."""

from __future__ import annotations

import pytest
from opensearchpy import OpenSearch

from analyzers.opensearch import CONCURRENT_SEARCH_SLICES
from indexer.client import make_client
from indexer.lifecycle import delete_indices, ensure_indices
from tests.integration._search_support import unique_prefix

pytestmark = pytest.mark.integration


def _search_settings(client: OpenSearch, index: str) -> dict[str, str]:
    found = client.indices.get_settings(index=index, flat_settings=True)
    flat: dict[str, str] = next(iter(found.values()))["settings"]
    return {k: v for k, v in flat.items() if k.startswith("index.search.concurrent")}


def test_created_persons_index_searches_segments_concurrently(opensearch_url: str) -> None:
    client = make_client(opensearch_url, 30)
    prefix = unique_prefix("concurrency")
    try:
        physical = ensure_indices(client, prefix)
        assert _search_settings(client, physical["persons"]) == {
            "index.search.concurrent_segment_search.mode": "all",
            "index.search.concurrent.max_slice_count": str(CONCURRENT_SEARCH_SLICES),
        }
        # The notes index keeps OpenSearch's defaults (not measured there).
        assert _search_settings(client, physical["notes"]) == {}
        # A query runs under the setting (OpenSearch accepts it for every query shape used).
        result = client.search(index=f"{prefix}-persons",
                               body={"query": {"match": {"all_family": "smith"}},
                                     "sort": ["_score", {"record_id": "asc"}],
                                     "track_total_hits": False})
        assert result["hits"]["hits"] == []
    finally:
        delete_indices(client, prefix)
