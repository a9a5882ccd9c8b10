"""Reading what a person typed: free text split into names, a date of birth, a postcode and an
identifier ("jon smyth 2015", "smith 03/04/2015 LS9 7AB", "Mohammed Khan b. March 2016").

Pure functions, no services; unit-tested on their own. Nothing here ever builds query syntax:
the pieces become structured OpenSearch clauses in ``search_api.search.query``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from analyzers.dates import PartialDate, parse_date
from analyzers.identifiers import IdentifierType, validate_identifier
from analyzers.postcodes import normalise_postcode, parse_partial_postcode
from analyzers.text import fold

__all__ = [
    "MAX_NAME_TOKENS",
    "MAX_TEXT_CHARS",
    "FreeText",
    "NameSplit",
    "name_splits",
    "parse_dob",
    "parse_free_text",
    "year_range",
]

MAX_TEXT_CHARS = 200
MAX_NAME_TOKENS = 6

_YEAR = re.compile(r"^(1[89]\d\d|2[01]\d\d)$")
_YEAR_RANGE = re.compile(r"^(1[89]\d\d|2[01]\d\d)\s*(?:-|–|to|\.\.)\s*(1[89]\d\d|2[01]\d\d)$")
_MONTHS = frozenset({
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec",
})
_FILLER = frozenset({"b", "born", "dob", "d.o.b", "d.o.b.", "nee", "née", "aka", "at", "in",
                     "of", "and", "on"})
_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class FreeText:
    """What a free-text query was read as. ``names`` keep their order as typed."""

    names: tuple[str, ...] = ()
    dob: PartialDate | None = None
    dob_range: tuple[dt.date, dt.date] | None = None
    postcode: str | None = None
    identifier: tuple[str, str] | None = None
    ignored: tuple[str, ...] = field(default=())


def year_range(first: int, last: int) -> tuple[dt.date, dt.date]:
    lo, hi = sorted((first, last))
    return dt.date(lo, 1, 1), dt.date(hi, 12, 31)


def parse_dob(text: str) -> tuple[PartialDate | None, tuple[dt.date, dt.date] | None]:
    """A date of birth as typed: a full, month or year date, or a year range "2014-2016".

    Raises ValueError with the reason when it is neither.
    """
    s = " ".join(text.split())
    m = _YEAR_RANGE.match(s)
    if m:
        return None, year_range(int(m.group(1)), int(m.group(2)))
    parsed = parse_date(s)
    if parsed.precision == "unknown":
        return None, None
    return parsed, None


def _identifier(token: str) -> tuple[str, str] | None:
    compact = token.replace("-", "")
    if compact.isdigit() and len(compact) == 10:
        checked = validate_identifier(IdentifierType.NHS_NUMBER, compact)
        if checked.valid:
            return (IdentifierType.NHS_NUMBER.value, checked.value_normalised)
    if len(compact) == 13 and compact[0].isalpha() and compact[1:].isdigit():
        checked = validate_identifier(IdentifierType.UPN, compact)
        if checked.valid:
            return (IdentifierType.UPN.value, checked.value_normalised)
    if len(compact) == 9 and compact[:2].isalpha() and compact[2:8].isdigit():
        checked = validate_identifier(IdentifierType.NI_NUMBER, compact)
        if checked.valid:
            return (IdentifierType.NI_NUMBER.value, checked.value_normalised)
    return None


def _try_date(words: list[str]) -> PartialDate | None:
    try:
        parsed = parse_date(" ".join(words))
    except ValueError:
        return None
    return parsed if parsed.precision != "unknown" else None


def parse_free_text(text: str) -> FreeText:
    """Split free text into name words, one date of birth (or year range), one postcode (full
    or partial) and one identifier. The first reading of each kind wins; extra date-like or
    number-like words are returned in ``ignored`` rather than searched as names."""
    tokens = [t for t in _SPLIT.split(text[:MAX_TEXT_CHARS].strip()) if t]
    used = [False] * len(tokens)
    dob: PartialDate | None = None
    dob_range: tuple[dt.date, dt.date] | None = None
    postcode: str | None = None
    identifier: tuple[str, str] | None = None

    def has_digit(s: str) -> bool:
        return any(ch.isdigit() for ch in s)

    # 1. Full postcodes: "LS9 7AB" (two words) or "LS97AB" (one word).
    for i in range(len(tokens)):
        if used[i] or postcode:
            continue
        if i + 1 < len(tokens) and not used[i + 1] and has_digit(tokens[i]):
            pc = normalise_postcode(tokens[i] + " " + tokens[i + 1])
            if pc and len(tokens[i + 1]) == 3:
                postcode, used[i], used[i + 1] = pc, True, True
                continue
        pc = normalise_postcode(tokens[i]) if has_digit(tokens[i]) else None
        if pc:
            postcode, used[i] = pc, True

    # 2. Identifiers (NHS number, UPN, NI number) that pass their check digits.
    for i, tok in enumerate(tokens):
        if not used[i] and identifier is None and has_digit(tok):
            found = _identifier(tok)
            if found:
                identifier, used[i] = found, True

    # 3. Year ranges, numeric dates, then worded dates ("3 March 2015", "March 2015").
    for i, tok in enumerate(tokens):
        if used[i] or dob or dob_range:
            continue
        m = _YEAR_RANGE.match(tok)
        if m:
            dob_range, used[i] = year_range(int(m.group(1)), int(m.group(2))), True
            continue
        if (i + 2 < len(tokens) and _YEAR.match(tok) and tokens[i + 1].lower() in {"-", "to"}
                and _YEAR.match(tokens[i + 2])):
            dob_range = year_range(int(tok), int(tokens[i + 2]))
            used[i] = used[i + 1] = used[i + 2] = True
    for width in (3, 2):
        for i in range(len(tokens) - width + 1):
            if dob or dob_range or any(used[i:i + width]):
                continue
            words = tokens[i:i + width]
            # A month name only counts next to a year: "April Smith" is a name.
            if not any(w.lower().rstrip(".,") in _MONTHS for w in words):
                continue
            if not _YEAR.match(words[-1]):
                continue
            parsed = _try_date(words)
            if parsed:
                dob = parsed
                for j in range(i, i + width):
                    used[j] = True
    for i, tok in enumerate(tokens):
        if used[i] or dob or dob_range or not has_digit(tok):
            continue
        parsed = _try_date([tok])
        if parsed:
            dob, used[i] = parsed, True

    # 4. Partial postcodes ("LS9", "LS9 7", "ls97"): need a digit, so never a plain name.
    for i, tok in enumerate(tokens):
        if used[i] or postcode or not has_digit(tok) or not tok[0].isalpha():
            continue
        if i + 1 < len(tokens) and not used[i + 1] and re.fullmatch(r"\d", tokens[i + 1]):
            partial = parse_partial_postcode(tok + " " + tokens[i + 1])
            if partial and partial.level == "sector":
                postcode, used[i], used[i + 1] = partial.value, True, True
                continue
        partial = parse_partial_postcode(tok)
        if partial and partial.level in ("sector", "outward"):
            postcode, used[i] = partial.value, True

    names: list[str] = []
    ignored: list[str] = []
    for i, tok in enumerate(tokens):
        if used[i]:
            continue
        low = tok.lower()
        if low in _FILLER or low.rstrip(":") in _FILLER:
            continue
        if has_digit(tok) or not fold(tok):
            ignored.append(tok)
            continue
        names.append(tok)
    if len(names) > MAX_NAME_TOKENS:
        ignored.extend(names[MAX_NAME_TOKENS:])
        names = names[:MAX_NAME_TOKENS]
    return FreeText(tuple(names), dob, dob_range, postcode, identifier, tuple(ignored))


@dataclass(frozen=True)
class NameSplit:
    """One reading of name words as (given, family); ``swapped`` when it reads them in the
    other order than typed (scored with a small penalty)."""

    given: str | None
    family: str | None
    swapped: bool = False


def name_splits(names: tuple[str, ...] | list[str]) -> list[NameSplit]:
    """Plausible (given, family) readings of free-text name words, most likely first.

    "jon smyth" -> (jon, smyth), (smyth, jon); "smith" -> (None, smith), (smith, None);
    "jon paul smith" -> (jon paul, smith), (paul smith, jon). The reversed reading is marked
    ``swapped``.
    """
    words = [w for w in names if w]
    if not words:
        return []
    if len(words) == 1:
        return [NameSplit(None, words[0]), NameSplit(words[0], None)]
    return [
        NameSplit(" ".join(words[:-1]), words[-1]),
        NameSplit(" ".join(words[1:]), words[0], swapped=True),
    ]
