"""Re-scoring retrieved candidates with the model linkage uses (``linkage.compare``).

The query becomes ``RecordFeatures`` (``features_from_query``), each candidate document too
(``features_from_source``), and every pair gets a match weight, probability, grade and a
per-field explanation in plain English. Two things are specific to search, both explicit here:

* Free-text name words have no declared role: each plausible (given, family) reading is
  scored and the best one kept ("smith jon" finds Jon Smith).
* Given name and surname may have been recorded the other way round: that reading is scored
  too, one bit (``SWAP_PENALTY``) below the order typed, and explained as such.
* A date known only to the year (typed "2015", or held so by an agency) that agrees is given
  the weight of "agrees as far as known" (see ``_with_partial_dob``), not the model's
  weak-negative "same year but a different day".
* A typed name that is a prefix of the record's name ("moh" for Mohammed) is what a person
  types when unsure of the spelling. The model has no prefix level (records never hold
  prefixes), so it would call it "different"; search replaces that field with a "prefix"
  level weighted like the model's own "spelt almost the same" level.

Grades: the model's grade answers "is this the same child?". With only a surname typed,
nothing speaks against an exact-surname record, yet the probability is low; such a result is
graded "possible", and "certainly_not" is kept for records whose fields contradict the query.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from analyzers.dates import PartialDate
from analyzers.text import name_tokens
from linkage.comparisons import COMPARISON_BY_FIELD, COMPARISONS, DOB, FAMILY, GIVEN
from linkage.features import (
    PART_DOB,
    PART_GENDER,
    PART_IDENTIFIERS,
    PART_LOCATION,
    RecordFeatures,
    features_from_query,
    features_from_source,
)
from linkage.model import (
    FieldComparison,
    ModelParams,
    PairScore,
    compare,
    compare_field,
    grade_for,
    load_params,
    probability,
)
from search_api.search.parsing import NameSplit

__all__ = ["QueryShape", "Rescorer", "Scored", "best_score", "params_for", "query_features",
           "reasons"]

MIN_PREFIX = 2
# A reading with given name and surname exchanged costs this many bits of match weight, so
# the order typed wins a tie.
SWAP_PENALTY = 1.0


@dataclass(frozen=True)
class QueryShape:
    """One reading of the query as features, with the raw name words for prefix checks."""

    features: RecordFeatures
    given_words: tuple[str, ...]
    family_words: tuple[str, ...]
    swapped: bool = False


@dataclass(frozen=True)
class Scored:
    score: PairScore
    shape: QueryShape


@lru_cache(maxsize=4)
def _params_cached(path: str | None) -> ModelParams:
    return load_params(path)


def params_for(data_dir: Path | str | None) -> ModelParams:
    return _params_cached(str(data_dir) if data_dir is not None else None)


def query_features(splits: Sequence[NameSplit], dob: PartialDate | None, postcode: str | None,
                   identifier: tuple[str, str] | None) -> list[QueryShape]:
    shapes = []
    for split in splits or [NameSplit(None, None)]:
        feats = features_from_query(split.given, split.family, dob, postcode, identifier)
        shapes.append(QueryShape(
            feats,
            tuple(name_tokens(split.given or "")),
            tuple(name_tokens(split.family or "")),
            split.swapped,
        ))
    return shapes


def _level_weight(params: ModelParams, field: str, label: str) -> float:
    comparison = COMPARISON_BY_FIELD[field]
    return params.level_weight(comparison, comparison.index(label))


def _prefix_of(words: tuple[str, ...], names: Iterable[str | None]) -> tuple[str, str] | None:
    """(typed word, record name) when a typed word is a strict prefix of a record name."""
    for word in words:
        if len(word) < MIN_PREFIX:
            continue
        for name in names:
            for token in name_tokens(name or ""):
                if token != word and token.startswith(word):
                    return word, token
    return None


# Name levels weaker than a typed prefix of the name ("Mat" for Mathew): the prefix may win.
_WEAK_NAME_LEVELS = frozenset({"different", "jw_mid", "initial", "middle_only", "crossed"})


def _with_prefix(score: PairScore, shape: QueryShape, cand: RecordFeatures,
                 params: ModelParams, prior: float) -> PairScore:
    if not any(f.level in _WEAK_NAME_LEVELS and f.field in _NAME_FIELDS
               for f in score.fields):
        return score
    fields = list(score.fields)
    changed = False
    for i, f in enumerate(fields):
        if f.field == "given_name":
            words, names, label = shape.given_words, cand.all_given, "given name"
        elif f.field == "family_name":
            words, names, label = shape.family_words, cand.all_family, "surname"
        else:
            continue
        if f.level not in _WEAK_NAME_LEVELS:
            continue
        hit = _prefix_of(words, names)
        if hit is None:
            continue
        weight = _level_weight(params, f.field, "jw_high")
        if weight <= f.weight:
            continue
        fields[i] = FieldComparison(f.field, "prefix", weight,
                                    f"{label} starts with {hit[0].title()}: {hit[1].title()}")
        changed = True
    if not changed:
        return score
    total = prior + sum(f.weight for f in fields)
    p = probability(total)
    return PairScore(total, p, grade_for(p, score.flags), fields, score.flags)


# Date-of-birth levels that mean "agrees as far as the coarser date is known".
_AGREES_TO_YEAR = ("exact", "exact_placeholder", "swapped", "same_year_month", "same_year")
_AGREES_TO_MONTH = ("exact", "exact_placeholder", "same_year_month")
_PRECISION_RANK = {"year": 1, "month": 2, "day": 3}


def _marginal_weight(params: ModelParams, field: str, labels: Sequence[str]) -> float:
    """log2(sum m / sum u) over several levels of one comparison: the evidence of knowing only
    that the pair is in one of them."""
    comparison = COMPARISON_BY_FIELD[field]
    m = u = 0.0
    for level in comparison.levels:
        if level.label in labels and not level.is_null:
            m += params.m.get(field, {}).get(level.label, level.m)
            u += params.u.get(field, {}).get(level.label, level.u)
    return math.log2(m / u) if m > 0 and u > 0 else 0.0


def _with_partial_dob(score: PairScore, query: RecordFeatures, cand: RecordFeatures,
                      scorer: Rescorer) -> PairScore:
    """A year-only (or month-only) date on either side that agrees as far as it goes.

    The model's "same year" level is weak *negative* evidence between two full dates (a true
    match usually agrees on the day too). When one side knows only the year, agreeing on the
    year is all the agreement possible: its weight is the evidence of landing in any level
    consistent with it (exact, swapped, same month, same year), from the model's own m and u.
    """
    if query.dob is None or cand.dob is None:
        return score
    coarse = min(_PRECISION_RANK.get(query.dob.precision, 3),
                 _PRECISION_RANK.get(cand.dob.precision, 3))
    if coarse == 3:
        return score  # two full dates: the model's own levels stand
    fields = list(score.fields)
    for i, f in enumerate(fields):
        if f.field != "date_of_birth":
            continue
        if coarse == 1 and f.level == "same_year":
            labels: tuple[str, ...] = _AGREES_TO_YEAR
            text = f"born in the same year, as far as known: {query.dob} / {cand.dob}"
        elif coarse == 2 and f.level == "same_year_month":
            labels = _AGREES_TO_MONTH
            text = f"born in the same month, as far as known: {query.dob} / {cand.dob}"
        else:
            return score
        weight = scorer.marginal_weight(f.field, labels)
        if weight <= f.weight:
            return score
        fields[i] = FieldComparison(f.field, f.level, weight, text)
        total = scorer.prior + sum(x.weight for x in fields)
        p = probability(total)
        return PairScore(total, p, grade_for(p, score.flags), fields, score.flags)
    return score


def _with_swap_penalty(score: PairScore, prior: float) -> PairScore:
    fields = [*score.fields, FieldComparison(
        "name_order", "swapped", -SWAP_PENALTY,
        "given name and surname matched the other way round")]
    total = prior + sum(f.weight for f in fields)
    p = probability(total)
    return PairScore(total, p, grade_for(p, score.flags), fields, score.flags)


def _search_grade(score: PairScore) -> PairScore:
    if score.grade != "certainly_not":
        return score
    if any(f.weight < 0 for f in score.fields):
        return score
    return PairScore(score.match_weight, score.match_probability, "possible", score.fields,
                     score.flags)


_NAME_FIELDS = frozenset({"given_name", "family_name"})


def _same_except_names(x: RecordFeatures, y: RecordFeatures) -> bool:
    """Readings of one query differ only in their names; anything else is compared anew."""
    return (x.dob == y.dob and x.dob_estimated == y.dob_estimated
            and x.dob_placeholder == y.dob_placeholder and x.gender == y.gender
            and x.postcodes == y.postcodes and x.postcode_sectors == y.postcode_sectors
            and x.postcode_outwards == y.postcode_outwards and x.address_text == y.address_text
            and x.streets == y.streets and x.uprns == y.uprns and x.agency == y.agency
            and x.identifiers == y.identifiers
            and x.invalid_identifiers == y.invalid_identifiers)


def _parts_to_omit(queries: Sequence[RecordFeatures]) -> frozenset[str]:
    """Candidate feature parts no reading of the query can compare: with the query's side of
    a field empty, the comparison is "null" and the safety flags need both sides, whatever
    the candidate holds."""
    omit: set[str] = set()
    if all(q.dob is None for q in queries):
        omit.add(PART_DOB)
    if all(not q.gender for q in queries):
        omit.add(PART_GENDER)
    if not any(q.uprns or q.postcodes or q.postcode_sectors or q.postcode_outwards
               or q.address_text or q.streets for q in queries):
        omit.add(PART_LOCATION)
    if not any(q.identifiers or q.invalid_identifiers for q in queries):
        omit.add(PART_IDENTIFIERS)
    return frozenset(omit)


_FIELD_OF_PART = {PART_DOB: "date_of_birth", PART_GENDER: "gender", PART_LOCATION: "address",
                  PART_IDENTIFIERS: "identifiers"}


# Field memos: what a comparison reads of the candidate, so that candidates holding the same
# values are compared once per reading of a search (a search's candidates often share a
# surname, a given name or a date of birth). A name comparison reads the other name only from
# its "swapped" level on (names transposed, a given name found as a surname), so the key
# without the other name settles every level before that.
_GIVEN_INDEX = COMPARISONS.index(GIVEN)
_FAMILY_INDEX = COMPARISONS.index(FAMILY)
_DOB_INDEX = COMPARISONS.index(DOB)
_GIVEN_LATE = frozenset(GIVEN.labels[GIVEN.index("swapped"):])
_FAMILY_LATE = frozenset(FAMILY.labels[FAMILY.index("swapped"):])


def _given_key(f: RecordFeatures) -> tuple[Any, ...]:
    return (f.given, f.all_given, f.other_names)


def _family_key(f: RecordFeatures) -> tuple[Any, ...]:
    return (f.family, f.all_family, f.other_names)


def _dob_key(f: RecordFeatures) -> tuple[Any, ...]:
    return (f.dob_key, f.dob_placeholder, f.dob_estimated)


class _FieldMemo:
    """One comparison of one reading of a search against its candidates: each distinct set
    of the values it reads of a candidate is compared once."""

    def __init__(self, index: int, query: RecordFeatures, params: ModelParams,
                 key: Callable[[RecordFeatures], Any], late: frozenset[str] = frozenset(),
                 other: Callable[[RecordFeatures], Any] | None = None) -> None:
        self.index, self.query, self.params = index, query, params
        self.field = COMPARISONS[index].field
        self.key, self.late, self.other = key, late, other
        self.found: dict[Any, FieldComparison | None] = {}

    def get(self, cand: RecordFeatures) -> FieldComparison:
        key = self.key(cand)
        found = self.found.get(key, _UNSEEN)
        if found is None:
            # Settled from a level that reads the other name: keyed with it too.
            assert self.other is not None
            longer = (key, self.other(cand))
            found = self.found.get(longer)
            if found is None:
                found = self.found[longer] = self._compare(cand)
            return found
        if found is _UNSEEN:
            found = self._compare(cand)
            if found.level in self.late:
                assert self.other is not None
                self.found[key] = None
                self.found[(key, self.other(cand))] = found
            else:
                self.found[key] = found
        assert isinstance(found, FieldComparison)
        return found

    def _compare(self, cand: RecordFeatures) -> FieldComparison:
        return compare_field(self.index, self.query, cand, self.params)


_UNSEEN: Any = object()


class Rescorer:
    """One search's readings, prepared once to score its candidates.

    A candidate's features are built only for the fields the query has, and the fields the
    query does not have are scored once per search: their comparison is "null" (weight 0,
    a fixed reason) whatever the candidate holds, so each candidate compares only its names
    and the fields typed.
    """

    def __init__(self, shapes: Sequence[QueryShape], params: ModelParams) -> None:
        self.shapes = tuple(shapes)
        self.params = params
        self.prior = params.prior_weight
        queries = [s.features for s in self.shapes]
        self.omit = _parts_to_omit(queries)
        fields = {_FIELD_OF_PART[p] for p in self.omit if p in _FIELD_OF_PART}
        nulls: dict[str, FieldComparison] | None = None
        for q in queries:
            found = {f.field: f for f in compare(q, RecordFeatures(), params).fields
                     if f.field in fields}
            if nulls is not None and found != nulls:
                raise AssertionError("query-side null fields differ between readings")
            nulls = found
        self.nulls: dict[str, FieldComparison] = nulls or {}
        self._marginals: dict[tuple[str, tuple[str, ...]], float] = {}
        # A later reading that differs from the first only in its names reuses the first's
        # other fields as they are.
        self.shares_first = [i > 0 and _same_except_names(queries[0], q)
                             for i, q in enumerate(queries)]
        self.memos = [self._memos(q, shared)
                      for q, shared in zip(queries, self.shares_first, strict=True)]

    def _memos(self, query: RecordFeatures, shares_first: bool) -> list[_FieldMemo]:
        memos = [
            _FieldMemo(_GIVEN_INDEX, query, self.params, _given_key, _GIVEN_LATE,
                       lambda f: f.family),
            _FieldMemo(_FAMILY_INDEX, query, self.params, _family_key, _FAMILY_LATE,
                       lambda f: f.given),
        ]
        if PART_DOB not in self.omit and not shares_first:
            memos.append(_FieldMemo(_DOB_INDEX, query, self.params, _dob_key))
        return memos

    def marginal_weight(self, field: str, labels: tuple[str, ...]) -> float:
        key = (field, labels)
        found = self._marginals.get(key)
        if found is None:
            found = self._marginals[key] = _marginal_weight(self.params, field, labels)
        return found

    def score(self, source: Mapping[str, Any]) -> Scored:
        """The best reading's score of one candidate document."""
        params = self.params
        cand = features_from_source(source, omit=self.omit)
        best: Scored | None = None
        first: dict[str, FieldComparison] = {}
        for shape, memos, shared in zip(self.shapes, self.memos, self.shares_first,
                                        strict=True):
            known = {**(first if shared else self.nulls),
                     **{m.field: m.get(cand) for m in memos}}
            score = compare(shape.features, cand, params, known=known)
            if best is None:
                first = {f.field: f for f in score.fields if f.field not in _NAME_FIELDS}
            score = _with_prefix(score, shape, cand, params, self.prior)
            score = _with_partial_dob(score, shape.features, cand, self)
            if shape.swapped:
                score = _with_swap_penalty(score, self.prior)
            score = _search_grade(score)
            if best is None or score.match_weight > best.score.match_weight:
                best = Scored(score, shape)
        assert best is not None
        return best


def best_score(shapes: Sequence[QueryShape], source: Mapping[str, Any],
               params: ModelParams) -> Scored:
    """The best reading's score of one candidate document (``Rescorer`` for many)."""
    return Rescorer(shapes, params).score(source)


def reasons(score: PairScore) -> list[str]:
    """Plain-English reasons, strongest evidence first (fields with no evidence left out)."""
    ordered = sorted(score.fields, key=lambda f: -abs(f.weight))
    return [f.reason for f in ordered if f.level != "null" and abs(f.weight) > 1e-9]

