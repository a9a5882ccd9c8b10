"""OpenSearch query bodies for retrieval. Only structured clauses (match, term, terms, range):
user text is never passed into query_string syntax, so "smith AND (x OR" is just words.

Name words are matched over the multi-fields of ``analyzers.opensearch``: folded text, the
query-time synonym view (nicknames, transliterations), double metaphone, Beider-Morse,
edge n-grams (prefixes), fuzzy (prefix_length 1) and trigrams, combined per word with
``dis_max`` so one word found several ways counts once (plus a tie-breaker).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from analyzers.dates import PartialDate, date_keys
from analyzers.identifiers import IdentifierType, validate_identifier
from analyzers.postcodes import parse_partial_postcode, postcode_keys
from analyzers.text import name_tokens

__all__ = [
    "SEARCH_ONLY_FIELDS",
    "Criteria",
    "identifier_values",
    "notes_query",
    "person_query",
    "persons_by_ids_query",
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
    "dob_swapped", "postcode_outward", "postcode_sector", "identifier_values",
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
        out.extend([
            {"match": {f"{base}.bm": {"query": word, "boost": 1.0 * scale}}},
            {"match": {base: {"query": word, "fuzziness": "AUTO", "prefix_length": 1,
                              "max_expansions": 50, "boost": 1.5 * scale}}},
        ])
        if len(word) >= 2:
            out.append({"match": {f"{base}.edge": {"query": word, "boost": 2.0 * scale}}})
        if len(word) >= 4:
            out.append({"match": {f"{base}.tri": {"query": word, "boost": 0.5 * scale,
                                                  "minimum_should_match": "60%"}}})
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


def _dob_clauses(dob: PartialDate) -> list[dict[str, Any]]:
    keys = date_keys(dob)
    out: list[dict[str, Any]] = []
    if "full" in keys:
        out.append({"term": {"dob_full": {"value": keys["full"], "boost": 4.0}}})
        # The record holds day and month the other way round.
        out.append({"term": {"dob_swapped": {"value": keys["full"], "boost": 2.5}}})
    if "ym" in keys:
        out.append({"term": {"dob_ym": {"value": keys["ym"], "boost": 1.5}}})
    if "y" in keys:
        out.append({"term": {"dob_y": {"value": keys["y"], "boost": 1.0}}})
    return out


def _postcode_clauses(text: str) -> list[dict[str, Any]]:
    keys = postcode_keys(text)
    if keys:
        return [
            {"term": {"postcodes": {"value": keys["full"], "boost": 4.0}}},
            {"term": {"postcode_sector": {"value": keys["sector"], "boost": 1.5}}},
            {"term": {"postcode_outward": {"value": keys["outward"], "boost": 0.75}}},
        ]
    partial = parse_partial_postcode(text)
    if partial is None:
        return []
    out: list[dict[str, Any]] = []
    for reading in (partial, *partial.alternatives):
        if reading.level == "sector":
            out.append({"term": {"postcode_sector": {"value": reading.value, "boost": 2.0}}})
            out.append({"term": {"postcode_outward": {"value": reading.value.split(" ")[0],
                                                      "boost": 0.5}}})
        elif reading.level == "outward":
            out.append({"term": {"postcode_outward": {"value": reading.value, "boost": 1.5}}})
        elif reading.level == "area":
            out.append({"prefix": {"postcode_outward": {"value": reading.value,
                                                        "boost": 0.5}}})
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

    typed=False is for a whole record (linkage) rather than what a person typed: the
    name clauses keep exact, synonym and double-metaphone matches and leave out fuzzy,
    trigram, Beider-Morse and prefix (edge n-gram) matches. A record's date of birth,
    postcode and identifiers find its mistyped names anyway, and on the 1M-people store
    those clauses only pushed true duplicates out of the top candidates while costing
    three-quarters of the query's time (BENCHMARKS.md). A duty worker's few typed letters
    need every one of them.
    """
    should: list[dict[str, Any]] = []
    should += _name_clauses(c.given, GIVEN, FAMILY, typed)
    should += _name_clauses(c.family, FAMILY, GIVEN, typed)
    should += _name_clauses(c.either, EITHER, typed=typed)
    if c.given_full:
        should.append({"match": {"all_given.exact": {"query": c.given_full, "boost": 2.0}}})
    if c.family_full:
        should.append({"match": {"all_family.exact": {"query": c.family_full, "boost": 2.0}}})
    if c.dob:
        should += _dob_clauses(c.dob)
    if c.postcode:
        should += _postcode_clauses(c.postcode)
    if c.address:
        should.append({"match": {"address_text": {"query": c.address, "boost": 1.0}}})
    if c.identifier:
        should.append({"terms": {"identifier_values": identifier_values(c.identifier),
                                 "boost": 10.0}})
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
