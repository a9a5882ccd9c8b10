"""analyzers.identifiers: validation never raises on bad values and flags them with a reason."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.gb import upn

from analyzers import IdentifierType, validate_identifier


def _valid_upn(body: str = "801200005001") -> str:
    return upn.calc_check_digit(body) + body


def test_nhs_number_valid_with_spaces() -> None:
    r = validate_identifier(IdentifierType.NHS_NUMBER, "943 476 5919")
    assert r.valid and r.reason is None
    assert r.value_normalised == "9434765919"


def test_nhs_number_bad_check_digit() -> None:
    r = validate_identifier("nhs_number", "943 476 5910")
    assert not r.valid
    assert r.reason is not None and "check digit" in r.reason
    assert r.value_normalised == "9434765910"  # kept, so a reviewer can still see it


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1111111111", "dummy"),  # passes modulus 11 but is a placeholder
        ("94347659", "10 digits"),
        ("943476591X", "digits"),
        ("", "empty"),
    ],
)
def test_nhs_number_invalid(value: str, reason: str) -> None:
    r = validate_identifier(IdentifierType.NHS_NUMBER, value)
    assert not r.valid
    assert r.reason is not None and reason in r.reason


def test_upn_generated_with_stdnum_is_valid() -> None:
    value = _valid_upn()
    r = validate_identifier(IdentifierType.UPN, value.lower())
    assert r.valid, r.reason
    assert r.value_normalised == value
    assert validate_identifier(IdentifierType.FORMER_UPN, value).valid


def test_upn_wrong_check_letter() -> None:
    value = _valid_upn()
    wrong = ("A" if value[0] != "A" else "B") + value[1:]
    r = validate_identifier(IdentifierType.UPN, wrong)
    assert not r.valid and r.reason == "UPN: check letter does not match"


def test_upn_unknown_local_authority() -> None:
    r = validate_identifier(IdentifierType.UPN, _valid_upn("000200005001"))
    assert not r.valid and r.reason is not None and "local authority" in r.reason


@pytest.mark.parametrize("value", ["AB123456C", "ab 12 34 56 c", "JG103759A"])
def test_ni_number_valid(value: str) -> None:
    r = validate_identifier(IdentifierType.NI_NUMBER, value)
    assert r.valid, r.reason
    assert " " not in r.value_normalised and r.value_normalised.isupper()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("QQ123456C", "prefix QQ"),  # HMRC's example number: right shape, never issued
        ("GB123456A", "prefix GB"),
        ("AO123456A", "prefix AO"),  # O is never the second letter
        ("D1234567A", "2 letters, 6 digits"),
        ("AB123456E", "2 letters, 6 digits"),  # suffix must be A-D
        ("AB12345C", "2 letters, 6 digits"),
    ],
)
def test_ni_number_invalid(value: str, reason: str) -> None:
    r = validate_identifier(IdentifierType.NI_NUMBER, value)
    assert not r.valid
    assert r.reason is not None and reason in r.reason


@pytest.mark.parametrize(
    "t",
    [
        IdentifierType.LOCAL_CHILD_ID,
        IdentifierType.POLICE_ID,
        IdentifierType.CASE_NUMBER,
        IdentifierType.OTHER,
    ],
)
def test_local_identifiers_trimmed_and_upper_cased(t: IdentifierType) -> None:
    r = validate_identifier(t, "  lcs/00123a ")
    assert r.valid and r.value_normalised == "LCS/00123A"
    assert not validate_identifier(t, "   ").valid
    assert not validate_identifier(t, None).valid


def test_huge_value_flagged_quickly() -> None:
    value = "9" * 10_000_000
    start = time.perf_counter()
    for t in IdentifierType:
        r = validate_identifier(t, value)
        assert not r.valid and r.reason is not None and "too long" in r.reason
        assert r.value_normalised == ""
    assert time.perf_counter() - start < 0.5


def test_control_characters_flagged() -> None:
    assert not validate_identifier(IdentifierType.CASE_NUMBER, "AB\x00123").valid


def test_unknown_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        validate_identifier("passport_numbr", "123")


@given(st.sampled_from(list(IdentifierType)), st.text())
def test_validate_identifier_never_raises(t: IdentifierType, value: str) -> None:
    r = validate_identifier(t, value)
    assert r.type is t
    assert r.valid == (r.reason is None)
    if r.valid:
        assert r.value_normalised and r.value_normalised == r.value_normalised.strip()


@given(st.from_regex(r"[0-9]{9}", fullmatch=True))
def test_nhs_numbers_with_correct_check_digit_are_valid(body: str) -> None:
    total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    value = f"{body}{check}"
    r = validate_identifier(IdentifierType.NHS_NUMBER, value)
    if check == 10 or len(set(value)) == 1:
        assert not r.valid
    else:
        assert r.valid, (value, r.reason)


# --- the ASCII fast path gives what the general path gave ---------------------------------------

def _reference(t: IdentifierType, value: str) -> tuple[str, bool, str | None]:
    """validate_identifier as it was before its ASCII fast path: NFKC and a category scan for
    every value, stdnum's validate() for NHS numbers."""
    import unicodedata

    from stdnum.exceptions import InvalidChecksum, ValidationError
    from stdnum.gb import nhs

    if len(value) > 64:
        return "", False, "too long (over 64 characters)"
    value = unicodedata.normalize("NFKC", value).strip()
    if not value:
        return "", False, "empty"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in value):
        return "", False, "contains control or unassigned characters"
    if t is not IdentifierType.NHS_NUMBER:
        r = validate_identifier(t, value)  # unchanged below the common checks
        return r.value_normalised, r.valid, r.reason
    compact = "".join(ch for ch in value if ch not in " -")
    if not compact.isascii() or not compact.isdigit():
        return compact, False, "NHS number: digits only expected"
    if len(compact) != 10:
        return compact, False, "NHS number: must be 10 digits"
    if len(set(compact)) == 1:
        return compact, False, "NHS number: dummy (one repeated digit)"
    try:
        return nhs.validate(compact), True, None
    except InvalidChecksum:
        return compact, False, "NHS number: modulus 11 check digit does not match"
    except ValidationError:  # pragma: no cover - the checks above leave only the checksum
        return compact, False, "NHS number: invalid"


