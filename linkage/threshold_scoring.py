"""Match weights of only the pairs that reach a threshold, each compared no further than it
can still get there.

A full re-link scores tens of millions of candidate pairs and keeps only those at or above
the review threshold: at 100k people 4 % of them. Once a pair's weight so far, plus the
best weight every comparison still to run could add, is below the threshold, the rest
cannot change its fate. So comparisons run cheapest and most often decisive first, and
the address comparison (the dearest, ~40 % of a pair's comparison time) runs for ~7 % of
the pairs. The weights of the pairs kept are the same floats ``score_matrix`` gives: they
are summed again, in ``COMPARISONS`` order, once every comparison of the pair is known."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from linkage.comparisons import COMPARISONS
from linkage.features import RecordFeatures
from linkage.model import TF_ADJUSTMENT_BOUNDS, ModelParams

__all__ = ["SCORING_ORDER", "weights_reaching"]

# Measured on 40,000 pairs of the 100k store's blocks (microseconds per pair, caches cold
# for those pairs): family 5.7, gender 1.6, identifiers 5.5, given 11.5, date of birth 15.9,
# address 25.7. Of the 720 orders this one needs the least expected time (28 against 66 us
# for every comparison of every pair), with the default parameters.
SCORING_ORDER: tuple[str, ...] = (
    "family_name", "gender", "identifiers", "given_name", "date_of_birth", "address")

_ORDER = tuple(next(ci for ci, c in enumerate(COMPARISONS) if c.field == f)
               for f in SCORING_ORDER)
assert sorted(_ORDER) == list(range(len(COMPARISONS))), "every comparison, once"

# A pair is dropped only when its bound is below the threshold by more than this, so that
# rounding in the partial sums can never drop a pair the exact sum would keep.
_MARGIN = 1e-9


def _best_weights(params: ModelParams) -> list[float]:
    """The most any level of each comparison can add (tf adjustments at their upper bound)."""
    table = params.level_weights()
    hi = TF_ADJUSTMENT_BOUNDS[1]
    return [max(w + (hi if c.levels[li].tf_key is not None else 0.0)
                for li, w in enumerate(table[ci]))
            for ci, c in enumerate(COMPARISONS)]


def weights_reaching(records: Sequence[RecordFeatures], pairs: Sequence[tuple[int, int]],
                     params: ModelParams, min_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(positions in ``pairs``, weights) of the pairs whose match weight is at least
    ``min_weight``: exactly what filtering ``score_matrix`` of every pair would give."""
    table = params.level_weights()
    prior = params.prior_weight
    best = _best_weights(params)
    # still_possible[pos]: the most the comparisons after position pos can add
    still_possible = [sum(best[ci] for ci in _ORDER[pos + 1:]) for pos in range(len(_ORDER))]
    steps = [(ci, COMPARISONS[ci].level_for, table[ci],
              [lv.tf_key for lv in COMPARISONS[ci].levels], still_possible[pos])
             for pos, ci in enumerate(_ORDER)]
    tf_cache: dict[tuple[int, int, str | None], float] = {}
    floor = min_weight - _MARGIN
    n = len(COMPARISONS)
    levels = [0] * n
    adjustments = [0.0] * n
    has_tf = [False] * n
    kept: list[int] = []
    weights: list[float] = []
    for k, (i, j) in enumerate(pairs):
        a, b = records[i], records[j]
        so_far = prior
        for ci, level_for, weight_of_level, tf_keys, rest in steps:
            li = level_for(a, b)[0]
            levels[ci] = li
            so_far += weight_of_level[li]
            key = tf_keys[li]
            if key is not None:
                value = key(a)
                adj = tf_cache.get((ci, li, value))
                if adj is None:
                    adj = tf_cache[(ci, li, value)] = params.tf_adjustment(
                        COMPARISONS[ci], li, value)
                adjustments[ci] = adj
                has_tf[ci] = True
                so_far += adj
            else:
                has_tf[ci] = False
            if so_far + rest < floor:
                break
        else:
            total = prior  # summed as score_matrix sums it, for the same float
            for ci in range(n):
                total += table[ci][levels[ci]]
                if has_tf[ci]:
                    total += adjustments[ci]
            if total >= min_weight:
                kept.append(k)
                weights.append(total)
    return np.array(kept, dtype=np.int64), np.array(weights, dtype=np.float64)
