"""Dates of birth: partial-date parsing, placeholder detection, index keys and comparison.

Decisions:

* Accepted input: ISO ``2015-04-03`` (also ``2015/04/03``, ``20150403`` and an ISO date-time,
  whose time is ignored), UK day-first ``3/4/2015`` with ``/``, ``-``, ``.`` or space,
  month-year ``03/2015`` / ``2015-03`` / ``March 2015``, year ``2015``, and ``3 March 2015`` /
  ``3rd Mar 2015`` / ``March 3, 2015``. Month-first US dates are not accepted: in an English
  social-care record 03/04/2015 is 3 April.
* Two-digit years are rejected: for a date of birth the century cannot be inferred safely
  (a parent born in '68 and a child born in '08 are both plausible).
* Empty text, "unknown", "not known", "NK", "N/K" parse to precision "unknown".
* Years outside 1800-2199 are rejected as typos (0215, 20155).
* Placeholder dates of birth (is_placeholder_dob): 1 January (year known, day and month
  imputed; also the date the Home Office commonly assigns to age-assessed asylum-seeking
  children) and the 15th of any month (month known, day imputed as mid-month). The 1st of
  other months is NOT flagged: it is no more common as an imputation than the 15th is as a
  real birthday, and flagging it would down-weight 1/30 of genuine dates. A placeholder flag
  should lower the weight of day/month agreement in linkage, never exclude the record.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal

from rapidfuzz.distance import Levenshtein

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "DobRelation",
    "PartialDate",
    "Precision",
    "date_keys",
    "days_between",
    "dob_relation",
    "is_placeholder_dob",
    "parse_date",
]

MIN_YEAR = 1800
MAX_YEAR = 2199
_MAX_INPUT = 64  # longer text is not a date; refuse before running any regex on it

Precision = Literal["day", "month", "year", "unknown"]
DobRelation = Literal[
    "exact",
    "swapped",
    "one_digit_off",
    "same_year_month",
    "same_year",
    "within_range",
    "different",
    "unknown",
]

# English month names, spelled out rather than taken from `calendar`, whose names follow locale.
_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_MONTHS = {name: i for i, name in enumerate(_MONTH_NAMES, 1)}
_MONTHS.update({name[:3]: i for i, name in enumerate(_MONTH_NAMES, 1)})
_MONTHS["sept"] = 9
_UNKNOWN = frozenset({"", "unknown", "not known", "nk", "n/k", "n k", "unk", "none"})


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A date that may be known only to the month or year. Invariants checked on creation."""

    year: int | None
    month: int | None = None
    day: int | None = None
    precision: Precision = "day"

    def __post_init__(self) -> None:
        expected = (
            "unknown" if self.year is None
            else "year" if self.month is None
            else "month" if self.day is None
            else "day"
        )  # fmt: skip
        if (
            self.precision != expected
            or (self.year is None and self.month is not None)
            or (self.month is None and self.day is not None)
        ):
            raise ValueError(f"inconsistent PartialDate {self!r}: precision should be {expected}")

    @classmethod
    def unknown(cls) -> PartialDate:
        return cls(None, None, None, "unknown")

    @classmethod
    def from_date(cls, d: date) -> PartialDate:
        return cls(d.year, d.month, d.day, "day")

    def as_date(self) -> date | None:
        """The full date, or None unless precision is "day"."""
        if self.year is None or self.month is None or self.day is None:
            return None
        return date(self.year, self.month, self.day)

    def bounds(self) -> tuple[date, date] | None:
        """First and last day the date could be; None when unknown."""
        if self.year is None:
            return None
        if self.month is None:
            return date(self.year, 1, 1), date(self.year, 12, 31)
        if self.day is None:
            last = calendar.monthrange(self.year, self.month)[1]
            return date(self.year, self.month, 1), date(self.year, self.month, last)
        d = date(self.year, self.month, self.day)
        return d, d

    def __str__(self) -> str:
        if self.year is None:
            return "unknown"
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


