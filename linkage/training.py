"""Unsupervised training of the Fellegi-Sunter model: no labels anywhere.

1. u: level frequencies among randomly sampled pairs (almost all random pairs are
   non-matches); a starting point.
2. m: expectation maximisation over the blocked candidate pairs, a two-class mixture. The
   non-match class inside the candidate set has its own u (candidate non-matches agree on the
   blocking fields far more often than random pairs); it is only a nuisance parameter of EM,
   and scoring keeps the u of step 4.
3. lambda: EM's match share of the candidate pairs, spread over all possible pairs; term
   frequencies of given and family names (a common name is weaker evidence).
4. u again, now that there is a model, to a fixed point (``reestimate_u``): each random pair
   weighted by its probability of being a non-match, and the address levels that need a
   shared or mistyped postcode measured among the pairs with that postcode relation.

Pure Python + numpy: the same comparisons as ``compare()``, vectorised only for counting.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from rapidfuzz.distance import OSA

from linkage.blocking import DEFAULT_RULES, BlockingRule, candidate_pairs
from linkage.comparisons import (
    COMPARISONS,
    LOCATION,
    MISTYPED_POSTCODE_LEVELS,
    SHARED_POSTCODE_LEVELS,
    postcodes_one_apart,
)
from linkage.features import RecordFeatures
from linkage.heap import frozen_heap
from linkage.model import ModelParams, default_params, trained_at_now
from linkage.threshold_scoring import weights_reaching

__all__ = [
    "POSTCODE_POOL",
    "PairMatrix",
    "PostcodeSample",
    "address_levels",
    "comparison_matrix",
    "discount_matches_in_u",
    "estimate_m_em",
    "estimate_u",
    "postcode_samples",
    "reestimate_u",
    "refine_u_within_postcodes",
    "score_matrix",
    "score_pairs",
    "term_frequencies",
    "train",
]

Progress = Callable[[str, int, int], None]
TF_TABLE_MAX = 50_000
_SMOOTH = 0.5


@dataclass
class PairMatrix:
    """Comparison levels of many pairs: gamma[k, c] = level index of pair k on comparison c;
    tf[c] = the tf value of each pair for tf-adjusted comparisons (else None)."""

    pairs: list[tuple[int, int]]
    gamma: np.ndarray
    tf: list[list[str | None] | None]


_PARALLEL_MIN_PAIRS = 20_000
T = TypeVar("T")
_CHUNK = 5_000
# Index pairs as tuples, or as an (n, 2) array for the millions of a full re-link.
PairList = Sequence[tuple[int, int]] | np.ndarray
_shared: tuple[Sequence[RecordFeatures], PairList] | None = None


def _workers_for(n: int, workers: int | None) -> int:
    """Worker processes for n pairs: 0 means compare in this process (few pairs, one core,
    or no fork start method)."""
    workers = workers if workers is not None else min(os.cpu_count() or 1, 8)
    if (n < _PARALLEL_MIN_PAIRS or workers < 2
            or "fork" not in multiprocessing.get_all_start_methods()):
        return 0
    return workers


def _over_workers(records: Sequence[RecordFeatures], pairs: PairList,
                  chunk_fn: Callable[[tuple[int, int]], T], chunk: int,
                  workers: int) -> Iterator[T]:
    """chunk_fn's result for each run of ``chunk`` pairs, in order, computed by this process
    and ``workers - 1`` forked workers that inherit records and pairs (``_shared``) rather
    than receive them pickled.

    This process takes every ``workers``-th chunk itself instead of only waiting: a worker
    ends up with a private copy of every page of records it reads (reading an object writes
    its reference count), so each worker fewer is one copy fewer of the features, about
    4.7 GB at 1M people, for the same number of busy cores.
    """
    global _shared
    _shared = (records, pairs)
    # Frozen objects are left alone by the workers' collector, which would otherwise write
    # to every record's header and so copy the parent's pages into each worker.
    try:
        with frozen_heap():
            n = len(pairs)
            bounds = [(i, min(i + chunk, n)) for i in range(0, n, chunk)]
            theirs = [b for k, b in enumerate(bounds) if k % workers]
            with multiprocessing.get_context("fork").Pool(workers - 1) as pool:
                done = pool.imap(chunk_fn, theirs)
                for k, b in enumerate(bounds):
                    yield next(done) if k % workers else chunk_fn(b)
    finally:
        _shared = None


def _in_process(records: Sequence[RecordFeatures], pairs: PairList,
                chunk_fn: Callable[[tuple[int, int]], T], chunk: int) -> Iterator[T]:
    """``_over_workers`` without workers: the same chunks, in this process."""
    global _shared
    _shared = (records, pairs)
    try:
        for start in range(0, len(pairs), chunk):
            yield chunk_fn((start, min(start + chunk, len(pairs))))
    finally:
        _shared = None


def _tuples(pairs: PairList) -> Sequence[tuple[int, int]]:
    """Pairs as Python int tuples (an array's rows as numpy scalars index and hash slowly)."""
    if isinstance(pairs, np.ndarray):
        return [(i, j) for i, j in pairs.tolist()]
    return pairs


def _matrix_chunk(bounds: tuple[int, int]) -> PairMatrix:
    assert _shared is not None
    records, pairs = _shared
    return _comparison_matrix(records, _tuples(pairs[bounds[0]:bounds[1]]), None)


def comparison_matrix(
    records: Sequence[RecordFeatures],
    pairs: Sequence[tuple[int, int]],
    progress: Progress | None = None,
    workers: int | None = None,
) -> PairMatrix:
    """Comparison levels of every pair. Large inputs are split over worker processes (fork,
    where available): the same code on each chunk, results concatenated in order."""
    n = len(pairs)
    workers = _workers_for(n, workers)
    if not workers:
        return _comparison_matrix(records, pairs, progress)
    parts: list[PairMatrix] = []
    for part in _over_workers(records, pairs, _matrix_chunk, _CHUNK, workers):
        parts.append(part)
        if progress is not None:
            progress("compare", sum(len(x.pairs) for x in parts), n)
    gamma = np.concatenate([x.gamma for x in parts]) if parts else np.zeros(
        (0, len(COMPARISONS)), dtype=np.int8)
    tf: list[list[str | None] | None] = []
    for ci in range(len(COMPARISONS)):
        cols = [x.tf[ci] for x in parts]
        tf.append(None if not cols or cols[0] is None else
                  [v for col in cols for v in (col or [])])
    return PairMatrix(list(pairs), gamma, tf)


def _address_chunk(bounds: tuple[int, int]) -> np.ndarray:
    assert _shared is not None
    records, pairs = _shared
    return _address_levels(records, _tuples(pairs[bounds[0]:bounds[1]]))


def _address_levels(records: Sequence[RecordFeatures],
                    pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    level_for = LOCATION.level_for
    return np.fromiter((level_for(records[i], records[j])[0] for i, j in pairs),
                       dtype=np.int8, count=len(pairs))


def address_levels(records: Sequence[RecordFeatures], pairs: Sequence[tuple[int, int]],
                   workers: int | None = None) -> np.ndarray:
    """The address comparison's level of every pair, alone (a third of the cost of every
    comparison); split over worker processes as ``comparison_matrix`` is."""
    workers = _workers_for(len(pairs), workers)
    if not workers:
        return _address_levels(records, pairs)
    return np.concatenate(list(_over_workers(records, pairs, _address_chunk, _CHUNK * 4,
                                             workers)))


def _comparison_matrix(
    records: Sequence[RecordFeatures],
    pairs: Sequence[tuple[int, int]],
    progress: Progress | None = None,
) -> PairMatrix:
    n = len(pairs)
    gamma = np.zeros((n, len(COMPARISONS)), dtype=np.int8)
    has_tf = [any(lv.tf_key is not None for lv in c.levels) for c in COMPARISONS]
    tf: list[list[str | None] | None] = [[None] * n if t else None for t in has_tf]
    step = max(1, n // 100)
    for k, (i, j) in enumerate(pairs):
        a, b = records[i], records[j]
        for ci, c in enumerate(COMPARISONS):
            li, _ = c.level_for(a, b)
            gamma[k, ci] = li
            key = c.levels[li].tf_key
            if key is not None:
                col = tf[ci]
                assert col is not None
                col[k] = key(a)
        if progress is not None and k % step == 0:
            progress("compare", k, n)
    if progress is not None:
        progress("compare", n, n)
    return PairMatrix(list(pairs), gamma, tf)


def score_matrix(params: ModelParams, pm: PairMatrix) -> np.ndarray:
    """Match weight of every pair: identical to ``compare()`` without the explanation."""
    w = np.full(len(pm.pairs), params.prior_weight, dtype=np.float64)
    for ci, c in enumerate(COMPARISONS):
        table = np.array([params.level_weight(c, li) for li in range(len(c.levels))])
        col = pm.gamma[:, ci]
        w += table[col]
        values = pm.tf[ci]
        if values is None:
            continue
        for li, level in enumerate(c.levels):
            if level.tf_key is None:
                continue
            cache: dict[str | None, float] = {}
            for k in np.nonzero(col == li)[0]:
                v = values[k]
                adj = cache.get(v)
                if adj is None:
                    adj = cache[v] = params.tf_adjustment(c, li, v)
                w[k] += adj
    return w


def _scored_chunk(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    assert _shared is not None and _scoring is not None
    records, pairs = _shared
    params, min_weight = _scoring
    keep, weights = weights_reaching(records, _tuples(pairs[bounds[0]:bounds[1]]), params,
                                     min_weight)
    return keep + bounds[0], weights


_scoring: tuple[ModelParams, float] | None = None


def score_pairs(records: Sequence[RecordFeatures], pairs: np.ndarray, params: ModelParams,
                min_weight: float, progress: Progress | None = None,
                workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Match weights of the pairs scoring at least ``min_weight``: (row numbers in ``pairs``,
    weights). ``weights_reaching`` a chunk at a time, so only the kept pairs are ever held
    (a full re-link at 1M people compares tens of millions of pairs and keeps well under a
    million) and a pair is compared only while it can still reach ``min_weight``."""
    global _scoring
    n = len(pairs)
    chunk = _CHUNK * 4
    kept: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    _scoring = (params, min_weight)
    try:
        workers = _workers_for(n, workers)
        chunks: Iterator[tuple[np.ndarray, np.ndarray]] = (
            _over_workers(records, pairs, _scored_chunk, chunk, workers) if workers
            else _in_process(records, pairs, _scored_chunk, chunk))
        for done, (rows, w) in enumerate(chunks, start=1):
            kept.append(rows)
            weights.append(w)
            if progress is not None:
                progress("compare", min(n, done * chunk), n)
    finally:
        _scoring = None
    if not kept:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    return np.concatenate(kept), np.concatenate(weights)


def _level_shares(gamma: np.ndarray, weights: np.ndarray | None = None) -> dict[str,
                                                                                dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for ci, c in enumerate(COMPARISONS):
        col = gamma[:, ci]
        counts = np.bincount(col, weights=weights, minlength=len(c.levels)).astype(float)
        live = [li for li, lv in enumerate(c.levels) if not lv.is_null]
        total = float(sum(counts[li] for li in live))
        denom = total + _SMOOTH * len(live)
        out[c.field] = {c.levels[li].label: (counts[li] + _SMOOTH) / denom for li in live}
    return out


def _random_pairs(records: Sequence[RecordFeatures], n: int, link_only: bool,
                  rng: random.Random) -> list[tuple[int, int]]:
    size = len(records)
    if size < 2:
        return []
    pairs: set[tuple[int, int]] = set()
    attempts = 0
    if link_only:
        by_agency: dict[str | None, list[int]] = {}
        for i, r in enumerate(records):
            by_agency.setdefault(r.agency, []).append(i)
        groups = list(by_agency.values())
        if len(groups) < 2:
            return []
    while len(pairs) < n and attempts < n * 5:
        attempts += 1
        if link_only:
            ga, gb = rng.sample(groups, 2)
            i, j = rng.choice(ga), rng.choice(gb)
        else:
            i, j = rng.randrange(size), rng.randrange(size)
        if i != j:
            pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def _random_matrix(records: Sequence[RecordFeatures], *, sample_size: int, link_only: bool,
                   seed: int, progress: Progress | None = None) -> PairMatrix | None:
    rng = random.Random(seed)
    size = len(records)
    possible = size * (size - 1) // 2
    pairs = _random_pairs(records, min(sample_size, possible), link_only, rng)
    if not pairs:
        return None
    return comparison_matrix(records, pairs, progress)


def estimate_u(records: Sequence[RecordFeatures], params: ModelParams, *,
               sample_size: int = 200_000, link_only: bool = False, seed: int = 42,
               progress: Progress | None = None) -> PairMatrix | None:
    """Set params.u from randomly sampled pairs; returns the sample (None when there are no
    two records to pair), which training reuses to discount the matches in it."""
    pm = _random_matrix(records, sample_size=sample_size, link_only=link_only, seed=seed,
                        progress=progress)
    if pm is not None:
        params.u = _level_shares(pm.gamma)
    return pm


def _not_match(params: ModelParams, pm: PairMatrix) -> np.ndarray:
    weights = score_matrix(params, pm)
    return 1.0 - 1.0 / (1.0 + np.exp2(-np.clip(weights, -60.0, 60.0)))


def discount_matches_in_u(random_pairs: PairMatrix, params: ModelParams,
                          rounds: int = 3) -> float:
    """Re-estimate u with each random pair weighted by the model's probability that it is
    NOT a match; returns the share of the sample judged to be matches.

    Random pairs are "almost all" non-matches only when duplicates are rare. Where a source
    holds many records of the same people (FEBRL3: one pair in 2,000 is a match) the matches
    in the sample inflate u of exactly the levels that identify a person (same address, same
    date of birth), so the strongest evidence came out weakest. Needs m and lambda first.
    """
    if not random_pairs.pairs:
        return 0.0
    matched = 0.0
    for _ in range(rounds):
        not_match = _not_match(params, random_pairs)
        params.u = _level_shares(random_pairs.gamma, not_match)
        matched = float(1.0 - not_match.mean())
    return matched


Block = tuple[list[int], list[int] | None]


def _postcode_blocks(records: Sequence[RecordFeatures]) -> tuple[list[Block], list[Block]]:
    """Groups of records that share a postcode (pairs within a group), and pairs of groups
    whose postcodes are one character apart (a substitution or two adjacent characters
    swapped; pairs across the two groups)."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        for pc in set(r.postcodes):
            groups.setdefault(pc, []).append(i)
    same: list[Block] = [(g, None) for g in groups.values() if len(g) > 1]
    keyed: dict[str, set[str]] = {}
    for pc in groups:
        for k in range(len(pc)):
            keyed.setdefault(f"{pc[:k]}\0{pc[k + 1:]}", set()).add(pc)
            if k + 1 < len(pc) and pc[k] != pc[k + 1]:
                keyed.setdefault(f"{pc[:k]}{pc[k + 1]}{pc[k]}{pc[k + 2:]}\1", set()).add(pc)
        keyed.setdefault(f"{pc}\1", set()).add(pc)
    near: set[tuple[str, str]] = set()
    for members in keyed.values():
        if len(members) > 1:
            ordered = sorted(members)
            # Two postcodes that are each one swap from a third ("4560", "4605": "4650")
            # share a key but are two edits apart: keep only the pairs one edit apart.
            near.update((a, b) for x, a in enumerate(ordered) for b in ordered[x + 1:]
                        if OSA.distance(a, b) == 1)
    typo: list[Block] = [(groups[a], groups[b]) for a, b in sorted(near)]
    return same, typo


def _pairs_in_blocks(records: Sequence[RecordFeatures], blocks: Sequence[Block], n: int,
                     link_only: bool, rng: random.Random) -> list[tuple[int, int]]:
    """Up to n distinct random pairs, uniform over all the pairs the blocks hold."""
    if not blocks:
        return []
    weights = [len(a) * (len(a) - 1) if b is None else len(a) * len(b) for a, b in blocks]
    cumulative = list(itertools.accumulate(weights))  # once, not on every draw
    pairs: set[tuple[int, int]] = set()
    attempts = 0
    while len(pairs) < n and attempts < n * 5:
        attempts += 1
        a, b = rng.choices(blocks, cum_weights=cumulative)[0]
        i, j = rng.sample(a, 2) if b is None else (rng.choice(a), rng.choice(b))
        if i == j or (link_only and records[i].agency == records[j].agency):
            continue
        pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


@dataclass
class PostcodeSample:
    """Pairs with one postcode relation (typo=False: a shared postcode; typo=True: postcodes
    one character apart), for the address levels ``labels`` that need that relation.

    ``pool`` pairs were drawn (all of them, up to ``POSTCODE_POOL``) and compared on the
    address alone; ``matrix`` holds, for each address level, up to ``sample_size`` of them
    compared in full (to weigh each by the model's probability that it is not a match), and
    ``scale`` says how many pool pairs each stands for. A level no non-match reaches is
    measured against the whole pool, not a sample: its pseudo-count of half a pair then
    stands for a frequency of 1 / (2 x pool), which is what the data can resolve."""

    typo: bool
    labels: tuple[str, ...]
    pool: int
    matrix: PairMatrix
    scale: np.ndarray


# Pairs within (or across mistyped) postcodes compared on the address alone: enough to
# resolve "no non-match shares these address lines" down to ~1e-6 of the pairs in a postcode.
POSTCODE_POOL = 400_000


def _all_pairs_in_blocks(records: Sequence[RecordFeatures], blocks: Sequence[Block],
                         link_only: bool) -> list[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for a, b in blocks:
        if b is None:
            cross = ((a[x], a[y]) for x in range(len(a)) for y in range(x + 1, len(a)))
        else:
            cross = ((i, j) for i in a for j in b)
        for i, j in cross:
            if i == j or (link_only and records[i].agency == records[j].agency):
                continue
            pairs.add((i, j) if i < j else (j, i))
    return sorted(pairs)


def _pairs_held(records: Sequence[RecordFeatures], blocks: Sequence[Block],
                link_only: bool) -> int:
    """How many pairs the blocks hold (a pair in two blocks counted twice; link_only: only
    pairs of records from different agencies)."""
    total = 0
    for a, b in blocks:
        if b is None:
            total += len(a) * (len(a) - 1) // 2
            if link_only:
                total -= sum(n * (n - 1) // 2 for n in Counter(
                    records[i].agency for i in a).values())
        else:
            total += len(a) * len(b)
            if link_only:
                in_b = Counter(records[j].agency for j in b)
                total -= sum(n * in_b[g] for g, n in Counter(
                    records[i].agency for i in a).items())
    return total


def postcode_samples(records: Sequence[RecordFeatures], *, link_only: bool = False,
                     sample_size: int = 20_000, pool_size: int = POSTCODE_POOL,
                     seed: int = 42) -> list[PostcodeSample]:
    """The pairs that measure the address levels needing a shared or mistyped postcode."""
    rng = random.Random(seed)
    out: list[PostcodeSample] = []
    for blocks, typo, labels in zip(_postcode_blocks(records), (False, True),
                                    (SHARED_POSTCODE_LEVELS, MISTYPED_POSTCODE_LEVELS),
                                    strict=True):
        pool = (_all_pairs_in_blocks(records, blocks, link_only)
                if _pairs_held(records, blocks, link_only) <= pool_size
                else _pairs_in_blocks(records, blocks, pool_size, link_only, rng))
        if not pool:
            continue
        levels = address_levels(records, pool)
        chosen: list[tuple[int, int]] = []
        scale: list[float] = []
        for li in range(len(LOCATION.levels)):
            members = [pool[k] for k in np.nonzero(levels == li)[0]]
            if not members:
                continue
            picked = members if len(members) <= sample_size else sorted(
                rng.sample(members, sample_size))
            chosen.extend(picked)
            scale.extend([len(members) / len(picked)] * len(picked))
        matrix = comparison_matrix(records, chosen)
        out.append(PostcodeSample(typo, labels, len(pool), matrix, np.array(scale)))
    return out


def _related(records: Sequence[RecordFeatures], random_pairs: PairMatrix,
             samples: Sequence[PostcodeSample]) -> list[np.ndarray]:
    """For each sample, which random pairs have its postcode relation."""
    return [np.array([_postcode_related(records[i], records[j], sample.typo)
                      for i, j in random_pairs.pairs], dtype=bool) for sample in samples]


def _postcode_u(random_pairs: PairMatrix, samples: Sequence[PostcodeSample],
                related_pairs: Sequence[np.ndarray], params: ModelParams,
                u: dict[str, float]) -> dict[str, float]:
    """``u`` (the address levels' shares among the random sample's non-matches) with the
    levels that need a shared or mistyped postcode replaced by P(postcode relation) x
    P(level | postcode relation), both among non-matches as the current ``params`` judge
    them; normalised."""
    ci = COMPARISONS.index(LOCATION)
    u = dict(u)
    not_match = _not_match(params, random_pairs)
    for sample, related in zip(samples, related_pairs, strict=True):
        p_related = float((not_match * related).sum() / max(not_match.sum(), 1e-12))
        weights = _not_match(params, sample.matrix) * sample.scale
        col = sample.matrix.gamma[:, ci]
        total = float(weights.sum())
        if total <= 0:
            continue
        for label in sample.labels:
            count = float(weights[col == LOCATION.index(label)].sum())
            u[label] = p_related * (count + _SMOOTH) / (total + _SMOOTH)
    norm = sum(u.values())
    return {k: v / norm for k, v in u.items()}


def refine_u_within_postcodes(records: Sequence[RecordFeatures], random_pairs: PairMatrix,
                              params: ModelParams, *, link_only: bool = False,
                              sample_size: int = 20_000, seed: int = 42) -> int:
    """u of the address levels that need a shared (or mistyped) postcode, as
    P(postcode relation) x P(level | postcode relation), both among non-matches (one pass;
    ``reestimate_u`` repeats it to a fixed point).

    A random sample holds few pairs that share a postcode, and almost none that also share
    the address lines, so those levels' u used to rest on a pseudo-count. The second factor
    is measured on a sample drawn from pairs that do share a postcode, where it is common.
    Nothing is assumed about independence: where the lines follow from the postcode (UK
    addresses: a postcode is a dozen homes) the lines add little; where they do not, they
    add what they are worth. Returns the number of pairs compared on the address."""
    if not random_pairs.pairs:
        return 0
    samples = postcode_samples(records, link_only=link_only, sample_size=sample_size,
                               seed=seed)
    field = LOCATION.field
    params.u[field] = _postcode_u(random_pairs, samples,
                                  _related(records, random_pairs, samples), params,
                                  params.u.get(field, {}))
    return sum(s.pool for s in samples)


def reestimate_u(records: Sequence[RecordFeatures], random_pairs: PairMatrix,
                 params: ModelParams, *, link_only: bool = False, sample_size: int = 20_000,
                 seed: int = 42, max_rounds: int = 30,
                 tolerance: float = 0.01) -> dict[str, float | int | bool]:
    """u of every level among non-matches, to a fixed point: each round weighs every random
    pair and every pair drawn within postcodes by the model's probability that it is NOT a
    match, re-estimates u from those weights (``discount_matches_in_u``, and the postcode
    levels as in ``refine_u_within_postcodes``), and stops when no level's weight moves by
    ``tolerance`` bits. Needs m and lambda first.

    One pass is not enough. Where a shared address is rare among non-matches (FEBRL: none
    of 24,390 non-matching pairs within a postcode shares the address lines), the few true
    matches that share the address but little else are the only pairs at that level the
    first model does not recognise; counted as non-matches, they alone set u, which kept
    their own weight too low to be recognised. Repeating the estimate lets the data settle
    it either way: where non-matches share homes (households, UK postcodes), they keep u
    high whatever the matches do."""
    samples = postcode_samples(records, link_only=link_only, sample_size=sample_size,
                               seed=seed)
    field = LOCATION.field
    related = _related(records, random_pairs, samples)
    rounds, converged, matched = 0, False, 0.0
    while rounds < max_rounds:
        rounds += 1
        before = params.level_weights()
        not_match = _not_match(params, random_pairs)
        matched = float(1.0 - not_match.mean())
        u = _level_shares(random_pairs.gamma, not_match)
        u[field] = _postcode_u(random_pairs, samples, related, params, u[field])
        params.u = u
        after = params.level_weights()
        moved = max((abs(x - y) for bw, aw in zip(before, after, strict=True)
                     for x, y in zip(bw, aw, strict=True)), default=0.0)
        if moved < tolerance:
            converged = True
            break
    return {"rounds": rounds, "converged": converged, "matched": matched,
            "postcode_pairs": sum(s.pool for s in samples),
            "postcode_compared": sum(len(s.matrix.pairs) for s in samples)}


def _postcode_related(a: RecordFeatures, b: RecordFeatures, typo: bool) -> bool:
    if set(a.postcodes) & set(b.postcodes):
        return not typo
    return typo and postcodes_one_apart(a.postcodes, b.postcodes) is not None


def estimate_m_em(pm: PairMatrix, params: ModelParams, *, max_iterations: int = 100,
                  tolerance: float = 1e-5, initial_match_share: float = 0.3) -> dict[str, object]:
    """EM over candidate pairs: sets params.m; returns iterations, convergence and the match
    share of the candidate pairs."""
    gamma = pm.gamma
    n = gamma.shape[0]
    if n == 0:
        return {"iterations": 0, "converged": False, "match_share": 0.0}
    m = {c.field: dict(params.m.get(c.field, {})) for c in COMPARISONS}
    u_b = {c.field: dict(params.u.get(c.field, {})) for c in COMPARISONS}
    share = initial_match_share
    converged = False
    iterations = 0
    for iteration in range(1, max_iterations + 1):
        iterations = iteration
        log_m = np.zeros(n)
        log_u = np.zeros(n)
        for ci, c in enumerate(COMPARISONS):
            lm = np.zeros(len(c.levels))
            lu = np.zeros(len(c.levels))
            for li, lv in enumerate(c.levels):
                if lv.is_null:
                    continue
                lm[li] = np.log(max(m[c.field].get(lv.label, lv.m), 1e-9))
                lu[li] = np.log(max(u_b[c.field].get(lv.label, lv.u), 1e-9))
            col = gamma[:, ci]
            log_m += lm[col]
            log_u += lu[col]
        a = np.log(share) + log_m
        b = np.log1p(-share) + log_u
        top = np.maximum(a, b)
        post = np.exp(a - top) / (np.exp(a - top) + np.exp(b - top))
        new_share = float(min(max(post.mean(), 1e-9), 1 - 1e-9))
        new_m = _level_shares(gamma, post)
        new_u = _level_shares(gamma, 1.0 - post)
        delta = abs(new_share - share)
        for field, levels in new_m.items():
            for label, value in levels.items():
                delta = max(delta, abs(value - m[field].get(label, 0.0)))
        m, u_b, share = new_m, new_u, new_share
        if delta < tolerance:
            converged = True
            break
    params.m = m
    return {"iterations": iterations, "converged": converged, "match_share": share}


def term_frequencies(records: Sequence[RecordFeatures]) -> dict[str, dict[str, float]]:
    """Relative frequency of every compact given / family name (the most common
    TF_TABLE_MAX of each)."""
    out: dict[str, dict[str, float]] = {}
    for field, attr in (("given_name", "given"), ("family_name", "family")):
        counts: Counter[str] = Counter()
        for r in records:
            v = getattr(r, attr)
            if v:
                counts[v.replace(" ", "")] += 1
        total = sum(counts.values())
        if total:
            out[field] = {k: c / total for k, c in counts.most_common(TF_TABLE_MAX)}
    return out


def train(
    records: Sequence[RecordFeatures],
    *,
    link_only: bool = False,
    rules: Sequence[BlockingRule] = DEFAULT_RULES,
    u_sample_size: int = 200_000,
    seed: int = 42,
    params: ModelParams | None = None,
    progress: Progress | None = None,
    pairs: Sequence[tuple[int, int]] | None = None,
    matrix: PairMatrix | None = None,
) -> ModelParams:
    """Train m, u, lambda and tf tables on records without labels. Returns new params."""
    started = time.perf_counter()
    p = (params or default_params()).copy()
    random_matrix = estimate_u(records, p, sample_size=u_sample_size, link_only=link_only,
                               seed=seed, progress=progress)
    if matrix is None:
        if pairs is None:
            pairs = candidate_pairs(records, rules, link_only=link_only)
        matrix = comparison_matrix(records, pairs, progress)
    em = estimate_m_em(matrix, p)
    size = len(records)
    if link_only:
        agencies = Counter(r.agency for r in records)
        possible = (size * size - sum(v * v for v in agencies.values())) // 2
    else:
        possible = size * (size - 1) // 2
    share = float(em["match_share"])  # type: ignore[arg-type]
    if possible:
        p.lambda_ = min(max(share * len(matrix.pairs) / possible, 1e-9), 0.5)
    p.tf = term_frequencies(records)
    u_fit: dict[str, float | int | bool] = {"rounds": 0, "converged": False, "matched": 0.0,
                                            "postcode_pairs": 0, "postcode_compared": 0}
    if random_matrix is not None and random_matrix.pairs:
        u_fit = reestimate_u(records, random_matrix, p, link_only=link_only, seed=seed)
    p.trained_at = trained_at_now()
    p.training = {
        "source": "em",
        "records": size,
        "candidate_pairs": len(matrix.pairs),
        "u_sample_pairs": len(random_matrix.pairs) if random_matrix is not None else 0,
        "em_iterations": em["iterations"],
        "em_converged": em["converged"],
        "candidate_match_share": round(share, 6),
        "u_sample_match_share": round(float(u_fit["matched"]), 6),
        "u_postcode_pairs": u_fit["postcode_pairs"],
        "u_postcode_compared": u_fit.get("postcode_compared", 0),
        "u_rounds": u_fit["rounds"],
        "u_converged": u_fit["converged"],
        "seconds": round(time.perf_counter() - started, 2),
    }
    return p
