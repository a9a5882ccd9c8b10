"""UK postcodes: normalisation, index keys (full / outward / sector) and partial search input.

A postcode is "outward inward": outward = area letters + district ("LS9", "SW1A"), inward =
sector digit + two unit letters ("7AB"). The sector ("LS9 7") is a few thousand addresses:
the right granularity for a child who moved within a neighbourhood.

Decisions:
* Shape is validated with the government data standard pattern (including GIR 0AA); it is not
  checked against a list of live postcodes (none is shipped), so "ZZ9 9ZZ"-like shapes that fit
  the pattern but were never issued are accepted.
* The only repair made is a letter O typed for the digit 0 as the first inward character
  ("SW1A OAA" -> "SW1A 0AA"): that position is always a digit, so the repair is unambiguous.
* British Forces (BFPO) and overseas-territory codes are not postcodes here and return None.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "PartialPostcode",
    "PostcodeLevel",
    "normalise_postcode",
    "parse_partial_postcode",
    "postcode_keys",
]

_MAX_INPUT = 16  # anything longer is not a postcode (the longest, with spaces, is 8)

_OUTWARD = r"(?:[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9][0-9ABEHMNPRV-Y]?|[0-9][A-HJKPS-UW]))"
_INWARD = r"(?:[0-9][ABD-HJLNP-UW-Z]{2})"
_FULL_RE = re.compile(rf"(?P<out>{_OUTWARD})(?P<in>{_INWARD})|(?P<gout>GIR)(?P<gin>0AA)")
_OUTWARD_RE = re.compile(_OUTWARD)
_AREA_RE = re.compile(r"[A-PR-UWYZ][A-HK-Y]?")
_UNIT_LETTER = re.compile(r"[ABD-HJLNP-UW-Z]")

PostcodeLevel = Literal["full", "sector", "outward", "area"]


def _compact(s: str) -> str | None:
    if len(s) > _MAX_INPUT:
        return None
    s = unicodedata.normalize("NFKC", s)
    compact = "".join(s.split())
    if not compact.isascii() or not compact.isalnum():
        return None
    return compact.upper()


def _split_full(compact: str) -> tuple[str, str] | None:
    if len(compact) >= 5 and compact[-3] == "O":
        repaired = compact[:-3] + "0" + compact[-2:]
        if not _FULL_RE.fullmatch(compact) and _FULL_RE.fullmatch(repaired):
            compact = repaired
    m = _FULL_RE.fullmatch(compact)
    if not m:
        return None
    return (m["out"] or m["gout"]), (m["in"] or m["gin"])


def normalise_postcode(s: str) -> str | None:
    """Upper-case postcode with one space before the inward code, or None if not a postcode.

    >>> normalise_postcode(" ls97ab "), normalise_postcode("not a postcode")
    ('LS9 7AB', None)
    """
    compact = _compact(s)
    if compact is None:
        return None
    parts = _split_full(compact)
    return f"{parts[0]} {parts[1]}" if parts else None


def postcode_keys(pc: str) -> dict[str, str]:
    """Index keys {"full": "LS9 7AB", "outward": "LS9", "sector": "LS9 7"}; {} if invalid."""
    full = normalise_postcode(pc)
    if full is None:
        return {}
    outward, inward = full.split(" ")
    return {"full": full, "outward": outward, "sector": f"{outward} {inward[0]}"}


@dataclass(frozen=True, slots=True)
class PartialPostcode:
    """A search term's postcode reading: its level and the key value at that level.

    alternatives holds other readings of the same text, since without a space some inputs are
    ambiguous: "M11" is district M11 or sector "M1 1". Search should OR all readings.
    """

    level: PostcodeLevel
    value: str
    alternatives: tuple[PartialPostcode, ...] = ()


def parse_partial_postcode(s: str) -> PartialPostcode | None:
    """Read search input as a full postcode, sector, outward code or area; None if none fits.

    "LS9 7AB" -> full; "ls97" -> sector "LS9 7" (alternative: outward "LS97"); "LS9" -> outward;
    "LS9 7A" -> sector "LS9 7" (an incomplete unit cannot be keyed); "LS" -> area.
    """
    if len(s) > _MAX_INPUT:
        return None
    words = unicodedata.normalize("NFKC", s).split()
    compact = _compact(s)
    if compact is None or not compact:
        return None
    full = _split_full(compact)
    if full:
        return PartialPostcode("full", f"{full[0]} {full[1]}")

    readings: list[PartialPostcode] = []
    if len(words) == 2:
        # The user placed the space: the split between outward and inward is known.
        out, rest = words[0].upper(), words[1].upper()
        if _OUTWARD_RE.fullmatch(out) and (
            re.fullmatch(r"[0-9]", rest)
            or (len(rest) == 2 and rest[0].isdigit() and _UNIT_LETTER.fullmatch(rest[1]))
        ):
            readings.append(PartialPostcode("sector", f"{out} {rest[0]}"))
    elif len(words) == 1:
        # Sector readings first (more specific): "LS97" -> "LS9 7", "LS97A" -> "LS9 7".
        if compact[-1].isdigit() and _OUTWARD_RE.fullmatch(compact[:-1]):
            readings.append(PartialPostcode("sector", f"{compact[:-1]} {compact[-1]}"))
        if (
            len(compact) >= 3
            and compact[-2].isdigit()
            and _UNIT_LETTER.fullmatch(compact[-1])
            and _OUTWARD_RE.fullmatch(compact[:-2])
        ):
            readings.append(PartialPostcode("sector", f"{compact[:-2]} {compact[-2]}"))
        if _OUTWARD_RE.fullmatch(compact):
            readings.append(PartialPostcode("outward", compact))
        if _AREA_RE.fullmatch(compact):
            readings.append(PartialPostcode("area", compact))
    if not readings:
        return None
    first, *others = readings
    return PartialPostcode(first.level, first.value, tuple(others))
