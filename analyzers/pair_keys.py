"""Pair keys: two fields of a person record joined into one keyword, for linkage retrieval.

Linkage looks for records that agree with a new record on two fields: both names; the date
of birth and a name; the birth month and a name; the postcode sector and a name. Matching
each field on its own and intersecting, OpenSearch walked every record sharing a common
name (tens of thousands at 1M people) for each of the five pairs. A pair key names both
sides at once ("gf:tmohammed|tkhan"), so its postings hold only the records that agree on
both.

A name side is each token of the name in three readings, so that the pair still matches
when the two records spell the name differently:
- ``t`` + the folded token ("tkayleigh");
- ``m`` + its metaphone ("mKL");
- ``v`` + the id of each nickname or transliteration group holding it ("vkailey"), from the
  same groups as the search synonyms (``analyzers.names.variant_groups``).

The document side uses every name the record has held (aliases, former, birth names); the
query side the record's current name, as the field-by-field query did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from analyzers.dates import PartialDate, date_keys
from analyzers.names import phonetic_keys, variant_groups
from analyzers.text import name_tokens

__all__ = ["document_pair_keys", "query_pair_keys", "token_keys"]

# Tokens of one side taken into keys: a record with many names (a long history of aliases)
# must not make thousands of keys.
MAX_TOKENS = 8

# Kinds of pair, by their key's prefix: gf given name + family name; dn date of birth + a
# name; ds the date with day and month exchanged + a name; fm birth month + family name; gm
# birth month + given name; ns postcode sector + a name.


@lru_cache(maxsize=1)
def _group_ids() -> dict[str, tuple[str, ...]]:
    ids: dict[str, list[str]] = {}
    for group in variant_groups():
        gid = min(group)  # groups are sets of names; the first in order names the group
        for name in group:
            ids.setdefault(name, []).append(gid)
    return {name: tuple(sorted(g)) for name, g in ids.items()}


@lru_cache(maxsize=100_000)
def token_keys(token: str) -> tuple[str, ...]:
    """The readings of one folded name token: itself, its metaphone, its variant groups."""
    keys = {"t" + token}
    code = phonetic_keys(token).get("metaphone")
    if code:
        keys.add("m" + code)
    keys.update("v" + gid for gid in _group_ids().get(token, ()))
    return tuple(sorted(keys))


def _side(tokens: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for n, token in enumerate(tokens):
        if n == MAX_TOKENS:
            break
        out.update(token_keys(token))
    return out


def _pairs(given: set[str], family: set[str], dob: PartialDate | None,
           sectors: Sequence[str], swapped_kind: str) -> set[str]:
    out = {f"gf:{a}|{b}" for a in given for b in family}
    names = given | family
    dates = date_keys(dob) if dob is not None else {}
    if "full" in dates:
        out.update(f"dn:{dates['full']}|{k}" for k in names)
    swapped = dates.get("full") if swapped_kind == "query" else dates.get("swapped")
    if swapped:
        # The document holds its own date exchanged; the query asks for its date there.
        out.update(f"ds:{swapped}|{k}" for k in names)
    if "ym" in dates:
        out.update(f"fm:{dates['ym']}|{k}" for k in family)
        out.update(f"gm:{dates['ym']}|{k}" for k in given)
    for sector in sectors:
        out.update(f"ns:{sector}|{k}" for k in names)
    return out


def _tokens(names: Iterable[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        out += [t for t in name_tokens(name) if t not in out]
    return out


def document_pair_keys(given_names: Iterable[str], family_names: Iterable[str],
                       dob: PartialDate | None, sectors: Sequence[str]) -> list[str]:
    """The pair keys a person document is indexed with (every name it has held)."""
    return sorted(_pairs(_side(_tokens(given_names)), _side(_tokens(family_names)), dob,
                         sectors, "document"))


def query_pair_keys(given_tokens: Sequence[str], family_tokens: Sequence[str],
                    dob: PartialDate | None, sector: str | None) -> list[list[str]]:
    """The pair keys a record looks for (its current name; its date also exchanged), grouped
    by the two things each pair joins: one group per kind and pair of tokens (or of a date,
    month or sector and a token), holding every reading of that pair.

    A query scores a group once (its best reading), so a name that belongs to many variant
    groups ("alex": alek, alex, al) counts no more than one spelled only one way."""
    given = [token_keys(t) for t in _first(given_tokens)]
    family = [token_keys(t) for t in _first(family_tokens)]
    groups = [[f"gf:{a}|{b}" for a in g for b in f] for g in given for f in family]
    dates = date_keys(dob) if dob is not None else {}
    for kind, value, sides in (("dn", dates.get("full"), given + family),
                               ("ds", dates.get("full"), given + family),
                               ("fm", dates.get("ym"), family), ("gm", dates.get("ym"), given),
                               ("ns", sector, given + family)):
        if value:
            groups += [[f"{kind}:{value}|{k}" for k in side] for side in sides]
    return groups


def _first(tokens: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(tokens))[:MAX_TOKENS]
