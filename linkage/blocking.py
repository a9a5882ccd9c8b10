"""Cheap blocking keys for batch runs (training, ``link --full``, the FEBRL evaluation).

Incremental linking gets its candidates from OpenSearch retrieval; batch runs over every
record use these keys instead: two records are a candidate pair when they share a key under
any rule. Blocks larger than ``max_block`` are skipped (a key that common is no evidence and
would make the pair count quadratic).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from linkage.features import RecordFeatures, name_keys

__all__ = ["DEFAULT_RULES", "BlockingRule", "candidate_pairs"]


@dataclass(frozen=True, slots=True)
class BlockingRule:
    name: str
    keys: Callable[[RecordFeatures], Iterable[str]]


def _c(s: str | None) -> str:
    return (s or "").replace(" ", "")


def _metaphone(s: str | None) -> str | None:
    if not s:
        return None
    for k in name_keys(_c(s)):
        if k.startswith("metaphone:"):
            return k
    return None


def _family(f: RecordFeatures) -> Iterable[str]:
    return {_c(n) for n in f.all_family if n}


def _dob_full(f: RecordFeatures) -> Iterable[str]:
    if f.dob is not None and f.dob.precision == "day":
        yield str(f.dob)


def _given_dob_year(f: RecordFeatures) -> Iterable[str]:
    if f.dob is not None and f.dob.year is not None:
        for g in f.all_given:
            yield f"{g.split(' ')[0]}|{f.dob.year}"


def _phonetic_names(f: RecordFeatures) -> Iterable[str]:
    for g in f.all_given:
        for fam in f.all_family:
            kg, kf = _metaphone(g.split(" ")[0]), _metaphone(fam)
            if kg and kf:
                yield f"{kg}|{kf}"


def _postcode_given_initial(f: RecordFeatures) -> Iterable[str]:
    initials = {g[0] for g in f.all_given if g} | {n[0] for n in f.all_family if n}
    for pc in f.postcodes:
        for i in initials:
            yield f"{pc}|{i}"


def _identifiers(f: RecordFeatures) -> Iterable[str]:
    for t, v in (*f.identifiers, *f.invalid_identifiers):
        yield f"{t}:{v}"


def _uprn(f: RecordFeatures) -> Iterable[str]:
    return f.uprns


def _dob_month_day_family_initial(f: RecordFeatures) -> Iterable[str]:
    # Catches a wrong year with the rest intact, and swapped day/month via the swapped key.
    if f.dob is None or f.dob.precision != "day":
        return
    assert f.dob.month is not None and f.dob.day is not None
    for fam in f.all_family:
        if fam:
            yield f"{f.dob.month}-{f.dob.day}|{fam[0]}"
            yield f"{f.dob.day}-{f.dob.month}|{fam[0]}"


def _given(f: RecordFeatures) -> Iterable[str]:
    return {_c(n) for n in f.all_given if n}


def _street(f: RecordFeatures) -> Iterable[str]:
    # House number + the next word of the address ("19|bock"), with and without the postcode.
    if not f.address_text:
        return
    words = f.address_text.split()
    for i, w in enumerate(words[:-1]):
        if w.isdigit():
            yield f"{w}|{words[i + 1]}"
            for pc in f.postcodes:
                yield f"{pc}|{w}"
            break


DEFAULT_RULES: tuple[BlockingRule, ...] = (
    BlockingRule("family_name", _family),
    BlockingRule("given_name", _given),
    BlockingRule("street", _street),
    BlockingRule("dob", _dob_full),
    BlockingRule("given_dob_year", _given_dob_year),
    BlockingRule("phonetic_names", _phonetic_names),
    BlockingRule("postcode_initial", _postcode_given_initial),
    BlockingRule("identifier", _identifiers),
    BlockingRule("uprn", _uprn),
    BlockingRule("dob_md_family_initial", _dob_month_day_family_initial),
)


def candidate_pairs(
    records: Sequence[RecordFeatures],
    rules: Sequence[BlockingRule] = DEFAULT_RULES,
    *,
    link_only: bool = False,
    max_block: int = 400,
) -> list[tuple[int, int]]:
    """Index pairs (i < j) sharing a key under any rule, sorted.

    link_only: only pairs whose records come from different agencies (two-file linkage).
    """
    pairs: set[tuple[int, int]] = set()
    for rule in rules:
        blocks: dict[str, list[int]] = {}
        for i, rec in enumerate(records):
            for key in set(rule.keys(rec)):
                if key:
                    blocks.setdefault(key, []).append(i)
        for members in blocks.values():
            if len(members) < 2 or len(members) > max_block:
                continue
            for i, j in combinations(members, 2):
                if link_only and records[i].agency == records[j].agency:
                    continue
                pairs.add((i, j) if i < j else (j, i))
    return sorted(pairs)
