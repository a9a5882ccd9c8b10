"""Pair-level safety checks: evidence that must stop an automatic link whatever the score.

Merging two different children is worse than missing a link, so these never lower a score to
hide it: they add a flag, and a flagged pair goes to a person for review instead.
"""

from __future__ import annotations

from analyzers.dates import dob_relation
from linkage.comparisons import ADDRESS_HIGH, GIVEN, address_similarity
from linkage.features import STRONG_IDENTIFIER_TYPES, RecordFeatures

__all__ = ["FLAG_IDENTIFIER_CONFLICT", "FLAG_TWINS", "identifier_conflict", "pair_flags",
           "possible_twins"]

FLAG_IDENTIFIER_CONFLICT = "identifier_conflict"
FLAG_TWINS = "possible_twins"
_DIFFERENT_GIVEN = frozenset({"different", "jw_mid", "initial", "phonetic"})


def identifier_conflict(a: RecordFeatures, b: RecordFeatures) -> str | None:
    """The type of a strong identifier (NHS number, NI number, UPN) that both records hold as
    valid values with none in common; None when there is no such conflict."""
    va, vb = a.identifiers_by_type(), b.identifiers_by_type()
    for t in sorted(STRONG_IDENTIFIER_TYPES):
        if t in va and t in vb and not (va[t] & vb[t]):
            return t
    return None


def _same_address(a: RecordFeatures, b: RecordFeatures) -> bool:
    """One home: the same UPRN, or address lines that agree (allowing for typing), or the same
    postcode when neither record has address lines."""
    if a.uprns & b.uprns:
        return True
    if a.address_text and b.address_text:
        return address_similarity(a.address_text, b.address_text) >= ADDRESS_HIGH
    return bool(set(a.postcodes) & set(b.postcodes))


def possible_twins(a: RecordFeatures, b: RecordFeatures) -> bool:
    """Same full date of birth and same address, but given names that are different (not
    variants, not one name mistyped); or two "Twin 1" / "Twin 2" placeholders with the same
    surname. The surname is not required to agree: twins may carry different surnames, and
    two different children born the same day at one address must never merge on the
    strength of the address alone."""
    if a.dob is None or b.dob is None or a.dob.precision != "day" or b.dob.precision != "day":
        return False
    if dob_relation(a.dob, b.dob) != "exact":
        return False
    if set(a.identifiers) & set(b.identifiers):
        return False  # twins do not share an NHS number, UPN or any other valid identifier
    same_surname = bool(a.family and b.family
                        and a.family.replace(" ", "") == b.family.replace(" ", ""))
    if a.multiple_birth and b.multiple_birth and same_surname:
        return a.birth_order != b.birth_order or a.birth_order is None
    if not _same_address(a, b):
        return False
    if not a.given or not b.given:
        return False
    # Different given names: not the same, not variants, not the same name mistyped (spelt
    # almost the same). Sounding alike is no defence: Hassan and Hussein are twin names.
    index, _ = GIVEN.level_for(a, b)
    return GIVEN.levels[index].label in _DIFFERENT_GIVEN


def pair_flags(a: RecordFeatures, b: RecordFeatures) -> tuple[str, ...]:
    flags: list[str] = []
    if identifier_conflict(a, b):
        flags.append(FLAG_IDENTIFIER_CONFLICT)
    if possible_twins(a, b):
        flags.append(FLAG_TWINS)
    return tuple(flags)
