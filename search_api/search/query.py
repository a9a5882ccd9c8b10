"""OpenSearch query bodies for retrieval. Only structured clauses (match, term, terms, range):
user text is never passed into query_string syntax, so "smith AND (x OR" is just words.

Name words are matched over the multi-fields of ``analyzers.opensearch``: folded text, the
query-time synonym view (nicknames, transliterations) and double metaphone; what a person
typed also by edge n-grams (prefixes) and fuzzy (prefix_length 1). The matches of one word
are combined with ``dis_max`` so a word found several ways counts once (plus a tie-breaker).

Retrieval only chooses the candidates; re-scoring with the linkage model (``rescore.py``)
orders them. So the typed query's boosts aim at one thing: the records the model would rank
first must be among the candidates. BENCHMARKS.md ("Search") has what was measured.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from analyzers.dates import PartialDate, date_keys
from analyzers.identifiers import IdentifierType, validate_identifier
from analyzers.pair_keys import query_pair_keys
from analyzers.postcodes import parse_partial_postcode, postcode_keys
from analyzers.text import name_tokens

__all__ = [
    "RECORD_BOOSTS",
    "SEARCH_ONLY_FIELDS",
    "TYPED_BOOSTS",
    "Criteria",
    "KeyBoosts",
    "identifier_values",
    "notes_query",
    "person_query",
    "persons_by_ids_query",
    "record_query",
    "subjects_query",
]

MAX_TOKENS_PER_FIELD = 6

# Which name fields a group of words is matched against.
GIVEN = ("all_given",)
FAMILY = ("all_family",)
EITHER = ("all_given", "all_family")


# Keys that exist for OpenSearch's matching only. Nothing reads them from a hit (re-scoring
# derives its own features from the names, dates and postcodes as held), so hits leave them
# out: less for OpenSearch to fetch and for Python to parse per candidate.
SEARCH_ONLY_FIELDS = (
    "all_given", "all_family", "given_keys", "family_keys", "dob_full", "dob_ym", "dob_y",
    "dob_swapped", "postcode_outward", "postcode_sector", "identifier_values", "pair_keys",
)


@dataclass
class Criteria:
    """Everything retrieval needs, already parsed and validated."""

    given: list[str] = field(default_factory=list)  # words known to be given names
    family: list[str] = field(default_factory=list)  # words known to be surnames
    either: list[str] = field(default_factory=list)  # free-text words: given or surname
    given_full: str | None = None  # the given-name field as typed (for the exact keyword)
    family_full: str | None = None
    dob: PartialDate | None = None
    dob_range: tuple[dt.date, dt.date] | None = None
    postcode: str | None = None
    address: str | None = None
    identifier: tuple[str | None, str] | None = None
    agencies: list[str] = field(default_factory=list)
    record_ids: list[str] | None = None  # restrict to these records (from a notes search)

    @property
    def has_person_criteria(self) -> bool:
        return bool(self.given or self.family or self.either or self.dob or self.dob_range
                    or self.postcode or self.address or self.identifier)


# A given name recorded as the surname (and the other way round) is a common data-entry
# error: a typed given name is also looked for among surnames, at a lower weight.
CROSS_FIELD_SCALE = 0.4


def _word_clauses(word: str, bases: tuple[str, ...], scale: float = 1.0,
                  typed: bool = True) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for base in bases:
        out.extend([
            {"match": {base: {"query": word, "boost": 3.0 * scale}}},
            {"match": {f"{base}.syn": {"query": word, "boost": 2.5 * scale}}},
            {"match": {f"{base}.dm": {"query": word, "boost": 1.5 * scale}}},
        ])
        if not typed:
            continue
        # Beider-Morse (.bm) and trigram (.tri) matches are left out: at 1M people they cost
        # about half of the query's time and put no more true matches in the top ten
        # (double metaphone, fuzzy and the date and postcode keys find the same records).
        out.append({"match": {base: {"query": word, "fuzziness": "AUTO", "prefix_length": 1,
                                     "max_expansions": 50, "boost": 1.5 * scale}}})
        if len(word) >= 2:
            out.append({"match": {f"{base}.edge": {"query": word, "boost": 2.0 * scale}}})
    return out


def _name_clauses(words: list[str], bases: tuple[str, ...],
                  cross: tuple[str, ...] = (), typed: bool = True) -> list[dict[str, Any]]:
    clauses = []
    seen: set[str] = set()
    for raw in words:
        for word in name_tokens(raw)[:MAX_TOKENS_PER_FIELD]:
            if word in seen:
                continue
            seen.add(word)
            queries = _word_clauses(word, bases, typed=typed)
            if cross:
                queries += _word_clauses(word, cross, CROSS_FIELD_SCALE, typed=typed)
            clauses.append({"dis_max": {"queries": queries, "tie_breaker": 0.2}})
    return clauses[:MAX_TOKENS_PER_FIELD * 2]


def _exact(base: str, name: str) -> dict[str, Any]:
    """The whole name as held (the keyword view), beside its words' matches."""
    return {"match": {f"{base}.exact": {"query": name, "boost": 2.0}}}


