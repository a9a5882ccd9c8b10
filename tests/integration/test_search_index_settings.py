"""The persons index: created with concurrent segment search on; an index built by an older
version gets this version's new fields; a built index's segments merged (real OpenSearch)."""

from __future__ import annotations

import pytest
from opensearchpy import OpenSearch

from analyzers.opensearch import (
    CONCURRENT_SEARCH_SLICES,
    PERSONS_SEGMENTS_PER_TIER,
    person_index_body,
)
from indexer.client import make_client
from indexer.lifecycle import cluster_has_icu, delete_indices, ensure_indices, index_names
from indexer.segments import (
    merge_segments,
    retention_leases_cover_all,
    wait_for_retention_leases,
)
from tests.integration._search_support import unique_prefix

pytestmark = pytest.mark.integration


def _search_settings(client: OpenSearch, index: str) -> dict[str, str]:
    found = client.indices.get_settings(index=index, flat_settings=True)
    flat: dict[str, str] = next(iter(found.values()))["settings"]
    return {k: v for k, v in flat.items() if k.startswith("index.search.concurrent")}


def _merge_policy(client: OpenSearch, index: str) -> str | None:
    found = client.indices.get_settings(index=index, flat_settings=True)
    value: str | None = found[index]["settings"].get("index.merge.policy.segments_per_tier")
    return value


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
        assert float(_merge_policy(client, physical["persons"]) or 0) == (
            PERSONS_SEGMENTS_PER_TIER)
        assert _merge_policy(client, physical["notes"]) is None
        # A query runs under the setting (OpenSearch accepts it for every query shape used).
        result = client.search(index=f"{prefix}-persons",
                               body={"query": {"match": {"all_family": "smith"}},
                                     "sort": ["_score", {"record_id": "asc"}],
                                     "track_total_hits": False})
        assert result["hits"]["hits"] == []
    finally:
        delete_indices(client, prefix)


def test_an_index_built_before_a_new_field_gets_it_and_keeps_its_documents(
        opensearch_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The mapping is strict: without the new field every new document would be refused."""
    client = make_client(opensearch_url, 30)
    prefix = unique_prefix("upgrade")
    names = index_names(prefix)
    old = person_index_body(cluster_has_icu(client))
    del old["mappings"]["properties"]["pair_keys"]
    del old["settings"]["index"]["merge.policy.segments_per_tier"]
    old["aliases"] = {names.alias("persons"): {}}
    built = names.physical("persons")
    try:
        client.indices.create(index=built, body=old)
        client.index(index=names.alias("persons"), id="1", refresh=True,
                     body={"record_id": "1", "family_name": "Smith"})
        assert _merge_policy(client, built) is None  # OpenSearch's default
        physical = ensure_indices(client, prefix)
        assert physical["persons"] == built  # the same index, kept
        assert float(_merge_policy(client, built) or 0) == PERSONS_SEGMENTS_PER_TIER
        mapping = client.indices.get_mapping(index=physical["persons"])
        assert mapping[physical["persons"]]["mappings"]["properties"]["pair_keys"] == (
            person_index_body(True)["mappings"]["properties"]["pair_keys"])
        assert "casesearch reindex" in caplog.text
        client.index(index=names.alias("persons"), id="2", refresh=True,
                     body={"record_id": "2", "pair_keys": ["gf:tamy|tsmith"]})
        found = client.search(index=names.alias("persons"),
                              body={"query": {"term": {"pair_keys": "gf:tamy|tsmith"}}})
        assert [h["_id"] for h in found["hits"]["hits"]] == ["2"]
        assert client.count(index=names.alias("persons"))["count"] == 2
        # A second start changes nothing and says nothing.
        caplog.clear()
        ensure_indices(client, prefix)
        assert "casesearch reindex" not in caplog.text
    finally:
        delete_indices(client, prefix)


def _segments(client: OpenSearch, index: str) -> int:
    shards = client.indices.segments(index=index)["indices"][index]["shards"]["0"]
    return sum(len(copy["segments"]) for copy in shards if copy["routing"]["primary"])


def test_merge_segments_leaves_one_segment_and_every_document(opensearch_url: str) -> None:
    client = make_client(opensearch_url, 30)
    prefix = unique_prefix("merge")
    try:
        physical = ensure_indices(client, prefix)["persons"]
        # The index's own merge policy would fold these small segments itself.
        client.indices.put_settings(index=physical,
                                    body={"index.merge.policy.segments_per_tier": 50})
        for batch in range(4):  # a refresh per batch: a segment each
            for i in range(5):
                client.index(index=physical, id=f"{batch}-{i}",
                             body={"record_id": f"{batch}-{i}", "family_name": "Smith"})
            client.indices.refresh(index=physical)
        assert _segments(client, physical) >= 2
        assert merge_segments(client, physical, poll_seconds=0.05) == 1
        assert _segments(client, physical) == 1
        assert client.count(index=physical)["count"] == 20
    finally:
        delete_indices(client, prefix)


def test_waiting_for_retention_leases_ends_when_they_pass_the_newest_write(
        opensearch_url: str) -> None:
    """A lease moves up to the newest operation every 30 s (OpenSearch's sync): a merge before
    that keeps the documents' recovery copies."""
    client = make_client(opensearch_url, 30)
    prefix = unique_prefix("leases")
    try:
        physical = ensure_indices(client, prefix)["persons"]
        for i in range(10):
            client.index(index=physical, id=str(i), body={"record_id": str(i)})
        assert wait_for_retention_leases(client, physical, timeout=75, poll_seconds=0.5)
        shard = client.indices.stats(index=physical, metric="docs",
                                     level="shards")["indices"][physical]["shards"]["0"][0]
        leases = shard["retention_leases"]["leases"]
        assert leases and all(lease["retaining_seq_no"] > shard["seq_no"]["max_seq_no"]
                              for lease in leases)
        client.index(index=physical, id="late", body={"record_id": "late"})
        assert not retention_leases_cover_all(client, physical)  # a new write is held again
    finally:
        delete_indices(client, prefix)
