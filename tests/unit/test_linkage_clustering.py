"""Clustering rules and safety checks (pure; the SQL side is in tests/integration)."""

from __future__ import annotations

from typing import Any

from linkage.clustering import ScoredEdge, plan_clusters
from linkage.features import features_from_source
from linkage.safety import identifier_conflict, pair_flags, possible_twins

AUTO, REVIEW, CAP = 0.99, 0.6, 12


def plan(nodes: list[int], edges: list[ScoredEdge[int]], **kw: Any) -> Any:
    kw.setdefault("auto_threshold", AUTO)
    kw.setdefault("review_threshold", REVIEW)
    kw.setdefault("cluster_cap", CAP)
    return plan_clusters(nodes, edges, **kw)


def groups(p: Any) -> set[frozenset[int]]:
    return {frozenset(c) for c in p.clusters}


def test_thresholds_link_review_and_ignore() -> None:
    p = plan([1, 2, 3, 4, 5, 6], [ScoredEdge(1, 2, 0.995), ScoredEdge(3, 4, 0.8),
                                  ScoredEdge(5, 6, 0.3)])
    assert frozenset({1, 2}) in groups(p)
    assert frozenset({3}) in groups(p) and frozenset({5}) in groups(p)
    assert [(d.edge.a, d.edge.b) for d in p.review] == [(3, 4)]


def test_flagged_pair_goes_to_review() -> None:
    p = plan([1, 2], [ScoredEdge(1, 2, 0.9999, ("possible_twins",))])
    assert groups(p) == {frozenset({1}), frozenset({2})}
    assert "possible_twins" in p.review[0].reason


def test_flagged_pair_is_not_joined_through_a_third_record() -> None:
    edges = [ScoredEdge(1, 2, 0.5, ("identifier_conflict",)), ScoredEdge(1, 3, 0.999),
             ScoredEdge(2, 3, 0.998)]
    p = plan([1, 2, 3], edges)
    assert frozenset({1, 3}) in groups(p) and frozenset({2}) in groups(p)
    assert any("through" in d.reason for d in p.review)


def test_cluster_cap_sends_to_review() -> None:
    edges = [ScoredEdge(i, i + 1, 0.999) for i in range(1, 6)]
    p = plan(list(range(1, 7)), edges, cluster_cap=3)
    assert max(len(c) for c in p.clusters) <= 3
    assert any("more than 3" in d.reason for d in p.review)


def test_cannot_link_refuses_transitive_chain() -> None:
    edges = [ScoredEdge(1, 2, 0.999), ScoredEdge(2, 3, 0.999)]
    p = plan([1, 2, 3], edges, cannot_link=[(1, 3)])
    assert not any({1, 3} <= c for c in p.clusters)
    assert len(p.refused) == 1


def test_must_link_wins_over_thresholds_and_flags() -> None:
    p = plan([1, 2], [ScoredEdge(1, 2, 0.01, ("possible_twins",))], must_link=[(1, 2)])
    assert groups(p) == {frozenset({1, 2})}


def test_must_link_contradicting_cannot_link_is_refused() -> None:
    p = plan([1, 2, 3], [], must_link=[(1, 2), (2, 3)], cannot_link=[(1, 3)])
    assert not any({1, 3} <= c for c in p.clusters)
    assert p.refused


def test_existing_identities_stay_whole() -> None:
    p = plan([1, 2, 3], [ScoredEdge(1, 3, 0.1)], existing=[[1, 2], [3]])
    assert frozenset({1, 2}) in groups(p)


# --- safety ------------------------------------------------------------------------------------

NHS_A, NHS_B = "9434765919", "4010232137"


def rec(**kw: Any) -> Any:
    base = {"record_id": "1", "agency": "LA1", "family_name": "Khan", "dob": "2016-05-09",
            "dob_precision": "day", "postcodes": ["LS9 7AB"], "address_text": ["1 Oak Road"]}
    base.update(kw)
    return features_from_source(base)


def test_twins_same_surname_dob_address_different_names() -> None:
    assert possible_twins(rec(given_names="Hassan"), rec(given_names="Hussein"))
    assert possible_twins(rec(given_names="Twin 1"), rec(given_names="Twin 2"))


def test_not_twins_when_names_are_variants_typos_or_identifier_shared() -> None:
    assert not possible_twins(rec(given_names="Robert"), rec(given_names="Bob"))
    assert not possible_twins(rec(given_names="Riley"), rec(given_names="Rily"))
    assert not possible_twins(rec(given_names="Mohammed"), rec(given_names="Muhammad"))
    ident = [{"type": "nhs_number", "value": NHS_A, "valid": True}]
    assert not possible_twins(rec(given_names="Amy", identifiers=ident),
                              rec(given_names="Zara", identifiers=ident))


def test_not_twins_when_address_or_dob_differs() -> None:
    assert not possible_twins(rec(given_names="Amy"),
                              rec(given_names="Zara", address_text=["99 Elm Street, York"]))
    assert not possible_twins(rec(given_names="Amy"), rec(given_names="Zara", dob="2016-05-10"))


def test_identifier_conflict() -> None:
    a = rec(identifiers=[{"type": "nhs_number", "value": NHS_A, "valid": True}])
    b = rec(identifiers=[{"type": "nhs_number", "value": NHS_B, "valid": True}])
    assert identifier_conflict(a, b) == "nhs_number"
    assert "identifier_conflict" in pair_flags(a, b)
    bad = rec(identifiers=[{"type": "nhs_number", "value": "1234567890", "valid": False}])
    assert identifier_conflict(a, bad) is None


def test_same_day_same_home_different_names_and_surnames_is_flagged() -> None:
    assert possible_twins(rec(given_names="Amira", family_name="Saleh"),
                          rec(given_names="Robert", family_name="Hughes"))
