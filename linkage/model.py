"""Fellegi-Sunter scoring: parameters, pair scores, grades and explanations.

match weight = log2(lambda / (1 - lambda)) + sum over fields of log2(m / u) for the level the
pair reached, plus a term-frequency adjustment for exact name agreement (a common surname is
weaker evidence than a rare one). The probability is 2^w / (1 + 2^w).

``DEFAULT_PARAMS`` (hand-set m/u from the comparison declarations) let ``compare()`` work
before any training; ``linkage.training`` estimates u by random sampling and m by EM and
saves them as JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from linkage.comparisons import COMPARISONS, Comparison
from linkage.features import RecordFeatures
from linkage.safety import pair_flags

__all__ = [
    "DEFAULT_LAMBDA",
    "GRADE_THRESHOLDS",
    "FieldComparison",
    "Grade",
    "ModelParams",
    "PairScore",
    "compare",
    "compare_field",
    "comparison_vector",
    "default_params",
    "grade_for",
    "load_params",
    "probability",
    "weight_of",
]

Grade = Literal["certain", "probable", "possible", "certainly_not"]
# Lower bounds of match probability per grade; below "possible" is "certainly_not".
GRADE_THRESHOLDS: dict[str, float] = {"certain": 0.99, "probable": 0.80, "possible": 0.20}
DEFAULT_LAMBDA = 1e-4
PARAMS_FILE = "linkage_params.json"
TF_ADJUSTMENT_BOUNDS = (-4.0, 3.0)
_PROB_FLOOR = 1e-12


class FieldComparison(NamedTuple):
    """One field of a pair's score. A named tuple, not a frozen dataclass: every pair makes
    six of them, and a frozen dataclass's __init__ costs several times more."""

    field: str
    level: str
    weight: float
    reason: str


@dataclass(slots=True)  # not frozen: its __init__ would cost more than scoring a field
class PairScore:
    match_weight: float
    match_probability: float
    grade: Grade
    fields: list[FieldComparison]
    flags: tuple[str, ...] = ()

    def explanation(self) -> list[dict[str, Any]]:
        """JSON-ready per-field explanation (strongest evidence first)."""
        ordered = sorted(self.fields, key=lambda f: -abs(f.weight))
        return [{"field": f.field, "level": f.level, "weight": round(f.weight, 2),
                 "reason": f.reason} for f in ordered]

    def as_dict(self) -> dict[str, Any]:
        return {
            "match_weight": round(self.match_weight, 3),
            "match_probability": self.match_probability,
            "grade": self.grade,
            "flags": list(self.flags),
            "fields": self.explanation(),
        }


@dataclass
class ModelParams:
    """m and u per comparison level, the prior lambda and term-frequency tables.

    m[field][level], u[field][level]: probability of the level among matching / non-matching
    pairs. lambda_: prior probability that a pair of records is a match.
    tf[field][value]: relative frequency of a value (compact name) for the tf-adjusted levels.
    """

    m: dict[str, dict[str, float]]
    u: dict[str, dict[str, float]]
    lambda_: float = DEFAULT_LAMBDA
    tf: dict[str, dict[str, float]] = field(default_factory=dict)
    tf_weight: float = 1.0
    trained_at: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    _tf_floor: dict[str, float] = field(default_factory=dict, init=False, repr=False,
                                        compare=False)
    _table: tuple[tuple[Any, ...], tuple[tuple[float, ...], ...]] | None = field(
        default=None, init=False, repr=False, compare=False)

    # weights -------------------------------------------------------------------------------
    def level_weight(self, comparison: Comparison, index: int) -> float:
        level = comparison.levels[index]
        if level.is_null:
            return 0.0
        m = max(self.m.get(comparison.field, {}).get(level.label, level.m), _PROB_FLOOR)
        u = max(self.u.get(comparison.field, {}).get(level.label, level.u), _PROB_FLOOR)
        w = math.log2(m / u)
        if level.min_weight is not None:
            w = max(w, level.min_weight)
        if level.max_weight is not None:
            w = min(w, level.max_weight)
        return w

    def level_weights(self) -> tuple[tuple[float, ...], ...]:
        """``level_weight`` of every level of every comparison (in ``COMPARISONS`` order),
        computed once and reused while m, u and lambda are not replaced. (Training replaces
        the dicts; a value changed inside a dict after scoring began is not seen: copy() the
        parameters to change them.)"""
        key = (id(self.m), id(self.u), tuple(map(id, self.m.values())),
               tuple(map(id, self.u.values())))
        table = self._table
        if table is None or table[0] != key:
            weights = tuple(tuple(self.level_weight(c, i) for i in range(len(c.levels)))
                            for c in COMPARISONS)
            table = self._table = (key, weights)
        return table[1]

    def tf_adjustment(self, comparison: Comparison, index: int, value: str | None) -> float:
        """log2(u_level / tf(value)), bounded; 0 without a table or value."""
        level = comparison.levels[index]
        table = self.tf.get(comparison.field)
        if level.tf_key is None or not table or not value or self.tf_weight == 0:
            return 0.0
        freq = table.get(value)
        if freq is None:
            floor = self._tf_floor.get(comparison.field)
            if floor is None:
                floor = self._tf_floor[comparison.field] = min(table.values())
            freq = floor
        u = max(self.u.get(comparison.field, {}).get(level.label, level.u), _PROB_FLOOR)
        adj = math.log2(u / max(freq, _PROB_FLOOR)) * self.tf_weight
        lo, hi = TF_ADJUSTMENT_BOUNDS
        return min(max(adj, lo), hi)

    @property
    def prior_weight(self) -> float:
        lam = min(max(self.lambda_, 1e-12), 1 - 1e-12)
        return math.log2(lam / (1 - lam))

    # persistence ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": 1,
            "lambda": self.lambda_,
            "m": self.m,
            "u": self.u,
            "tf": self.tf,
            "tf_weight": self.tf_weight,
            "trained_at": self.trained_at,
            "training": self.training,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelParams:
        return cls(
            m={k: dict(v) for k, v in data["m"].items()},
            u={k: dict(v) for k, v in data["u"].items()},
            lambda_=float(data.get("lambda", DEFAULT_LAMBDA)),
            tf={k: dict(v) for k, v in (data.get("tf") or {}).items()},
            tf_weight=float(data.get("tf_weight", 1.0)),
            trained_at=data.get("trained_at"),
            training=dict(data.get("training") or {}),
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True), "utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ModelParams:
        return cls.from_json(json.loads(path.read_text("utf-8")))

    def copy(self) -> ModelParams:
        return ModelParams.from_json(json.loads(json.dumps(self.to_json())))


