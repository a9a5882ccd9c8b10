"""analyzers.dates: partial dates, placeholders, keys and date-of-birth relations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers import (
    PartialDate,
    date_keys,
    days_between,
    dob_relation,
    is_placeholder_dob,
    parse_date,
)
from analyzers.dates import _parse_any


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015-04-03", PartialDate(2015, 4, 3, "day")),
        ("2015-04-03T10:30:00Z", PartialDate(2015, 4, 3, "day")),
        ("20150403", PartialDate(2015, 4, 3, "day")),
        ("03/04/2015", PartialDate(2015, 4, 3, "day")),  # UK: day first
        ("3/4/2015", PartialDate(2015, 4, 3, "day")),
        ("03.04.2015", PartialDate(2015, 4, 3, "day")),
        ("03-04-2015", PartialDate(2015, 4, 3, "day")),
        ("29/02/2016", PartialDate(2016, 2, 29, "day")),
        ("3rd March 2015", PartialDate(2015, 3, 3, "day")),
        ("March 3, 2015", PartialDate(2015, 3, 3, "day")),
        ("03/2015", PartialDate(2015, 3, None, "month")),
        ("2015-03", PartialDate(2015, 3, None, "month")),
        ("March 2015", PartialDate(2015, 3, None, "month")),
        ("sept 2015", PartialDate(2015, 9, None, "month")),
        ("2015", PartialDate(2015, None, None, "year")),
        ("", PartialDate(None, None, None, "unknown")),
        ("Not known", PartialDate(None, None, None, "unknown")),
        ("１２/０３/２０１５", PartialDate(2015, 3, 12, "day")),  # full-width digits
    ],
)
def test_parse_date_accepts(text: str, expected: PartialDate) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("31/02/2016", "day 31 does not exist in February 2016"),
        ("29/02/2015", "day 29 does not exist in February 2015"),
        ("01/13/2015", "month 13 does not exist"),
        ("3/4/15", "two-digit year"),
        ("15", "two-digit year"),
        ("0215-01-01", "outside"),
        ("Marh 2015", "not a month name"),
        ("yesterday", "not a recognised date"),
        ("1" * 100, "too long"),
        ("٠٣/٠٤/٢٠١٥", "not a recognised date"),  # Arabic-Indic digits: not guessed at
    ],
)
def test_parse_date_rejects_with_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_date(text)


def test_partial_date_invariants() -> None:
    with pytest.raises(ValueError):
        PartialDate(2015, None, 3, "day")
    with pytest.raises(ValueError):
        PartialDate(2015, 3, None, "day")
    assert str(PartialDate(2015, 3, None, "month")) == "2015-03"
    assert PartialDate(2015, 3, None, "month").bounds() == (date(2015, 3, 1), date(2015, 3, 31))


@pytest.mark.parametrize(
    ("text", "placeholder"),
    [
        ("01/01/2015", True),
        ("15/06/2015", True),
        ("15/01/2015", True),
        ("01/06/2015", False),  # the 1st of other months is not flagged (documented choice)
        ("02/01/2015", False),
        ("03/04/2015", False),
        ("2015", False),  # a partial date is honest, not a placeholder
        ("01/2015", False),
    ],
)
def test_is_placeholder_dob(text: str, placeholder: bool) -> None:
    assert is_placeholder_dob(parse_date(text)) is placeholder


def test_date_keys() -> None:
    assert date_keys(parse_date("03/04/2015")) == {
        "full": "2015-04-03",
        "ym": "2015-04",
        "y": "2015",
        "swapped": "2015-03-04",
    }
    assert "swapped" not in date_keys(parse_date("13/04/2015"))  # no 13th month
    assert "swapped" not in date_keys(parse_date("04/04/2015"))  # swap is the same date
    assert date_keys(parse_date("04/2015")) == {"ym": "2015-04", "y": "2015"}
    assert date_keys(parse_date("2015")) == {"y": "2015"}
    assert date_keys(parse_date("unknown")) == {}
    assert date_keys(date(2015, 4, 3))["full"] == "2015-04-03"


def test_swapped_key_meets_the_other_records_full_key() -> None:
    a, b = parse_date("03/04/2015"), parse_date("04/03/2015")
    assert date_keys(a)["swapped"] == date_keys(b)["full"]


@pytest.mark.parametrize(
    ("a", "b", "relation"),
    [
        ("03/04/2015", "2015-04-03", "exact"),
        ("03/04/2015", "04/03/2015", "swapped"),
        ("03/04/2015", "04/03/2016", "within_range"),  # swapped and a year apart: two errors
        ("03/04/2015", "08/04/2015", "one_digit_off"),
        ("03/04/2015", "03/04/2016", "one_digit_off"),
        ("03/04/2015", "20/04/2015", "same_year_month"),
        ("03/04/2015", "04/2015", "same_year_month"),
        ("03/04/2015", "20/09/2015", "same_year"),
        ("03/04/2015", "2015", "same_year"),
        ("30/12/2014", "02/01/2015", "within_range"),
        ("2014", "03/04/2015", "within_range"),
        ("03/04/2015", "22/11/2019", "different"),
        ("03/04/2015", "unknown", "unknown"),
    ],
)
def test_dob_relation(a: str, b: str, relation: str) -> None:
    assert dob_relation(parse_date(a), parse_date(b)) == relation
    assert dob_relation(parse_date(b), parse_date(a)) == relation


def test_within_range_tolerance_is_a_parameter() -> None:
    a, b = parse_date("01/06/2014"), parse_date("01/09/2015")
    assert dob_relation(a, b) == "different"
    assert dob_relation(a, b, tolerance_days=500) == "within_range"
    assert days_between(a, b) == 457
    assert days_between(a, parse_date("unknown")) is None


@given(st.text())
def test_parse_date_raises_only_value_error(s: str) -> None:
    try:
        d = parse_date(s)
    except ValueError:
        return
    assert d.precision in ("day", "month", "year", "unknown")


@given(st.dates(min_value=date(1800, 1, 1), max_value=date(2199, 12, 31)))
def test_uk_and_iso_forms_round_trip(d: date) -> None:
    expected = PartialDate.from_date(d)
    assert parse_date(d.isoformat()) == expected
    assert parse_date(d.strftime("%d/%m/%Y")) == expected
    assert dob_relation(expected, d) == "exact"


# --- the fast path for the two common shapes reads what the patterns read ---------------------

def _outcome(parse: Callable[[str], PartialDate], text: str) -> object:
    try:
        return parse(text)
    except ValueError as exc:
        return str(exc)


_FAST_SHAPES = st.builds(
    lambda y, m, d, sep, iso: f"{y}{sep}{m}{sep}{d}" if iso else f"{d}{sep}{m}{sep}{y}",
    st.from_regex(r"[0-9]{4}", fullmatch=True), st.from_regex(r"[0-9]{2}", fullmatch=True),
    st.from_regex(r"[0-9]{2}", fullmatch=True), st.sampled_from(["-", "/", ".", " "]),
    st.booleans())


@given(_FAST_SHAPES | st.text(st.sampled_from(list("0123456789-/. tTzZ+:") + ["\uff11", "\u0663"]),
                              min_size=10, max_size=10))
def test_fast_path_reads_what_the_patterns_read(text: str) -> None:
    assert _outcome(parse_date, text) == _outcome(_parse_any, text)
