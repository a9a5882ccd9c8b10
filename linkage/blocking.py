"""Cheap blocking keys for batch runs (training, ``link --full``, the FEBRL evaluation).

Incremental linking gets its candidates from OpenSearch retrieval; batch runs over every
record use these keys instead: two records are a candidate pair when they share a key under
any rule. Blocks larger than ``max_block`` are skipped (a key that common is no evidence and
would make the pair count quadratic).

Some keys grow denser with the store rather than with the person: there are only ~6,600 birth
dates in a childhood, so at 1M people a date of birth plus an initial makes blocks of 20-50.
Each rule therefore has a comparison budget (``PAIRS_PER_RECORD`` per record, never less than
``MIN_RULE_BUDGET``): past it, the rule's largest blocks are dropped first, so the work stays
linear in the records and the rarest, most telling keys are the ones kept.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from linkage.features import RecordFeatures, name_keys

__all__ = ["DEFAULT_RULES", "MIN_RULE_BUDGET", "PAIRS_PER_RECORD", "BlockingRule", "RuleStats",
           "candidate_pair_array", "candidate_pairs", "rule_block_limit"]

log = logging.getLogger(__name__)

#: A rule's comparison budget: block pairs (summed over its blocks) per record.
PAIRS_PER_RECORD = 5.0
#: Below this many block pairs a rule is never narrowed (FEBRL, small stores, a batch's seeds).
MIN_RULE_BUDGET = 1_000_000


@dataclass(frozen=True, slots=True)
class BlockingRule:
    """max_block: this rule's own block limit (a single-field key is only worth comparing
    while it is rare: a surname shared by 30 records, not by 3,000)."""

    name: str
    keys: Callable[[RecordFeatures], Iterable[str]]
    max_block: int | None = None


@dataclass(frozen=True, slots=True)
class RuleStats:
    """One rule's blocking in a run: its blocks of two or more, the block size limit used
    (``budget_limit`` below the rule's own limit means the budget dropped its largest blocks),
    and the distinct pairs it gave."""

    name: str
    blocks: int
    limit: int
    budget_limit: int
    pairs: int


def _c(s: str | None) -> str:
    return (s or "").replace(" ", "")


def _metaphone(s: str | None) -> str | None:
    if not s:
        return None
    for k in name_keys(_c(s)):
        if k.startswith("metaphone:"):
            return k
    return None


def _initials(f: RecordFeatures) -> set[str]:
    # Given and family initials together: a record with its names in the wrong fields
    # (FEBRL's swaps; forms filled in surname first) still shares the key.
    return {n[0] for n in (*f.all_given, *f.all_family) if n}


def _sounds(f: RecordFeatures) -> set[str]:
    keys = {_metaphone(g.split(" ")[0]) for g in f.all_given}
    keys |= {_metaphone(n) for n in f.all_family}
    return {k for k in keys if k}


def _dob_initial(f: RecordFeatures) -> Iterable[str]:
    # A full date of birth and any name's initial: survives a changed surname or given name
    # (the other initial stays) and typos after the first letter.
    if f.dob is not None and f.dob.precision == "day":
        for i in _initials(f):
            yield f"{f.dob}|{i}"


def _month_day_sound(f: RecordFeatures) -> Iterable[str]:
    # Day and month (both orders) with a name's sound: a wrong or mistyped year.
    if f.dob is None or f.dob.precision != "day":
        return
    assert f.dob.month is not None and f.dob.day is not None
    # One key for both orders (the smaller number first): the same pairs as a key per order,
    # with half the keys and no pair counted twice against the rule's budget.
    low, high = sorted((f.dob.month, f.dob.day))
    for k in _sounds(f):
        yield f"{low}-{high}|{k}"


def _names_sound_year(f: RecordFeatures) -> Iterable[str]:
    # Both names' sounds (in either field order) and the birth year: any other date error,
    # and records with only a year.
    if f.dob is None or f.dob.year is None:
        return
    for g in f.all_given:
        for fam in f.all_family:
            kg, kf = _metaphone(g.split(" ")[0]), _metaphone(fam)
            if kg and kf:
                yield "|".join(sorted((kg, kf))) + f"|{f.dob.year}"


def _postcode_initial(f: RecordFeatures) -> Iterable[str]:
    for pc in f.postcodes:
        for i in _initials(f):
            yield f"{pc}|{i}"


def _street(f: RecordFeatures) -> tuple[str, str] | None:
    """The house number and the word after it ("19", "bock"), if the address has them."""
    if not f.address_text:
        return None
    words = f.address_text.split()
    for i, w in enumerate(words[:-1]):
        if w.isdigit():
            return w, words[i + 1]
    return None


def _postcode_house(f: RecordFeatures) -> Iterable[str]:
    street = _street(f)
    if street:
        for pc in f.postcodes:
            yield f"{pc}|{street[0]}"


def _street_initial(f: RecordFeatures) -> Iterable[str]:
    # The same home with a mistyped or missing postcode ("19|bock|s").
    street = _street(f)
    if street:
        for i in _initials(f):
            yield f"{street[0]}|{street[1]}|{i}"


def _family(f: RecordFeatures) -> Iterable[str]:
    return {_c(n) for n in f.all_family if n}


def _given(f: RecordFeatures) -> Iterable[str]:
    return {_c(n) for n in f.all_given if n}


def _given_family_initial(f: RecordFeatures) -> Iterable[str]:
    family_initials = {n[0] for n in f.all_family if n}
    for g in f.all_given:
        if g:
            for i in family_initials:
                yield f"{_c(g)}|{i}"


def _street_word(f: RecordFeatures) -> Iterable[str]:
    street = _street(f)
    if street:
        yield f"{street[0]}|{street[1]}"


def _dob(f: RecordFeatures) -> Iterable[str]:
    if f.dob is not None and f.dob.precision == "day":
        yield str(f.dob)


def _names_sound(f: RecordFeatures) -> Iterable[str]:
    for g in f.all_given:
        for fam in f.all_family:
            kg, kf = _metaphone(g.split(" ")[0]), _metaphone(fam)
            if kg and kf:
                yield f"{kg}|{kf}"


def _identifiers(f: RecordFeatures) -> Iterable[str]:
    for t, v in (*f.identifiers, *f.invalid_identifiers):
        yield f"{t}:{v}"


def _uprn(f: RecordFeatures) -> Iterable[str]:
    return f.uprns


# Every key joins two fields, so a block holds only the people who share both: a surname
# alone put 3,000 records in one block at 100k people. Measured on
# 100k generated people (187,295 records, BENCHMARKS.md), these rules find 99.99% of the true
# pairs in 3.1M candidate pairs; the single-field rules they replace needed 24.9M.
DEFAULT_RULES: tuple[BlockingRule, ...] = (
    BlockingRule("dob_initial", _dob_initial),
    BlockingRule("month_day_sound", _month_day_sound),
    BlockingRule("names_sound_year", _names_sound_year),
    BlockingRule("postcode_initial", _postcode_initial),
    BlockingRule("postcode_house", _postcode_house),
    BlockingRule("street_initial", _street_initial),
    BlockingRule("identifier", _identifiers),
    BlockingRule("uprn", _uprn),
    # One field alone, while it is rare: a heavily mistyped record (FEBRL's) may share
    # nothing else. Larger blocks are skipped, so these add little as the store grows.
    BlockingRule("rare_family", _family, max_block=50),
    BlockingRule("rare_given", _given, max_block=20),
    BlockingRule("rare_given_family_initial", _given_family_initial, max_block=20),
    BlockingRule("rare_street", _street_word, max_block=20),
    BlockingRule("rare_dob", _dob, max_block=20),
    BlockingRule("rare_names_sound", _names_sound, max_block=20),
)


def candidate_pairs(
    records: Sequence[RecordFeatures],
    rules: Sequence[BlockingRule] = DEFAULT_RULES,
    *,
    link_only: bool = False,
    max_block: int = 400,
    pairs_per_record: float | None = PAIRS_PER_RECORD,
) -> list[tuple[int, int]]:
    """Index pairs (i < j) sharing a key under any rule, sorted.

    link_only: only pairs whose records come from different agencies (two-file linkage).
    pairs_per_record: each rule's comparison budget (None: no budget).
    """
    found = candidate_pair_array(records, rules, link_only=link_only, max_block=max_block,
                                 pairs_per_record=pairs_per_record)
    return [(i, j) for i, j in found.tolist()]


def candidate_pair_array(
    records: Sequence[RecordFeatures],
    rules: Sequence[BlockingRule] = DEFAULT_RULES,
    *,
    link_only: bool = False,
    max_block: int = 400,
    pairs_per_record: float | None = PAIRS_PER_RECORD,
    min_rule_budget: int = MIN_RULE_BUDGET,
    stats: list[RuleStats] | None = None,
) -> np.ndarray:
    """``candidate_pairs`` as an (n, 2) int64 array, sorted: 16 bytes a pair rather than
    ~120 as a Python tuple, so a 1M-people re-link's tens of millions of pairs fit in memory.
    ``stats``, when given, receives one ``RuleStats`` per rule."""
    budget = (None if pairs_per_record is None
              else max(min_rule_budget, int(pairs_per_record * len(records))))
    agency: np.ndarray | None = None
    if link_only:
        agency_ids: dict[str | None, int] = {}
        agency = np.fromiter((agency_ids.setdefault(r.agency, len(agency_ids))
                              for r in records),
                             dtype=np.int64, count=len(records))
    parts: list[np.ndarray] = []
    for rule in rules:
        blocks: dict[str, list[int]] = {}
        for i, rec in enumerate(records):
            for key in set(rule.keys(rec)):
                if key:
                    blocks.setdefault(key, []).append(i)
        limit = rule.max_block or max_block
        sizes = Counter(len(m) for m in blocks.values() if len(m) >= 2)
        narrowed = limit if budget is None else rule_block_limit(sizes, limit, budget)
        in_rule = _block_pair_codes(blocks.values(), narrowed, len(records))
        if agency is not None and in_rule.size:
            first, second = np.divmod(in_rule, len(records))
            in_rule = in_rule[agency[first] != agency[second]]
        parts.append(in_rule)
        if narrowed < limit:
            log.info("blocking rule %s over its budget: blocks above %d records skipped",
                     rule.name, narrowed)
        if stats is not None:
            stats.append(RuleStats(rule.name, sum(sizes.values()), limit, narrowed,
                                   int(in_rule.size)))
        del blocks
    # One code per pair (i * n + j, i < j): unique and sorted in one step, as (i, j) order.
    codes = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
    return np.stack(np.divmod(codes, max(len(records), 1)), axis=1)


def rule_block_limit(sizes: Counter[int], limit: int, budget: int) -> int:
    """The largest block size, at most ``limit``, whose blocks together with all smaller ones
    give at most ``budget`` pairs. ``sizes``: block size -> number of blocks that size."""
    total = 0
    allowed = 1
    for size in sorted(s for s in sizes if 2 <= s <= limit):
        total += sizes[size] * size * (size - 1) // 2
        if total > budget:
            return allowed
        allowed = size
    return limit


def _block_pair_codes(blocks: Iterable[list[int]], limit: int, n: int) -> np.ndarray:
    """Every pair within each block of 2..limit members, as unique i * n + j codes (i < j).
    Blocks of one size are stacked so the pairs come from one numpy step per size, not one
    Python step per pair."""
    by_size: dict[int, list[list[int]]] = {}
    for members in blocks:
        if 2 <= len(members) <= limit:
            by_size.setdefault(len(members), []).append(members)
    out: list[np.ndarray] = []
    for size, group in by_size.items():
        m = np.sort(np.asarray(group, dtype=np.int64), axis=1)
        first, second = np.triu_indices(size, 1)
        out.append((m[:, first] * n + m[:, second]).ravel())
    if not out:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(out))