def _check_year(y: str, text: str) -> int:
    if len(y) == 2:
        raise ValueError(
            f"{text!r}: two-digit year {y!r} is ambiguous (the century cannot be inferred); "
            "write the year in full"
        )
    if len(y) != 4:
        raise ValueError(f"{text!r}: year {y!r} must have four digits")
    year = int(y)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"{text!r}: year {y} is outside {MIN_YEAR}-{MAX_YEAR}")
    return year


def _build(text: str, y: str, m: str | int | None, d: str | None) -> PartialDate:
    year = _check_year(y, text)
    if m is None:
        return PartialDate(year, None, None, "year")
    month = int(m)
    if not 1 <= month <= 12:
        raise ValueError(f"{text!r}: month {month} does not exist (months are 1-12)")
    if d is None:
        return PartialDate(year, month, None, "month")
    day = int(d)
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise ValueError(
            f"{text!r}: day {day} does not exist in {_MONTH_NAMES[month - 1].title()} {year} "
            f"(it has {last} days)"
        )
    return PartialDate(year, month, day, "day")


_Y = r"(?P<y>[0-9]+)"
_M = r"(?P<m>[0-9]{1,2})"
_D = r"(?P<d>[0-9]{1,2})"
_MN = r"(?P<mn>[a-z]+)\.?"
_ORD = r"(?:st|nd|rd|th)?"
_NUMERIC = [
    # ISO first: a four-digit first field can only be a year.
    re.compile(rf"(?P<y>[0-9]{{4}})[-/.]{_M}[-/.]{_D}(?:[t ][0-9:.,+\-z ]*)?"),
    re.compile(r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})"),
    re.compile(rf"(?P<y>[0-9]{{4}})[-/.]{_M}"),
    re.compile(rf"{_D}[-/. ]{_M}[-/. ]{_Y}"),
    re.compile(rf"{_M}[-/. ]{_Y}"),
    re.compile(r"(?P<y>[0-9]{2}|[0-9]{4,})"),
]
_WORDY = [
    re.compile(rf"{_D}{_ORD}(?: of)? {_MN},? {_Y}"),
    re.compile(rf"{_MN} {_D}{_ORD},? {_Y}"),
    re.compile(rf"{_MN},? {_Y}"),
]


def parse_date(text: str) -> PartialDate:
    """Parse a (possibly partial) date. Raises ValueError saying why text is not a real date."""
    if len(text) > _MAX_INPUT:
        raise ValueError(f"date text is too long ({len(text)} characters)")
    if len(text) == 10 and text.isascii():
        # The two shapes extracts nearly always use, read without the regexes of
        # _parse_any. Each is what _parse_any's first matching pattern reads from the same
        # text: "2015-04-03" (ISO, the first pattern) and "03/04/2015" (day-first; no earlier
        # pattern matches two leading digits and a separator). Ranges are checked by the
        # same _build, so errors are the same too.
        if (text[4] == text[7] == "-" and text[:4].isdigit() and text[5:7].isdigit()
                and text[8:].isdigit()):
            return _build(text, text[:4], text[5:7], text[8:])
        if (text[2] in "/-. " and text[5] in "/-. " and text[:2].isdigit()
                and text[3:5].isdigit() and text[6:].isdigit()):
            return _build(text, text[6:], text[3:5], text[:2])
    return _parse_any(text)


def _parse_any(text: str) -> PartialDate:
    """parse_date for every accepted shape (text already known to be short enough)."""
    # NFKC turns full-width digits into ASCII; [0-9] below then refuses any other digits.
    s = " ".join(unicodedata.normalize("NFKC", text).lower().split())
    if s in _UNKNOWN:
        return PartialDate.unknown()
    for pattern in _NUMERIC:
        m = pattern.fullmatch(s)
        if m:
            g = m.groupdict()
            return _build(text, g["y"], g.get("m"), g.get("d"))
    s_words = s.replace(",", ", ").replace(" ,", ",")
    s_words = " ".join(s_words.split())
    for pattern in _WORDY:
        m = pattern.fullmatch(s_words)
        if m:
            g = m.groupdict()
            month = _MONTHS.get(g["mn"])
            if month is None:
                raise ValueError(f"{text!r}: {g['mn']!r} is not a month name")
            return _build(text, g["y"], month, g.get("d"))
    raise ValueError(f"{text!r} is not a recognised date (use e.g. 2015-04-03 or 03/04/2015)")