def default_params() -> ModelParams:
    """Hand-set parameters from the comparison declarations (a fresh copy)."""
    m = {c.field: {lv.label: lv.m for lv in c.levels if not lv.is_null} for c in COMPARISONS}
    u = {c.field: {lv.label: lv.u for lv in c.levels if not lv.is_null} for c in COMPARISONS}
    return ModelParams(m=m, u=u, lambda_=DEFAULT_LAMBDA,
                       trained_at=None, training={"source": "defaults"})


@lru_cache(maxsize=1)
def _cached_default() -> ModelParams:
    return default_params()


def load_params(data_dir: Path | str | None) -> ModelParams:
    """Trained parameters from ``<data_dir>/linkage_params.json``, else the defaults."""
    if data_dir is not None:
        path = Path(data_dir) / PARAMS_FILE
        if path.exists():
            return ModelParams.load(path)
    return _cached_default()


def weight_of(p: float) -> float:
    """The match weight whose ``probability`` is p (its inverse)."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log2(p / (1.0 - p))


def probability(weight: float) -> float:
    if weight > 60:
        return 1.0
    if weight < -60:
        return 0.0
    odds = 2.0**weight
    return odds / (1.0 + odds)


def grade_for(p: float, flags: Sequence[str] = ()) -> Grade:
    """Map a probability to a FHIR-style grade. A flagged pair (conflicting identifiers,
    possible twins, conflicting dates of birth or gender) is never better than "possible"."""
    grade: Grade
    if p >= GRADE_THRESHOLDS["certain"]:
        grade = "certain"
    elif p >= GRADE_THRESHOLDS["probable"]:
        grade = "probable"
    elif p >= GRADE_THRESHOLDS["possible"]:
        grade = "possible"
    else:
        grade = "certainly_not"
    if flags and grade in ("certain", "probable"):
        grade = "possible"  # any safety flag (see linkage.safety) means a person must look
    return grade


def comparison_vector(a: RecordFeatures, b: RecordFeatures) -> tuple[tuple[int, ...],
                                                                     tuple[str | None, ...]]:
    """Level index per comparison, and the term-frequency value (or None) per comparison."""
    levels: list[int] = []
    tfs: list[str | None] = []
    for c in COMPARISONS:
        i, _ = c.level_for(a, b)
        levels.append(i)
        key = c.levels[i].tf_key
        tfs.append(key(a) if key is not None else None)
    return tuple(levels), tuple(tfs)


def compare(a: RecordFeatures, b: RecordFeatures, params: ModelParams | None = None, *,
            known: Mapping[str, FieldComparison] | None = None) -> PairScore:
    """Score a pair of records with an explanation per field.

    known: fields already compared for a pair with the same inputs on those fields (search
    scores two readings of one query, which differ only in the names, against each
    candidate); they are reused as they are, not compared again.
    """
    params = params or _cached_default()
    weights: tuple[tuple[float, ...], ...] | None = None  # not needed when every field is known
    total = params.prior_weight
    fields: list[FieldComparison] = []
    given_level: int | None = None
    for ci, c in enumerate(COMPARISONS):
        done = known.get(c.field) if known else None
        if done is not None:
            total += done.weight
            fields.append(done)
            continue
        if weights is None:
            weights = params.level_weights()
        i, reason = c.level_for(a, b)
        if ci == _GIVEN_INDEX:
            given_level = i
        scored = _scored_field(ci, i, reason, a, params, weights)
        total += scored.weight
        fields.append(scored)
    flags = pair_flags(a, b, given_level=given_level)
    p = probability(total)
    return PairScore(total, p, grade_for(p, flags), fields, flags)


def compare_field(index: int, a: RecordFeatures, b: RecordFeatures,
                  params: ModelParams | None = None) -> FieldComparison:
    """One field of ``compare(a, b, params)``: comparison ``COMPARISONS[index]``, scored as
    ``compare`` scores it. (Search scores a field once for candidates that hold the same
    values, and passes it to ``compare`` as ``known``.)"""
    params = params or _cached_default()
    i, reason = COMPARISONS[index].level_for(a, b)
    return _scored_field(index, i, reason, a, params, params.level_weights())


def _scored_field(ci: int, i: int, reason: str, a: RecordFeatures, params: ModelParams,
                  weights: tuple[tuple[float, ...], ...]) -> FieldComparison:
    """Level i of comparison ci as a scored field: its weight, and the term-frequency
    adjustment for a's value where the level has one."""
    c = COMPARISONS[ci]
    level = c.levels[i]
    w = weights[ci][i]
    if level.tf_key is not None:
        w += params.tf_adjustment(c, i, level.tf_key(a))
    return FieldComparison(c.field, level.label, w, reason)


_GIVEN_INDEX = next(i for i, c in enumerate(COMPARISONS) if c.field == "given_name")


def trained_at_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
