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


def _groups(given_tokens: Iterable[str], family_tokens: Iterable[str],
            dates: dict[str, str], swapped: str | None, sectors: Sequence[str]
            ) -> list[list[str]]:
    """Every pair, one group per kind and pair of tokens (or of a date, month or sector and a
    token), holding every reading of that pair. ``swapped``: the date the "ds" pairs name
    (a document's own date exchanged; a query's date, to find it there)."""
    given = [token_keys(t) for t in _first(given_tokens)]
    family = [token_keys(t) for t in _first(family_tokens)]
    groups = [[f"gf:{a}|{b}" for a in g for b in f] for g in given for f in family]
    by_kind = [("dn", dates.get("full"), given + family), ("ds", swapped, given + family),
               ("fm", dates.get("ym"), family), ("gm", dates.get("ym"), given)]
    by_kind += [("ns", sector, given + family) for sector in sectors]
    for kind, value, sides in by_kind:
        if value:
            groups += [[f"{kind}:{value}|{k}" for k in side] for side in sides]
    return groups


def _tokens(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(t for name in names for t in name_tokens(name)))


def _dates(dob: PartialDate | None) -> dict[str, str]:
    return date_keys(dob) if dob is not None else {}


def document_pair_keys(given_names: Iterable[str], family_names: Iterable[str],
                       dob: PartialDate | None, sectors: Sequence[str]) -> list[str]:
    """The pair keys a person document is indexed with (every name it has held)."""
    dates = _dates(dob)
    groups = _groups(_tokens(given_names), _tokens(family_names), dates, dates.get("swapped"),
                     sectors)
    return sorted({key for group in groups for key in group})


def query_pair_keys(given_tokens: Sequence[str], family_tokens: Sequence[str],
                    dob: PartialDate | None, sector: str | None) -> list[list[str]]:
    """The pair keys a record looks for (its current name; its date also exchanged), grouped
    by the two things each pair joins.

    A query scores a group once (its best reading), so a name that belongs to many variant
    groups ("alex": alek, alex, al) counts no more than one spelled only one way."""
    dates = _dates(dob)
    return _groups(given_tokens, family_tokens, dates, dates.get("full"),
                   [sector] if sector else [])


def _first(tokens: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tokens))[:MAX_TOKENS]