_ODD = st.text(st.sampled_from(list("0123456789 -\t\n\r\x00\x01\x1f\x7fAbZ/")
                               + ["\u0660", "\uff10", "\u00a0", "\u200b", "\ufeff", "\u2163",
                                  "\ud800", "\u3000", "\U0001F600", "\x85"]), max_size=16)


@given(st.sampled_from(list(IdentifierType)),
       _ODD | st.from_regex(r"[ \t]?[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}[ \t\x1f]?", fullmatch=True))
def test_fast_path_matches_the_general_path(t: IdentifierType, value: str) -> None:
    r = validate_identifier(t, value)
    assert (r.value_normalised, r.valid, r.reason) == _reference(t, value)
    assert validate_identifier(t.value, value) == r  # the type may be given as its value


def _stdnum_upn(compact: str) -> tuple[str, bool, str | None]:
    """A compact UPN's outcome from stdnum's validate() alone, as before the fast path."""
    from stdnum.exceptions import (
        InvalidChecksum,
        InvalidComponent,
        InvalidLength,
        ValidationError,
    )

    try:
        return upn.validate(compact), True, None
    except InvalidLength:
        return compact, False, "UPN: must be 13 characters"
    except InvalidComponent:
        return compact, False, "UPN: unknown local authority number"
    except InvalidChecksum:
        return compact, False, "UPN: check letter does not match"
    except ValidationError:
        return compact, False, "UPN: wrong format"


@given(st.from_regex(r"[0-9]{11}[A-HJ-NP-RT-Z0-9]", fullmatch=True), st.booleans(),
       st.sampled_from(["", "801", "937"]), st.sampled_from(["", "X", "1", "Ä"]),
       st.sampled_from([0, 1, 12]))
def test_upn_fast_path_matches_stdnum(body: str, with_check: bool, la: str, noise: str,
                                      cut: int) -> None:
    from analyzers.identifiers import _validate_upn

    # A known local authority or any three digits, the right check letter or any; with a
    # character too many, or cut short.
    body = la + body[len(la):]
    value = (upn.calc_check_digit(body) if with_check else body[-1]) + body
    if noise == "X":  # a last character outside the check alphabet (I, O, S are left out)
        value = value[:-1] + "S"
    value = (value + noise)[:len(value) + len(noise) - cut] if cut != 12 else value[:cut]
    got = _validate_upn(IdentifierType.UPN, value)
    assert (got.value_normalised, got.valid, got.reason) == _stdnum_upn(value) or (
        not value.isascii() and got.reason == "UPN: unexpected characters"), value