@dataclass(frozen=True)
class KeyBoosts:
    """Boosts of the date-of-birth, postcode and identifier clauses (constant-score terms)."""

    dob_full: float
    dob_swapped: float  # the record holds day and month the other way round
    dob_ym: float
    dob_y: float
    postcode: float
    sector: float
    outward: float
    typed_sector: float  # a typed partial postcode: "LS9 7"
    typed_sector_outward: float  # ... and its district
    typed_outward: float  # "LS9"
    typed_area: float  # "LS" (a prefix of districts)
    identifier: float


# A whole record (linkage): unchanged since linking was tuned with them (docs/linkage.md).
RECORD_BOOSTS = KeyBoosts(dob_full=4.0, dob_swapped=2.5, dob_ym=1.5, dob_y=1.0,
                          postcode=4.0, sector=1.5, outward=0.75, typed_sector=2.0,
                          typed_sector_outward=0.5, typed_outward=1.5, typed_area=0.5,
                          identifier=10.0)

# What a person typed (search). A name match scores about 3 x its BM25 idf (~14 for a
# surname held by 1 in 100 records), so with the boosts above a date of birth or postcode
# that agrees counted for less than one common name, though it is stronger evidence to the
# model (a full date is shared by ~1 in 6,000 records at 1M people, a year by ~1 in 18):
# at 1M people a true match with a misspelt name and the right date often ranked below the
# 100th candidate and was never re-scored. These boosts give a key roughly the weight of
# its rarity. An identifier that agrees must still outrank everything else.
TYPED_BOOSTS = KeyBoosts(dob_full=20.0, dob_swapped=10.0, dob_ym=6.0, dob_y=5.0,
                         postcode=12.0, sector=6.0, outward=3.0, typed_sector=8.0,
                         typed_sector_outward=2.0, typed_outward=6.0, typed_area=2.0,
                         identifier=50.0)


def _dob_clauses(dob: PartialDate, b: KeyBoosts) -> list[dict[str, Any]]:
    keys = date_keys(dob)
    out: list[dict[str, Any]] = []
    if "full" in keys:
        out.append({"term": {"dob_full": {"value": keys["full"], "boost": b.dob_full}}})
        out.append({"term": {"dob_swapped": {"value": keys["full"], "boost": b.dob_swapped}}})
    if "ym" in keys:
        out.append({"term": {"dob_ym": {"value": keys["ym"], "boost": b.dob_ym}}})
    if "y" in keys:
        out.append({"term": {"dob_y": {"value": keys["y"], "boost": b.dob_y}}})
    return out


def _postcode_clauses(text: str, b: KeyBoosts) -> list[dict[str, Any]]:
    keys = postcode_keys(text)
    if keys:
        return [
            {"term": {"postcodes": {"value": keys["full"], "boost": b.postcode}}},
            {"term": {"postcode_sector": {"value": keys["sector"], "boost": b.sector}}},
            {"term": {"postcode_outward": {"value": keys["outward"], "boost": b.outward}}},
        ]
    partial = parse_partial_postcode(text)
    if partial is None:
        return []
    out: list[dict[str, Any]] = []
    for reading in (partial, *partial.alternatives):
        if reading.level == "sector":
            out.append({"term": {"postcode_sector": {"value": reading.value,
                                                     "boost": b.typed_sector}}})
            out.append({"term": {"postcode_outward": {"value": reading.value.split(" ")[0],
                                                      "boost": b.typed_sector_outward}}})
        elif reading.level == "outward":
            out.append({"term": {"postcode_outward": {"value": reading.value,
                                                      "boost": b.typed_outward}}})
        elif reading.level == "area":
            out.append({"prefix": {"postcode_outward": {"value": reading.value,
                                                        "boost": b.typed_area}}})
    return out


def identifier_values(identifier: tuple[str | None, str]) -> list[str]:
    """Normalised values an identifier search should look for (every type's reading when the
    type was not given; the raw compact value too, since invalid values are indexed as-is)."""
    kind, value = identifier
    types = [IdentifierType(kind)] if kind else list(IdentifierType)
    values: list[str] = []
    for t in types:
        checked = validate_identifier(t, value)
        if checked.value_normalised and checked.value_normalised not in values:
            values.append(checked.value_normalised)
    compact = "".join(value.split())
    if compact and compact not in values:
        values.append(compact)
    return values[:10]


