"""`casesearch eval linkage --dataset synthetic`: the generator's households, twins and
siblings through the production path (ingest into SQLite, features from the indexer's
documents), scored against the generator's truth file."""

from __future__ import annotations

import pytest

from linkage.evaluation import (
    Dataset,
    metrics,
    run_casesearch,
    synthetic_dataset,
    wrong_clusters,
)

pytest.importorskip("faker")


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return synthetic_dataset(150, seed=7)


def test_truth_links_every_record_of_a_person(dataset: Dataset) -> None:
    ids = {r.record_id for r in dataset.records}
    assert len(ids) == len(dataset.records) > 150  # several agencies hold most children
    assert dataset.links and all(a in ids and b in ids for a, b in dataset.links)


def test_policy_never_merges_two_people(dataset: Dataset) -> None:
    model, policy = run_casesearch(dataset)
    assert policy.details["wrong_clusters"] == 0
    assert policy.metrics.precision == 1.0
    assert policy.metrics.recall > 0.9
    assert model.metrics.recall >= policy.metrics.recall


def test_wrong_clusters_counts_identities_holding_two_people() -> None:
    nodes = ["a1", "a2", "b1", "c1"]
    truth = [("a1", "a2")]
    assert wrong_clusters(nodes, {"a1": 1, "a2": 1, "b1": 2, "c1": 3}, truth) == 0
    assert wrong_clusters(nodes, {"a1": 1, "a2": 1, "b1": 1, "c1": 3}, truth) == 1
    m = metrics(nodes, {"a1": 1, "a2": 2, "b1": 3, "c1": 4}, truth)
    assert m.precision == 1.0 and m.recall == 0.0
