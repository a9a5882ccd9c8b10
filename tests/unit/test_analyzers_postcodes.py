"""analyzers.postcodes: normalisation, keys and partial search input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers import PartialPostcode, normalise_postcode, parse_partial_postcode, postcode_keys


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ls97ab", "LS9 7AB"),
        ("sw1a1aa", "SW1A 1AA"),
        ("  ec1a   1bb ", "EC1A 1BB"),
        ("M1 1AE", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("W1A 0AX", "W1A 0AX"),
        ("GIR0AA", "GIR 0AA"),
        ("gir 0aa", "GIR 0AA"),
        ("SW1A OAA", "SW1A 0AA"),  # letter O typed for zero in the inward digit
        ("ＬＳ９ ７ＡＢ", "LS9 7AB"),  # full-width
    ],
)
def test_normalise_postcode_valid(raw: str, expected: str) -> None:
    assert normalise_postcode(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "junk",
        "LS9",  # outward only
        "12345",
        "QQ1 1AA",  # Q is never a first letter
        "LS9 7CI",  # C and I are never unit letters
        "LS9 7AB extra",
        "LS9-7AB",
        "LS9 7AB" * 100,
        "ß",
    ],
)
def test_normalise_postcode_junk_is_none(raw: str) -> None:
    assert normalise_postcode(raw) is None


def test_postcode_keys() -> None:
    assert postcode_keys("ls97ab") == {"full": "LS9 7AB", "outward": "LS9", "sector": "LS9 7"}
    assert postcode_keys("SW1A1AA") == {
        "full": "SW1A 1AA",
        "outward": "SW1A",
        "sector": "SW1A 1",
    }
    assert postcode_keys("nonsense") == {}


@pytest.mark.parametrize(
    ("raw", "level", "value"),
    [
        ("LS9 7AB", "full", "LS9 7AB"),
        ("LS9", "outward", "LS9"),
        ("ls9", "outward", "LS9"),
        ("LS9 7", "sector", "LS9 7"),
        ("ls97", "sector", "LS9 7"),
        ("LS9 7A", "sector", "LS9 7"),
        ("SW1A", "outward", "SW1A"),
        ("LS", "area", "LS"),
    ],
)
def test_parse_partial_postcode(raw: str, level: str, value: str) -> None:
    parsed = parse_partial_postcode(raw)
    assert parsed is not None
    assert (parsed.level, parsed.value) == (level, value)


def test_ambiguous_partial_postcode_lists_alternatives() -> None:
    parsed = parse_partial_postcode("m11")
    assert parsed is not None
    assert (parsed.level, parsed.value) == ("sector", "M1 1")
    assert PartialPostcode("outward", "M11") in parsed.alternatives
    unambiguous = parse_partial_postcode("LS9 7")
    assert unambiguous is not None and unambiguous.alternatives == ()


@pytest.mark.parametrize("raw", ["", "hello", "123", "LS9 7AB 9", "Q1"])
def test_parse_partial_postcode_rejects(raw: str) -> None:
    assert parse_partial_postcode(raw) is None


@given(st.text())
def test_normalise_postcode_never_raises_and_is_stable(s: str) -> None:
    pc = normalise_postcode(s)
    if pc is not None:
        assert normalise_postcode(pc) == pc
        assert postcode_keys(pc)["full"] == pc
    parse_partial_postcode(s)


@given(st.from_regex(r"[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2}", fullmatch=True))
def test_postcode_shapes_normalise_consistently(s: str) -> None:
    pc = normalise_postcode(s)
    if pc is not None:
        assert pc.replace(" ", "") == s.replace(" ", "")
        assert pc[-4] == " "
