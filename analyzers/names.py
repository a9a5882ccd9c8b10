"""Given-name placeholders, phonetic keys and name variant groups.

Variant groups come from two sources, merged once at import time and shared by
``variants()``, ``are_variants()`` and ``synonym_lines()`` so that retrieval (OpenSearch
synonyms) and re-scoring (linkage) agree exactly on which names are variants:

* curated spelling / transliteration classes in ``data/name_variants.txt`` (Mohammed /
  Muhammad, Wiktoria / Victoria, Kayleigh / Kayley): each line is an equivalence class;
* nickname groups from the ``nicknames`` package: one group per canonical name, holding the
  name and its nicknames (robert: bob, rob, bobby ...). Each member is widened by its curated
  class, so Aleksander reaches Alex through Alexander.

Groups are *not* chained further (Al is a nickname of Albert and of Alexander, which does not
make Albert a variant of Alexander). Groups with more than MAX_GROUP_SIZE members are dropped:
a huge synonym group explodes every query that touches it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

import jellyfish
from nicknames import NickNamer

from analyzers.text import compact_name, normalise_name

__all__ = [
    "MAX_GROUP_SIZE",
    "ParsedGiven",
    "are_variants",
    "load_curated_groups",
    "load_nickname_exclusions",
    "parse_given_name",
    "phonetic_keys",
    "synonym_lines",
    "variant_groups",
    "variants",
]

MAX_GROUP_SIZE = 25
_ASCII_WORD = re.compile(r"[a-z]+")

# ---------------------------------------------------------------------------------------------
# Placeholder given names ("Baby of Smith", "Unborn", "Twin 1", "BOY")
# ---------------------------------------------------------------------------------------------

# Words that make the given name a placeholder even when followed by more text: in
# "Baby Smith" / "Unborn Smith" / "Twin 1 Smith" the rest is the mother's surname.
_STRONG = frozenset({"baby", "unborn", "twin", "triplet", "quad", "quadruplet"})
# Words that are placeholders only when they are the whole name or followed by "of X":
# "Boy George" is a real name, "BOY" and "Girl of Smith" are not.
_WEAK = frozenset(
    {"boy", "girl", "male", "female", "infant", "newborn", "child", "unnamed", "unknown"}
    | {"nk", "tbc", "tba"}
)
_MULTIPLE = frozenset({"twin", "triplet", "quad", "quadruplet"})
_ORDINALS = {
    "1": 1, "one": 1, "first": 1, "1st": 1, "a": 1, "i": 1,
    "2": 2, "two": 2, "second": 2, "2nd": 2, "b": 2, "ii": 2,
    "3": 3, "three": 3, "third": 3, "3rd": 3, "c": 3, "iii": 3,
    "4": 4, "four": 4, "fourth": 4, "4th": 4, "d": 4, "iv": 4,
}  # fmt: skip
_SEX = {"boy": "male", "male": "male", "girl": "female", "female": "female"}
# Multi-word placeholder phrases, rewritten to one token before parsing.
_PHRASES = (
    (re.compile(r"\b(?:name )?not (?:yet )?known\b"), "nk"),
    (re.compile(r"\bnot yet named\b|\bno name\b"), "unnamed"),
)
# "B/O Smith" is hospital shorthand for "baby of Smith"; matched before folding eats the "/".
_BABY_OF = re.compile(r"\bb\s*/\s*o\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ParsedGiven:
    """A given name with placeholder detection.

    value: normalised given name ("" for a placeholder: "baby" must never match as a name).
    mother_surname: normalised text after "Baby of" / "Baby" / "Unborn" (all of it, so
    "Baby of Jane Smith" gives "jane smith"), or None.
    birth_order / multiple_birth: from "Twin 2", "Triplet B", "Baby 1": twins must never be
    linked automatically, so linkage needs to see them.
    """

    value: str
    is_placeholder: bool
    mother_surname: str | None = None
    multiple_birth: bool = False
    birth_order: int | None = None
    sex_hint: Literal["male", "female"] | None = None


# Given names recur across records and candidates: each is parsed once (the result is frozen).
_CACHED_LENGTH = 80


def parse_given_name(raw: str) -> ParsedGiven:
    """Detect placeholder given names such as "Baby of Smith", "Unborn", "BOY", "Twin 1"."""
    return _parse_given_cached(raw) if len(raw) <= _CACHED_LENGTH else _parse_given(raw)


def _parse_given(raw: str) -> ParsedGiven:
    norm = normalise_name(_BABY_OF.sub(" baby of ", raw))
    if not norm:
        return ParsedGiven("", False)
    for pattern, token in _PHRASES:
        norm = pattern.sub(token, norm)
    tokens = norm.split()

    i = 0
    strong = multiple = False
    order: int | None = None
    sex: Literal["male", "female"] | None = None
    while i < len(tokens) and (tokens[i] in _STRONG or tokens[i] in _WEAK):
        tok = tokens[i]
        strong = strong or tok in _STRONG
        multiple = multiple or tok in _MULTIPLE
        if tok in _SEX:
            sex = "male" if _SEX[tok] == "male" else "female"
        i += 1
        # An ordinal may follow any placeholder word: "Twin 1", "Triplet B", "Baby Boy 2".
        if i < len(tokens) and tokens[i] in _ORDINALS and order is None:
            order = _ORDINALS[tokens[i]]
            multiple = True
            i += 1

    if i == 0:
        return ParsedGiven(norm, False)
    rest = tokens[i:]
    has_of = bool(rest) and rest[0] == "of"
    if has_of:
        rest = rest[1:]
    if not (has_of or not rest or strong):
        # "Boy George", "Child Jane": a weak word followed by a name is a real name.
        return ParsedGiven(norm, False)
    return ParsedGiven(
        value="",
        is_placeholder=True,
        mother_surname=" ".join(rest) or None,
        multiple_birth=multiple,
        birth_order=order,
        sex_hint=sex,
    )


_parse_given_cached = lru_cache(maxsize=100_000)(_parse_given)


# ---------------------------------------------------------------------------------------------
# Phonetic keys
# ---------------------------------------------------------------------------------------------


def phonetic_keys(name: str) -> dict[str, str]:
    """Phonetic codes of a name: metaphone, nysiis, soundex, match_rating (jellyfish).

    Computed on the compact folded form restricted to a-z ("Smith-Jones" -> "smithjones"); call
    it per token (``name_tokens``) for per-token keys. The algorithms are defined for English
    letters only, so a name with no a-z letters (another script, digits) returns {}.
    """
    return dict(_phonetic_cached(name))  # a copy: the cached dict is shared


@lru_cache(maxsize=100_000)
def _phonetic_cached(name: str) -> dict[str, str]:
    letters = "".join(_ASCII_WORD.findall(compact_name(name)))
    if not letters:
        return {}
    return {
        "metaphone": jellyfish.metaphone(letters),
        "nysiis": jellyfish.nysiis(letters),
        "soundex": jellyfish.soundex(letters),
        "match_rating": jellyfish.match_rating_codex(letters),
    }


# ---------------------------------------------------------------------------------------------
# Variant groups
# ---------------------------------------------------------------------------------------------


def load_curated_groups(text: str | None = None) -> list[frozenset[str]]:
    """Parse the curated groups file (or ``text`` in the same format) into folded classes.

    Raises ValueError for a data error: a name that does not fold to one a-z word, or a name
    listed in two groups (each line must be an equivalence class).
    """
    if text is None:
        text = _data_text("name_variants.txt")
    groups: list[frozenset[str]] = []
    owner: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        names: set[str] = set()
        for raw in line.split(","):
            name = normalise_name(raw)
            if not _ASCII_WORD.fullmatch(name):
                raise ValueError(f"name_variants line {lineno}: {raw.strip()!r} is not one word")
            if name in owner and owner[name] != len(groups):
                raise ValueError(f"name_variants line {lineno}: {name!r} is already in a group")
            owner[name] = len(groups)
            names.add(name)
        if len(names) < 2:
            raise ValueError(f"name_variants line {lineno}: a group needs two or more names")
        groups.append(frozenset(names))
    return groups


def _data_text(name: str) -> str:
    return resources.files("analyzers.data").joinpath(name).read_text("utf-8")


def load_nickname_exclusions(text: str | None = None) -> frozenset[tuple[str, str]]:
    """(canonical, nickname) pairs from ``data/nickname_exclusions.txt`` to drop from the
    `nicknames` package: relations that join two distinct full names (Alexandria/Alexander)."""
    if text is None:
        text = _data_text("nickname_exclusions.txt")
    pairs: set[tuple[str, str]] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip().lower() for p in line.split(",")]
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"nickname_exclusions line {lineno}: expected 'canonical, nickname'")
        pairs.add((parts[0], parts[1]))
    return frozenset(pairs)


def _nickname_groups() -> list[frozenset[str]]:
    excluded = load_nickname_exclusions()
    groups = []
    for canonical, nicks in NickNamer.default_lookup().items():
        kept = [n for n in nicks if (canonical, n) not in excluded]
        members = {n for n in (canonical, *kept) if _ASCII_WORD.fullmatch(n)}  # drops "l.b."
        if len(members) > 1:
            groups.append(frozenset(members))
    return groups


@lru_cache(maxsize=1)
def variant_groups() -> tuple[frozenset[str], ...]:
    """All variant groups (curated classes, and nickname groups widened by them), deduplicated,
    without groups contained in another one, and without groups over MAX_GROUP_SIZE."""
    curated = load_curated_groups()
    cls = {name: group for group in curated for name in group}
    candidates: set[frozenset[str]] = set(curated)
    for group in _nickname_groups():
        widened: set[str] = set()
        for name in group:
            widened |= cls.get(name, {name})
        candidates.add(frozenset(widened))
    bounded = [g for g in candidates if 1 < len(g) <= MAX_GROUP_SIZE]
    # Drop groups strictly inside another: they add no synonym and only cost query time.
    by_name: dict[str, list[frozenset[str]]] = {}
    for g in bounded:
        for name in g:
            by_name.setdefault(name, []).append(g)
    kept = [g for g in bounded if not any(g < other for other in by_name[min(g)])]
    return tuple(sorted(kept, key=lambda g: sorted(g)))


@lru_cache(maxsize=1)
def _index() -> dict[str, frozenset[str]]:
    merged: dict[str, set[str]] = {}
    for group in variant_groups():
        for name in group:
            merged.setdefault(name, set()).update(group)
    return {name: frozenset(members) for name, members in merged.items()}


def variants(given_name: str) -> set[str]:
    """Normalised variants of one name, including the name itself ("" gives an empty set).

    >>> sorted(variants("Zoë"))
    ['zoe', 'zoey', 'zoie']
    """
    key = normalise_name(given_name)
    if not key:
        return set()
    return set(_index().get(key, ())) | {key}


def are_variants(a: str, b: str) -> bool:
    """True if a and b normalise to the same name or share a variant group. Symmetric."""
    na, nb = normalise_name(a), normalise_name(b)
    if not na or not nb:
        return False
    return na == nb or nb in _index().get(na, ())


def synonym_lines() -> list[str]:
    """Variant groups as OpenSearch/Solr synonym rules ("bob, bobby, rob, robert").

    For a query-time ``synonym_graph`` filter placed after folding: every term is a single
    a-z token, lines are unique, and none has fewer than two terms.
    """
    return [", ".join(sorted(group)) for group in variant_groups()]
