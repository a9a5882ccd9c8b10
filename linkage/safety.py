"""Pair-level safety checks: evidence that must stop an automatic link whatever the score.

Merging two different children is worse than missing a link, so these never lower a score to
hide it: they add a flag, and a flagged pair goes to a person for review instead.
"""

from __future__ import annotations

from linkage.comparisons import ADDRESS_HIGH, GIVEN, address_similarity, dob_relation_of_keys
from linkage.features import STRONG_IDENTIFIER_TYPES, RecordFeatures

__all__ = ["FLAG_DOB_CONFLICT", "FLAG_GENDER_CONFLICT", "FLAG_IDENTIFIER_CONFLICT",
           "FLAG_PLACEHOLDER_NAME",
           "FLAG_TWINS", "dob_conflict", "gender_conflict", "identifier_conflict",
           "pair_flags", "possible_twins"]

FLAG_IDENTIFIER_CONFLICT = "identifier_conflict"
FLAG_TWINS = "possible_twins"
FLAG_DOB_CONFLICT = "dob_conflict"
FLAG_GENDER_CONFLICT = "gender_conflict"
FLAG_PLACEHOLDER_NAME = "placeholder_name"
# dob relations that a typing or recording error explains; anything else is a conflict.
_DOB_EXPLAINED = frozenset({"exact", "swapped", "one_digit_off", "unknown"})
_DIFFERENT_GIVEN = frozenset({"different", "jw_mid", "initial", "phonetic", "middle_only",
                              "crossed"})


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


def possible_twins(a: RecordFeatures, b: RecordFeatures, *,
                   given_level: int | None = None) -> bool:
    """Same full date of birth and same address, but given names that are different (not
    variants, not one name mistyped); or two "Twin 1" / "Twin 2" placeholders with the same
    surname. The surname is not required to agree: twins may carry different surnames, and
    two different children born the same day at one address must never merge on the
    strength of the address alone."""
    if a.dob is None or b.dob is None or a.dob.precision != "day" or b.dob.precision != "day":
        return False
    if a.dob_key != b.dob_key:
        return False  # not the same full date
    if set(a.identifiers) & set(b.identifiers):
        return False  # twins do not share an NHS number, UPN or any other valid identifier
    same_surname = bool(a.family and b.family and a.family_compact == b.family_compact)
    if a.multiple_birth and b.multiple_birth and same_surname:
        return a.birth_order != b.birth_order or a.birth_order is None
    if not _same_address(a, b):
        return False
    if not a.given or not b.given:
        return False
    # Different given names: not the same, not variants, not the same name mistyped (spelt
    # almost the same). Sounding alike is no defence: Hassan and Hussein are twin names.
    index = given_level if given_level is not None else GIVEN.level_for(a, b)[0]
    return GIVEN.levels[index].label in _DIFFERENT_GIVEN


def dob_conflict(a: RecordFeatures, b: RecordFeatures) -> bool:
    """Two full, firm dates of birth that no typing error explains (a parent and a child at
    one address, say). Estimated or placeholder dates are weak and never conflict."""
    if a.dob is None or b.dob is None or a.dob.precision != "day" or b.dob.precision != "day":
        return False
    if a.dob_estimated or b.dob_estimated or a.dob_placeholder or b.dob_placeholder:
        return False
    assert a.dob_key is not None and b.dob_key is not None
    if dob_relation_of_keys(a.dob_key, b.dob_key) in _DOB_EXPLAINED:
        return False
    return not _transposed(a.dob, b.dob)


def _transposed(x: object, y: object) -> bool:
    sx, sy = str(x).replace("-", ""), str(y).replace("-", "")
    if len(sx) != len(sy):
        return False
    diff = [i for i, (p, q) in enumerate(zip(sx, sy, strict=True)) if p != q]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and sx[diff[0]] == sy[diff[1]] \
        and sx[diff[1]] == sy[diff[0]]


def gender_conflict(a: RecordFeatures, b: RecordFeatures) -> bool:
    return {a.gender, b.gender} == {"female", "male"}


def pair_flags(a: RecordFeatures, b: RecordFeatures, *,
               given_level: int | None = None) -> tuple[str, ...]:
    """Every flag sends the pair to a person instead of linking it automatically.
    given_level: the pair's level on the given-name comparison, when already known."""
    flags: list[str] = []
    if identifier_conflict(a, b):
        flags.append(FLAG_IDENTIFIER_CONFLICT)
    if possible_twins(a, b, given_level=given_level):
        flags.append(FLAG_TWINS)
    if dob_conflict(a, b):
        flags.append(FLAG_DOB_CONFLICT)
    if gender_conflict(a, b):
        flags.append(FLAG_GENDER_CONFLICT)
    if a.given_placeholder or b.given_placeholder:
        # "Baby of Knight" / "Unborn" is recorded against the mother: surname, address and
        # even the mother's identifiers agree, so only a person can tell the baby's record
        # from the mother's, or link the unborn record to the child once named.
        flags.append(FLAG_PLACEHOLDER_NAME)
    return tuple(flags)