def person_query(c: Criteria, filters: list[dict[str, Any]], size: int, *,
                 typed: bool = True) -> dict[str, Any]:
    """The retrieval query over ``<prefix>-persons``. ``filters`` (access control) are ANDed.

    typed=True (search): name words also by fuzzy and prefix (edge n-gram) matches, which a
    duty worker's few, possibly misspelt letters need, and dates, postcodes and identifiers
    boosted by ``TYPED_BOOSTS``.

    typed=False is for a whole record (linkage) rather than what a person typed: the
    name clauses keep exact, synonym and double-metaphone matches, each name in its own
    field, and leave out fuzzy, prefix (edge n-gram) and cross-field matches, with
    ``RECORD_BOOSTS``. A record's date of birth,
    postcode and identifiers find its mistyped names anyway, and on the 1M-people store
    those clauses only pushed true duplicates out of the top candidates while costing
    three-quarters of the query's time (BENCHMARKS.md). Linkage looks for a record by its
    pairs of fields (``record_query``) and uses this flat query only for a record too sparse
    to pair: change it only together with linkage.
    """
    boosts = TYPED_BOOSTS if typed else RECORD_BOOSTS
    should: list[dict[str, Any]] = []
    # Cross-field clauses (a given name among surnames) only for what a person typed: for a
    # whole record they found no other record of the same child in 2,000 sampled at 1M
    # people (recall@20 0.9970 with and without) and cost a fifth of the query (took p50
    # 15 -> 12 ms, p95 29 -> 23 ms; BENCHMARKS.md, Linkage, session 5).
    should += _name_clauses(c.given, GIVEN, FAMILY if typed else (), typed)
    should += _name_clauses(c.family, FAMILY, GIVEN if typed else (), typed)
    should += _name_clauses(c.either, EITHER, typed=typed)
    if c.given_full:
        should.append(_exact("all_given", c.given_full))
    if c.family_full:
        should.append(_exact("all_family", c.family_full))
    if c.dob:
        should += _dob_clauses(c.dob, boosts)
    if c.postcode:
        should += _postcode_clauses(c.postcode, boosts)
    if c.address:
        should.append({"match": {"address_text": {"query": c.address, "boost": 1.0}}})
    if c.identifier:
        should.append({"terms": {"identifier_values": identifier_values(c.identifier),
                                 "boost": boosts.identifier}})
    return _ranked(should, _filters(c, filters), size)


