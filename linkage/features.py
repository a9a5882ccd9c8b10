"""Comparison features of one person record, built once and compared many times.

Two builders share one output type, so search re-scoring, linkage and the FHIR ``$match``
endpoint compare records exactly the same way:

* ``features_from_source(doc_source)``: from the OpenSearch person document
  (docs/person-document.md), as returned by retrieval;
* ``features_from_query(given, family, dob, postcode, identifier)``: from the few fields a duty
  social worker types. Missing fields stay empty and every comparison on them is "null"
  (weight 0: no evidence either way).

All normalisation goes through ``analyzers`` so a name is never normalised two ways.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from analyzers.dates import PartialDate, is_placeholder_dob
from analyzers.identifiers import validate_identifier
from analyzers.names import parse_given_name, phonetic_keys
from analyzers.postcodes import parse_partial_postcode, postcode_keys
from analyzers.text import fold, name_tokens, normalise_name

__all__ = [
    "NATIONAL_IDENTIFIER_TYPES",
    "PART_DOB",
    "PART_GENDER",
    "PART_IDENTIFIERS",
    "PART_LOCATION",
    "SOURCE_PARTS",
    "STRONG_IDENTIFIER_TYPES",
    "OtherName",
    "RecordFeatures",
    "cached_features_from_source",
    "dob_from_key",
    "dob_key",
    "features_from_query",
    "features_from_source",
    "name_keys",
    "normalise_address",
]

# Identifiers issued nationally: the same value means the same child whichever agency holds it,
# and two different valid values of one type mean two children (or a data error).
NATIONAL_IDENTIFIER_TYPES = frozenset({"nhs_number", "upn", "former_upn", "ni_number"})
# Identifiers whose conflict blocks an automatic link (a child has one of each for life).
STRONG_IDENTIFIER_TYPES = frozenset({"nhs_number", "ni_number", "upn"})
# Agency-local references: only comparable between records of the same agency.
LOCAL_IDENTIFIER_TYPES = frozenset({"local_child_id", "police_id", "case_number", "other"})
_PHONETIC_ALGOS = ("metaphone", "nysiis")
# Street-type abbreviations expanded before address comparison ("12 High St" = "12 High Street").
_ADDRESS_WORDS = {
    "st": "street", "rd": "road", "ave": "avenue", "av": "avenue", "ln": "lane", "dr": "drive",
    "cl": "close", "ct": "court", "cres": "crescent", "cr": "crescent", "gdns": "gardens",
    "gr": "grove", "pl": "place", "sq": "square", "tce": "terrace", "ter": "terrace",
    "pk": "park", "wy": "way", "hse": "house", "flt": "flat", "apt": "flat",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class OtherName:
    """A historical, alias, birth or preferred name (normalised; either part may be None)."""

    type: str
    given: str | None
    family: str | None


@dataclass(frozen=True, slots=True)
class RecordFeatures:
    """Everything the comparisons look at, normalised. Empty/None means "not known".

    given / family: the current name in comparison form (``normalise_name``); a placeholder
    given name ("Baby of Smith", "Twin 1") is None, never the word "baby".
    given_tokens / family_tokens: ``name_tokens`` of the current name (hyphen parts included).
    all_given / all_family: current + every historical, alias, birth, maiden or preferred name.
    identifiers: valid identifiers as (type, normalised value), sorted.
    invalid_identifiers: the values that failed validation (weak evidence only, never strong).
    """

    record_id: str | None = None
    person_id: str | None = None
    agency: str | None = None
    sensitivity: str = "normal"
    given: str | None = None
    family: str | None = None
    given_tokens: tuple[str, ...] = ()
    family_tokens: tuple[str, ...] = ()
    all_given: tuple[str, ...] = ()
    all_family: tuple[str, ...] = ()
    other_names: tuple[OtherName, ...] = ()
    given_placeholder: bool = False
    multiple_birth: bool = False
    birth_order: int | None = None
    dob: PartialDate | None = None
    dob_estimated: bool = False
    dob_placeholder: bool = False
    gender: str | None = None
    postcodes: tuple[str, ...] = ()
    postcode_sectors: tuple[str, ...] = ()
    postcode_outwards: tuple[str, ...] = ()
    address_text: str | None = None
    streets: tuple[str, ...] = ()
    uprns: frozenset[str] = frozenset()
    identifiers: tuple[tuple[str, str], ...] = ()
    invalid_identifiers: tuple[tuple[str, str], ...] = ()
    extra: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    # Derived once per record (in __post_init__), because comparisons read them on every pair:
    # names without spaces, the first given name, and the date as one int (cheap to hash).
    given_compact: str = field(init=False, compare=False, repr=False, default="")
    family_compact: str = field(init=False, compare=False, repr=False, default="")
    given_first: str = field(init=False, compare=False, repr=False, default="")
    dob_key: int | None = field(init=False, compare=False, repr=False, default=None)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: derived fields are set once, here
        set_(self, "given_compact", (self.given or "").replace(" ", ""))
        set_(self, "family_compact", (self.family or "").replace(" ", ""))
        set_(self, "given_first", (self.given or "").split(" ", 1)[0])
        set_(self, "dob_key", None if self.dob is None else dob_key(self.dob))

    # Convenience views ---------------------------------------------------------------------
    def identifiers_by_type(self) -> dict[str, frozenset[str]]:
        """Valid identifier values grouped by type."""
        return _by_type(self.identifiers)

    def invalid_by_type(self) -> dict[str, frozenset[str]]:
        return _by_type(self.invalid_identifiers)

    @property
    def has_names(self) -> bool:
        return bool(self.given or self.family or self.all_given or self.all_family)


_PRECISION_CODE = {"day": 3, "month": 2, "year": 1, "unknown": 0}


def dob_key(d: PartialDate) -> int:
    """A PartialDate as one int (year, month, day, precision), invertible by ``dob_from_key``:
    pairs of records are compared by date many times, and ints hash far faster."""
    return (((d.year or 0) * 100 + (d.month or 0)) * 100 + (d.day or 0)) * 10 \
        + _PRECISION_CODE[d.precision]


_PRECISION_OF = {v: k for k, v in _PRECISION_CODE.items()}


def dob_from_key(key: int) -> PartialDate:
    rest, code = divmod(key, 10)
    rest, day = divmod(rest, 100)
    year, month = divmod(rest, 100)
    return PartialDate(year or None, month or None, day or None,
                       _PRECISION_OF[code])  # type: ignore[arg-type]


@lru_cache(maxsize=65536)
def _by_type(pairs: tuple[tuple[str, str], ...]) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for t, v in pairs:
        out.setdefault(t, set()).add(v)
    return {t: frozenset(vs) for t, vs in out.items()}


@lru_cache(maxsize=65536)
def name_keys(token: str) -> frozenset[str]:
    """Phonetic keys of one name token, prefixed by algorithm ("metaphone:SM0")."""
    keys = phonetic_keys(token)
    return frozenset(f"{algo}:{keys[algo]}" for algo in _PHONETIC_ALGOS if keys.get(algo))


def normalise_address(text: str) -> str:
    """Folded address text with street-type abbreviations expanded."""
    words = fold(text).replace("-", " ").split()
    return " ".join(_ADDRESS_WORDS.get(w, w) for w in words)


def _streets(address: object) -> tuple[str, ...]:
    """The first line of each address ("14 Harehills Lane" of "14 Harehills Lane, Leeds"),
    normalised: house number and street, the part a typo-tolerant comparison cares about."""
    out: list[str] = []
    for item in _as_list(address):
        first = str(item).split(",", 1)[0]
        norm = normalise_address(first)
        if norm and not norm.isdigit():
            out.append(norm)
    return _unique(out)


def _norm(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    n = normalise_name(value)
    return n or None


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for v in values:
        if v:
            seen.setdefault(v, None)
    return tuple(seen)


def _given(raw: object) -> tuple[str | None, bool, bool, int | None]:
    """(normalised given name or None, is_placeholder, multiple_birth, birth_order)."""
    if not isinstance(raw, str) or not raw.strip():
        return None, False, False, None
    parsed = parse_given_name(raw)
    if parsed.is_placeholder:
        return None, True, parsed.multiple_birth, parsed.birth_order
    return (parsed.value or None), False, False, None


def _dob_from_source(src: Mapping[str, Any]) -> PartialDate | None:
    raw = src.get("dob")
    precision = src.get("dob_precision") or "day"
    if not raw or precision == "unknown":
        return None
    try:
        d = dt.date.fromisoformat(str(raw)[:10])
    except ValueError:
        return None
    if precision == "year":
        return PartialDate(d.year, None, None, "year")
    if precision == "month":
        return PartialDate(d.year, d.month, None, "month")
    return PartialDate.from_date(d)


def _postcode_sets(postcodes: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...],
                                                      tuple[str, ...]]:
    full: list[str] = []
    sector: list[str] = []
    outward: list[str] = []
    for pc in postcodes:
        keys = postcode_keys(pc)
        if keys:
            full.append(keys["full"])
            sector.append(keys["sector"])
            outward.append(keys["outward"])
    return _unique(full), _unique(sector), _unique(outward)


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


# Parts of a document's features that ``features_from_source(..., omit=...)`` can leave out
# (left empty, as if not held). Search re-scoring leaves out what its query cannot compare:
# a comparison whose query side is empty is "null" whatever the candidate holds.
PART_DOB = "dob"  # dob, dob_estimated, dob_placeholder
PART_GENDER = "gender"
PART_LOCATION = "location"  # postcodes and their keys, address text, streets, UPRNs
PART_IDENTIFIERS = "identifiers"  # valid and invalid identifiers
SOURCE_PARTS = frozenset({PART_DOB, PART_GENDER, PART_LOCATION, PART_IDENTIFIERS})


def features_from_source(doc_source: Mapping[str, Any], *,
                         omit: frozenset[str] = frozenset()) -> RecordFeatures:
    """Features of one person document (the ``_source`` of a hit on ``<prefix>-persons``).

    omit: parts (``SOURCE_PARTS``) not to build; they stay empty. Names and record metadata
    are always built."""
    src = doc_source
    given, placeholder, multiple, order = _given(src.get("given_names"))
    family = _norm(src.get("family_name"))
    others: list[OtherName] = []
    for entry in _as_list(src.get("names")):
        if not isinstance(entry, Mapping):
            continue
        g, g_placeholder, g_multiple, g_order = _given(entry.get("given_names"))
        f = _norm(entry.get("family_name"))
        etype = str(entry.get("type") or "alias")
        if etype == "current":
            # The current entry repeats the top-level name; it may carry twin markers.
            multiple = multiple or g_multiple
            order = order if order is not None else g_order
            placeholder = placeholder or g_placeholder
            given = given or g
            family = family or f
            continue
        if g or f:
            others.append(OtherName(etype, g, f))
    all_given = _unique([given, *(o.given for o in others)])
    all_family = _unique([family, *(o.family for o in others)])
    if given is None and not placeholder and all_given:
        given = all_given[0]
    if family is None and all_family:
        family = all_family[0]

    dob: PartialDate | None = None
    dob_placeholder = False
    if PART_DOB not in omit:
        dob = _dob_from_source(src)
        dob_placeholder = bool(src.get("dob_placeholder"))
        if dob is not None and "dob_placeholder" not in src:
            dob_placeholder = is_placeholder_dob(dob)

    postcodes: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    outwards: tuple[str, ...] = ()
    streets: tuple[str, ...] = ()
    address_norm = ""
    uprns: frozenset[str] = frozenset()
    if PART_LOCATION not in omit:
        postcodes, sectors, outwards = _postcode_sets(
            str(p) for p in _as_list(src.get("postcodes")))
        address = src.get("address_text")
        streets = _streets(address)
        if isinstance(address, list):
            address = " ".join(str(a) for a in address)
        address_norm = normalise_address(address) if isinstance(address, str) else ""
        uprns = frozenset(str(u) for u in _as_list(src.get("uprns")) if u)

    valid: set[tuple[str, str]] = set()
    invalid: set[tuple[str, str]] = set()
    if PART_IDENTIFIERS not in omit:
        valid, invalid = _identifier_sets(src)

    gender = None if PART_GENDER in omit else src.get("gender")
    if gender in (None, "", "not_recorded", "unknown"):
        gender = None

    return RecordFeatures(
        record_id=None if src.get("record_id") is None else str(src["record_id"]),
        person_id=None if src.get("person_id") is None else str(src["person_id"]),
        agency=None if src.get("agency") is None else str(src["agency"]),
        sensitivity=str(src.get("sensitivity") or "normal"),
        given=given,
        family=family,
        given_tokens=tuple(name_tokens(given or "")),
        family_tokens=tuple(name_tokens(family or "")),
        all_given=all_given,
        all_family=all_family,
        other_names=tuple(others),
        given_placeholder=placeholder,
        multiple_birth=multiple,
        birth_order=order,
        dob=dob,
        dob_estimated=PART_DOB not in omit and bool(src.get("dob_estimated")),
        dob_placeholder=dob_placeholder,
        gender=str(gender) if gender else None,
        postcodes=postcodes,
        postcode_sectors=sectors,
        postcode_outwards=outwards,
        address_text=address_norm or None,
        streets=streets,
        uprns=uprns,
        identifiers=tuple(sorted(valid)),
        invalid_identifiers=tuple(sorted(invalid)),
    )


def _identifier_sets(src: Mapping[str, Any]) -> tuple[set[tuple[str, str]],
                                                      set[tuple[str, str]]]:
    """(valid, invalid) identifiers of a document as (type, value); a value held as valid
    anywhere is not also invalid."""
    valid: set[tuple[str, str]] = set()
    invalid: set[tuple[str, str]] = set()
    for ident in _as_list(src.get("identifiers")):
        if not isinstance(ident, Mapping) or not ident.get("type") or not ident.get("value"):
            continue
        pair = (str(ident["type"]), str(ident["value"]))
        (valid if ident.get("valid") else invalid).add(pair)
    for item in _as_list(src.get("valid_identifiers")):
        t, sep, v = str(item).partition(":")
        if sep and v:
            valid.add((t, v))
    invalid -= valid
    return valid, invalid


_FEATURE_CACHE_SIZE = 50_000
_feature_cache: OrderedDict[tuple[Any, ...], RecordFeatures] = OrderedDict()
_feature_lock = threading.Lock()


def cached_features_from_source(source: Mapping[str, Any]) -> RecordFeatures:
    """``features_from_source`` with an LRU cache shared by search re-scoring and linking
    (the same documents come back as candidates again and again). A document is identified
    by its record id, version and update time (a change in content changes one of them) and
    its person id."""
    key = (source.get("record_id"), source.get("version"), source.get("updated_at"),
           source.get("person_id"))
    if key[0] is None or key[2] is None:
        return features_from_source(source)
    with _feature_lock:
        found = _feature_cache.get(key)
        if found is not None:
            _feature_cache.move_to_end(key)
            return found
    feats = features_from_source(source)
    with _feature_lock:
        _feature_cache[key] = feats
        if len(_feature_cache) > _FEATURE_CACHE_SIZE:
            _feature_cache.popitem(last=False)
    return feats


def features_from_query(
    given: str | None = None,
    family: str | None = None,
    dob: PartialDate | None = None,
    postcode: str | None = None,
    identifier: tuple[str, str] | None = None,
) -> RecordFeatures:
    """Features of a search: only what was typed. A partial postcode ("LS9", "LS9 7") fills
    the outward/sector keys it supports; an identifier is validated like any other."""
    g, placeholder, multiple, order = _given(given)
    f = _norm(family)
    postcodes: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    outwards: tuple[str, ...] = ()
    if postcode:
        postcodes, sectors, outwards = _postcode_sets([postcode])
        if not postcodes:
            partial = parse_partial_postcode(postcode)
            if partial is not None and partial.level == "sector":
                sectors = (partial.value,)
                outwards = (partial.value.split(" ")[0],)
            elif partial is not None and partial.level == "outward":
                outwards = (partial.value,)
    valid: tuple[tuple[str, str], ...] = ()
    invalid: tuple[tuple[str, str], ...] = ()
    if identifier is not None:
        checked = validate_identifier(identifier[0], identifier[1])
        pair = (str(checked.type), checked.value_normalised)
        if checked.value_normalised:
            if checked.valid:
                valid = (pair,)
            else:
                invalid = (pair,)
    if dob is not None and dob.precision == "unknown":
        dob = None
    return RecordFeatures(
        given=g,
        family=f,
        given_tokens=tuple(name_tokens(g or "")),
        family_tokens=tuple(name_tokens(f or "")),
        all_given=_unique([g]),
        all_family=_unique([f]),
        given_placeholder=placeholder,
        multiple_birth=multiple,
        birth_order=order,
        dob=dob,
        dob_placeholder=bool(dob is not None and is_placeholder_dob(dob)),
        postcodes=postcodes,
        postcode_sectors=sectors,
        postcode_outwards=outwards,
        identifiers=valid,
        invalid_identifiers=invalid,
    )