def _coerce(d: PartialDate | date) -> PartialDate:
    return PartialDate.from_date(d) if isinstance(d, date) else d


def is_placeholder_dob(d: PartialDate | date) -> bool:
    """True for a full date that is probably imputed: 1 January or the 15th of a month."""
    d = _coerce(d)
    if d.precision != "day":
        return False  # a partial date is honest about what is unknown
    return (d.month == 1 and d.day == 1) or d.day == 15


def date_keys(d: PartialDate | date) -> dict[str, str]:
    """Index keys: full "2015-04-03", ym "2015-04", y "2015", and swapped "2015-03-04" (day and
    month exchanged) when that is also a real, different date. Only the keys the precision
    supports are present; an unknown date gives {}."""
    d = _coerce(d)
    keys: dict[str, str] = {}
    if d.year is None:
        return keys
    keys["y"] = f"{d.year:04d}"
    if d.month is None:
        return keys
    keys["ym"] = f"{d.year:04d}-{d.month:02d}"
    if d.day is None:
        return keys
    keys["full"] = f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
    if d.day <= 12 and d.day != d.month:
        keys["swapped"] = f"{d.year:04d}-{d.day:02d}-{d.month:02d}"
    return keys


def _levenshtein_is_one(a: str, b: str) -> bool:
    return a != b and Levenshtein.distance(a, b, score_cutoff=1) == 1


def _gap_days(a: PartialDate, b: PartialDate) -> int:
    ba, bb = a.bounds(), b.bounds()
    assert ba is not None and bb is not None
    if ba[1] < bb[0]:
        return (bb[0] - ba[1]).days
    if bb[1] < ba[0]:
        return (ba[0] - bb[1]).days
    return 0


def dob_relation(
    a: PartialDate | date, b: PartialDate | date, *, tolerance_days: int = 365
) -> DobRelation:
    """How two dates of birth relate, strongest relation first.

    exact            same full date
    swapped          day and month exchanged, same year (03/04 vs 04/03)
    one_digit_off    edit distance 1 between the ddmmyyyy strings (a typo)
    same_year_month  same year and month (or one side known only to the month)
    same_year        same year (or one side known only to the year)
    within_range     the dates (ranges, for partial dates) are at most tolerance_days apart:
                     fits an estimated date of birth
    different        none of the above
    unknown          either date is unknown: no evidence either way
    """
    a, b = _coerce(a), _coerce(b)
    if a.year is None or b.year is None:
        return "unknown"
    if a.precision == "day" and b.precision == "day":
        assert a.month and a.day and b.month and b.day
        if (a.year, a.month, a.day) == (b.year, b.month, b.day):
            return "exact"
        if a.year == b.year and a.day == b.month and a.month == b.day:
            return "swapped"
        sa = f"{a.day:02d}{a.month:02d}{a.year:04d}"
        sb = f"{b.day:02d}{b.month:02d}{b.year:04d}"
        if _levenshtein_is_one(sa, sb):
            return "one_digit_off"
    if a.year == b.year:
        if a.month is not None and a.month == b.month:
            return "same_year_month"
        return "same_year"
    if _gap_days(a, b) <= tolerance_days:
        return "within_range"
    return "different"


def days_between(a: PartialDate | date, b: PartialDate | date) -> int | None:
    """Smallest possible distance in days between two (partial) dates; None if either unknown."""
    a, b = _coerce(a), _coerce(b)
    if a.year is None or b.year is None:
        return None
    return _gap_days(a, b)