def _filters(c: Criteria, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Access control (``filters``) and what the criteria restrict to, all ANDed."""
    filter_: list[dict[str, Any]] = list(filters)
    if c.agencies:
        filter_.append({"terms": {"agency": c.agencies}})
    if c.dob_range:
        lo, hi = c.dob_range
        filter_.append({"bool": {"should": [
            {"range": {"dob": {"gte": lo.isoformat(), "lte": hi.isoformat()}}},
            # A record without a date of birth cannot be excluded by a range.
            {"bool": {"must_not": [{"exists": {"field": "dob"}}]}},
        ], "minimum_should_match": 1}})
    if c.record_ids is not None:
        filter_.append({"terms": {"record_id": c.record_ids}})
    return filter_


def _ranked(should: list[dict[str, Any]], filter_: list[dict[str, Any]],
            size: int) -> dict[str, Any]:
    """Records matching the filters and any of ``should``, best first (ties by record id)."""
    query: dict[str, Any] = {"bool": {"filter": filter_}}
    if should:
        query["bool"]["should"] = should
        query["bool"]["minimum_should_match"] = 1
    return {
        "query": query,
        "size": size,
        "track_total_hits": False,
        "sort": ["_score", {"record_id": "asc"}],
        "_source": {"excludes": list(SEARCH_ONLY_FIELDS)},
    }


# A whole record (linkage, $match) is looked for by the pairs of fields it agrees on (both
# names; the date of birth, or its day/month swap, and a name; the birth month and a name; the
# postcode sector and a name), or by one key that alone identifies (an identifier, a full
# postcode, a UPRN). Each pair is one keyword of the documents (``pair_keys``,
# analyzers.pair_keys), so OpenSearch reads only the records agreeing on both sides. Matching
# the fields one by one and intersecting walked every record sharing a common name: at 1.87M
# indexed records took p50 / p95 went from 13 / 25 ms to 7 / 12 ms, and more of a child's
# other records are in the top 20 (0.9960 -> 0.9978 of 1,500 sampled; BENCHMARKS.md,
# Linkage, session 15).
# A pair scores its best reading (the names as folded, as a variant, as a metaphone), weighted
# by how much the pair says; an agreeing pair counts for a little more than one full
# postcode, which a household shares.
PAIR_BOOSTS = {"gf": 1.0, "dn": 1.6, "ds": 1.0, "fm": 0.6, "gm": 0.6, "ns": 0.6}
READING_BOOSTS = {"t": 1.0, "v": 0.9, "m": 0.7}
PAIR_POSTCODE_BOOST = 1.0  # linkage adds its postcodes again (keys): 2 for the first one
PAIR_IDENTIFIER_BOOST = 10.0


def _reading_boost(key: str) -> float:
    """"gf:tkayleigh|mSM0" -> 1.0 x 0.7: each name side by its reading; dates count 1."""
    kind, rest = key[:2], key[3:]
    left, right = rest.split("|", 1)
    boost = READING_BOOSTS.get(right[:1], 1.0)
    if kind == "gf":
        boost *= READING_BOOSTS.get(left[:1], 1.0)
    return boost


def _pair_clause(group: list[str]) -> dict[str, Any]:
    return {"dis_max": {"queries": [
        {"constant_score": {"filter": {"term": {"pair_keys": k}}, "boost": _reading_boost(k)}}
        for k in group], "tie_breaker": 0.1, "boost": PAIR_BOOSTS[group[0][:2]]}}


def record_query(c: Criteria, size: int, *, keys: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
    """The retrieval query for a whole record (linkage, ``$match``): its pairs of fields as
    ``pair_keys``, and the keys that identify alone.

    keys: more clauses that match alone (the record's other identifiers, postcodes and
    UPRNs). A record too sparse to form any pair (one name, no date of birth or postcode)
    gets ``person_query(c, typed=False)``, where any one field matches."""
    postcode = postcode_keys(c.postcode) if c.postcode else None
    groups = query_pair_keys([t for w in c.given for t in name_tokens(w)],
                             [t for w in c.family for t in name_tokens(w)], c.dob,
                             postcode["sector"] if postcode else None)
    if not groups:
        flat = person_query(c, [], size, typed=False)
        flat["query"]["bool"].setdefault("should", []).extend(keys or [])
        flat["query"]["bool"]["minimum_should_match"] = 1
        return flat
    alone: list[dict[str, Any]] = []
    if postcode:
        alone.append({"term": {"postcodes": {"value": postcode["full"],
                                             "boost": PAIR_POSTCODE_BOOST}}})
    if c.identifier:
        alone.append({"terms": {"identifier_values": identifier_values(c.identifier),
                                "boost": PAIR_IDENTIFIER_BOOST}})
    return _ranked([*alone, *(keys or []), *map(_pair_clause, groups)], _filters(c, []), size)


def persons_by_ids_query(person_ids: list[str], filters: list[dict[str, Any]],
                         size: int) -> dict[str, Any]:
    """Every visible record of the given identities (to list all records under a result)."""
    return {
        "query": {"bool": {"filter": [*filters, {"terms": {"person_id": person_ids}}]}},
        "size": size,
        "track_total_hits": False,
        "sort": [{"record_id": "asc"}],
        "_source": {"excludes": list(SEARCH_ONLY_FIELDS)},
    }


def subjects_query(subjects: list[str], filters: list[dict[str, Any]],
                   size: int) -> dict[str, Any]:
    """Person records named by note subjects ("AGENCY|source_system|source_id")."""
    should = []
    for key in subjects:
        agency, system, source_id = (key.split("|", 2) + ["", ""])[:3]
        should.append({"bool": {"filter": [
            {"term": {"agency": agency}}, {"term": {"source_system": system}},
            {"term": {"source_id": source_id}}]}})
    return {
        "query": {"bool": {"filter": [*filters, {"bool": {"should": should,
                                                          "minimum_should_match": 1}}]}},
        "size": size,
        "_source": ["record_id", "person_id", "agency", "source_system", "source_id"],
    }


def notes_query(text: str, filters: list[dict[str, Any]], agencies: list[str],
                size: int) -> dict[str, Any]:
    filter_ = list(filters)
    if agencies:
        filter_.append({"terms": {"agency": agencies}})
    return {
        "query": {"bool": {
            "filter": filter_,
            "must": [{"match": {"text": {"query": text,
                                         "minimum_should_match": "2<75%"}}}],
        }},
        "size": size,
        "_source": ["note_id", "case_id", "agency", "subjects", "sensitivity", "recorded_at",
                    "type"],
        "highlight": {
            "encoder": "html",
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "fields": {"text": {"fragment_size": 160, "number_of_fragments": 2}},
        },
    }
