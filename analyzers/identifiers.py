"""Identifier validation: NHS number, UPN, NI number and local references.

validate_identifier() never raises for a bad value: an invalid identifier is still recorded
(it may be the only clue that two records are the same child) but flagged with a reason, and
linkage must not treat it as a "valid identifier" that can confirm or block a link.

Decisions:
* Dummy values that pass the arithmetic are flagged invalid: an NHS number of one repeated
  digit (1111111111 passes modulus 11) and the NI prefixes that HMRC never issues, which
  includes QQ, the prefix of HMRC's own example number QQ123456C. Many unrelated records share
  such values; treating them as valid would link different children.
* Values longer than MAX_LENGTH characters are rejected before any normalisation, so a
  megabyte-sized value costs nothing but a length check.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)
from stdnum.gb import upn

__all__ = ["MAX_LENGTH", "IdentifierType", "ValidatedIdentifier", "validate_identifier"]

MAX_LENGTH = 64


class IdentifierType(StrEnum):
    NHS_NUMBER = "nhs_number"
    UPN = "upn"
    FORMER_UPN = "former_upn"
    NI_NUMBER = "ni_number"
    LOCAL_CHILD_ID = "local_child_id"
    POLICE_ID = "police_id"
    CASE_NUMBER = "case_number"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ValidatedIdentifier:
    type: IdentifierType
    value_normalised: str
    valid: bool
    reason: str | None = None


# HMRC NINO rules: two prefix letters, six digits, suffix A-D. Neither prefix letter is D, F, I,
# Q, U or V; the second is not O; the prefixes BG GB KN NK NT TN ZZ are never issued.
_NINO_SHAPE = re.compile(r"[A-Z]{2}[0-9]{6}[A-D]")
_NINO_PREFIX = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]")
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})

_STDNUM_REASONS: tuple[tuple[type[ValidationError], str], ...] = (
    (InvalidLength, "wrong length"),
    (InvalidFormat, "wrong format"),
    (InvalidComponent, "unknown component"),
    (InvalidChecksum, "check digit does not match"),
)


def _stdnum_reason(exc: ValidationError, what: str) -> str:
    for cls, text in _STDNUM_REASONS:
        if isinstance(exc, cls):
            return f"{what}: {text}"
    return f"{what}: invalid"


def _validate_nhs(value: str) -> ValidatedIdentifier:
    t = IdentifierType.NHS_NUMBER
    compact = value.replace(" ", "").replace("-", "")
    if not compact.isascii() or not compact.isdigit():
        return ValidatedIdentifier(t, compact, False, "NHS number: digits only expected")
    if len(compact) != 10:
        return ValidatedIdentifier(t, compact, False, "NHS number: must be 10 digits")
    if len(set(compact)) == 1:
        return ValidatedIdentifier(t, compact, False, "NHS number: dummy (one repeated digit)")
    # Ten ASCII digits: stdnum's validate() would clean them (a no-op on ASCII digits),
    # check digits and length (done above), then take the modulus 11 checksum: the sum of
    # each digit times its weight, 10 for the first down to 1 for the check digit, must be
    # 0 mod 11 (stdnum's nhs.checksum, written out on the digits' code points; tests compare).
    b = compact.encode()
    total = (10 * b[0] + 9 * b[1] + 8 * b[2] + 7 * b[3] + 6 * b[4] + 5 * b[5] + 4 * b[6]
             + 3 * b[7] + 2 * b[8] + b[9] - 55 * ord("0"))
    if total % 11 != 0:
        return ValidatedIdentifier(t, compact, False,
                                   "NHS number: modulus 11 check digit does not match")
    return ValidatedIdentifier(t, compact, True)


# stdnum's UPN alphabet and local authority numbers, for the fast path below; without them
# (another stdnum layout) every UPN goes to stdnum's validate() alone.
_UPN_ALPHABET: str | None = getattr(upn, "_alphabet", None)
_UPN_LA_NUMBERS: frozenset[int] | None = (
    frozenset(getattr(upn, "_la_numbers", ())) or None)


def _upn_well_formed(compact: str) -> bool:
    """What stdnum's validate() checks, on a value already compact, ASCII and upper case:
    13 characters, 11 digits then a character of its alphabet, a known local authority, and
    the first character equal to stdnum's calc_check_digit. Its validate() first cleans
    every character through two generator expressions, which cost more than the checks.
    False sends the value to validate(), so a value this refuses is judged as before."""
    if _UPN_ALPHABET is None or _UPN_LA_NUMBERS is None:
        return False
    return (len(compact) == 13 and compact[1:12].isdigit() and compact[12] in _UPN_ALPHABET
            and int(compact[1:4]) in _UPN_LA_NUMBERS
            and upn.calc_check_digit(compact[1:]) == compact[0])


def _validate_upn(t: IdentifierType, value: str) -> ValidatedIdentifier:
    compact = "".join(value.split()).upper()
    if not compact.isascii():
        return ValidatedIdentifier(t, compact, False, "UPN: unexpected characters")
    if _upn_well_formed(compact):  # the common case; any failure is worded by stdnum below
        return ValidatedIdentifier(t, compact, True)
    try:
        normalised = upn.validate(compact)
    except ValidationError as exc:
        reason = _stdnum_reason(exc, "UPN")
        if isinstance(exc, InvalidLength):
            reason = "UPN: must be 13 characters"
        elif isinstance(exc, InvalidComponent):
            reason = "UPN: unknown local authority number"
        elif isinstance(exc, InvalidChecksum):
            reason = "UPN: check letter does not match"
        return ValidatedIdentifier(t, compact, False, reason)
    return ValidatedIdentifier(t, normalised, True)


def _validate_nino(value: str) -> ValidatedIdentifier:
    t = IdentifierType.NI_NUMBER
    compact = "".join(value.split()).upper()
    if not _NINO_SHAPE.fullmatch(compact):
        return ValidatedIdentifier(
            t, compact, False, "NI number: expected 2 letters, 6 digits and a letter A-D"
        )
    prefix = compact[:2]
    if not _NINO_PREFIX.fullmatch(prefix) or prefix in _NINO_BAD_PREFIXES:
        return ValidatedIdentifier(
            t, compact, False, f"NI number: prefix {prefix} is never issued by HMRC"
        )
    return ValidatedIdentifier(t, compact, True)


def validate_identifier(type: IdentifierType | str, value: str | None) -> ValidatedIdentifier:
    """Normalise and validate an identifier. Never raises for a bad value.

    Raises ValueError only for an unknown ``type`` (a programming error, not bad data).
    """
    t = type if isinstance(type, IdentifierType) else IdentifierType(type)
    if value is None:
        return ValidatedIdentifier(t, "", False, "empty")
    if len(value) > MAX_LENGTH:
        return ValidatedIdentifier(t, "", False, f"too long (over {MAX_LENGTH} characters)")
    if value.isascii():
        # NFKC leaves ASCII as it is, and the only ASCII characters in the refused categories
        # below are the control characters (Cc), exactly those isprintable() refuses.
        value = value.strip()
        if not value:
            return ValidatedIdentifier(t, "", False, "empty")
        if not value.isprintable():
            return ValidatedIdentifier(t, "", False,
                                       "contains control or unassigned characters")
    else:
        # NFKC: full-width digits and letters pasted from other systems become ASCII.
        value = unicodedata.normalize("NFKC", value).strip()
        if not value:
            return ValidatedIdentifier(t, "", False, "empty")
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in value):
            return ValidatedIdentifier(t, "", False,
                                       "contains control or unassigned characters")
    if t is IdentifierType.NHS_NUMBER:
        return _validate_nhs(value)
    if t in (IdentifierType.UPN, IdentifierType.FORMER_UPN):
        return _validate_upn(t, value)
    if t is IdentifierType.NI_NUMBER:
        return _validate_nino(value)
    # Local references have no published format: trim and upper-case so that "ab123" typed in
    # one system equals "AB123" in another, and keep everything else as given.
    normalised = value.upper()
    if len(normalised) > MAX_LENGTH:
        return ValidatedIdentifier(t, "", False, f"too long (over {MAX_LENGTH} characters)")
    return ValidatedIdentifier(t, normalised, True)
