"""OpenSearch analysis settings and mappings, as plain data (no client, no services).

Two indices, each a versioned physical index behind an alias (see ``indexer/lifecycle.py``):

* ``<prefix>-persons``: one document per agency person record; the field contract is
  ``docs/person-document.md``.
* ``<prefix>-notes``: one document per case note, searched as free text and mapped back to
  persons through its subjects.

Both mappings are ``dynamic: strict``: a document with a field not declared here is rejected,
so the contract cannot drift silently.

Name analysis (must agree with ``analyzers.text.fold``):

* apostrophes are deleted before tokenising (O'Brien -> obrien), as ``fold`` does;
* folding is ``icu_folding`` when the cluster has it (our local node builds a small ICU plugin;
  a managed cluster may have analysis-icu), else ``lowercase`` + ``asciifolding``. The choice is
  the ``icu`` flag of :func:`person_index_body`; ``indexer.lifecycle`` probes the cluster;
* the keyword ``exact`` sub-field uses a normalizer (lowercase + asciifolding): normalizers
  must give identical results on every cluster, so it never depends on ICU;
* nickname and transliteration synonyms (``analyzers.names.synonym_lines``) are applied at query
  time only (``synonym_graph`` in a search analyzer), so updating the variant groups never needs
  a reindex and index-time token counts are not inflated;
* edge n-grams (2-15) are index-time only: the query side is the plain folded analyzer, so a
  typed prefix "moh" matches "mohammed" without the query exploding into its own prefixes.
"""

from __future__ import annotations

from typing import Any

from analyzers.names import synonym_lines

__all__ = [
    "CONCURRENT_SEARCH_SLICES",
    "EDGE_MAX",
    "EDGE_MIN",
    "PERSONS_SEGMENTS_PER_TIER",
    "analysis_settings",
    "index_settings",
    "notes_index_body",
    "notes_mappings",
    "person_index_body",
    "person_dynamic_settings",
    "person_mappings",
    "person_merge_settings",
    "search_concurrency_settings",
]

EDGE_MIN = 2
EDGE_MAX = 15
_APOSTROPHES = ["'", "\u2019", "\u2018", "\u02bc", "`", "\u00b4", "\u2032", "\u02b9", "\u02bb"]


def _fold_filters(icu: bool) -> list[str]:
    return ["icu_folding"] if icu else ["lowercase", "asciifolding"]


def analysis_settings(icu: bool = False) -> dict[str, Any]:
    """The ``index.analysis`` block shared by both indices."""
    fold = _fold_filters(icu)
    base = {"type": "custom", "tokenizer": "standard", "char_filter": ["name_apostrophes"]}
    return {
        "char_filter": {
            "name_apostrophes": {
                "type": "mapping",
                "mappings": [f"{ch}=>" for ch in _APOSTROPHES],
            },
        },
        "normalizer": {
            "name_exact": {
                "type": "custom",
                "char_filter": ["name_apostrophes"],
                "filter": ["lowercase", "asciifolding"],
            },
        },
        "filter": {
            "name_synonyms": {
                "type": "synonym_graph",
                "synonyms": synonym_lines(),
            },
            "name_double_metaphone": {
                "type": "phonetic",
                "encoder": "double_metaphone",
                "replace": True,
                "max_code_len": 6,
            },
            "name_beider_morse": {
                "type": "phonetic",
                "encoder": "beider_morse",
                "rule_type": "approx",
                "name_type": "generic",
                "replace": True,
            },
            "name_edge_ngram": {
                "type": "edge_ngram",
                "min_gram": EDGE_MIN,
                "max_gram": EDGE_MAX,
                "preserve_original": True,
            },
            "name_trigram": {"type": "ngram", "min_gram": 3, "max_gram": 3},
        },
        "analyzer": {
            "name_folded": {**base, "filter": fold},
            "name_synonym_search": {**base, "filter": [*fold, "name_synonyms"]},
            "name_double_metaphone": {**base, "filter": [*fold, "name_double_metaphone"]},
            "name_beider_morse": {**base, "filter": [*fold, "name_beider_morse"]},
            "name_edge": {**base, "filter": [*fold, "name_edge_ngram"]},
            "name_trigram": {**base, "filter": [*fold, "name_trigram"]},
            "address_text": {"type": "custom", "tokenizer": "standard", "filter": fold},
        },
    }


def index_settings(icu: bool = False, shards: int = 1) -> dict[str, Any]:
    return {
        "number_of_shards": shards,
        # One replica on a cluster, none on a single node (stays green).
        "auto_expand_replicas": "0-1",
        "max_result_window": 10_000,
        "analysis": analysis_settings(icu),
    }


def _name_field(with_variants: bool = True) -> dict[str, Any]:
    """A name: folded text, plus exact / synonym / phonetic / edge n-gram / trigram views."""
    fields: dict[str, Any] = {
        "exact": {"type": "keyword", "normalizer": "name_exact", "ignore_above": 256},
        "syn": {"type": "text", "analyzer": "name_folded",
                "search_analyzer": "name_synonym_search"},
    }
    if with_variants:
        fields.update({
            "dm": {"type": "text", "analyzer": "name_double_metaphone"},
            "bm": {"type": "text", "analyzer": "name_beider_morse"},
            "edge": {"type": "text", "analyzer": "name_edge", "search_analyzer": "name_folded"},
            "tri": {"type": "text", "analyzer": "name_trigram"},
        })
    return {"type": "text", "analyzer": "name_folded", "fields": fields}


_KW: dict[str, Any] = {"type": "keyword"}
_KW_LIMITED: dict[str, Any] = {"type": "keyword", "ignore_above": 256}


def person_mappings() -> dict[str, Any]:
    """Mapping of a person document (docs/person-document.md)."""
    return {
        "dynamic": "strict",
        # pair_keys are only ever matched (never read from a hit, sorted or aggregated on),
        # and a reindex rebuilds them from SQL: neither stored nor kept as doc values. Stored,
        # they doubled the index at 1.87M records (BENCHMARKS.md, Linkage, session 15).
        "_source": {"excludes": ["pair_keys"]},
        "properties": {
            "record_id": _KW,
            "person_id": _KW,
            "agency": _KW,
            "agency_kind": _KW,
            "source_system": _KW_LIMITED,
            "source_id": _KW_LIMITED,
            "version": {"type": "long"},
            "sensitivity": _KW,
            "given_names": _name_field(with_variants=False),
            "family_name": _name_field(with_variants=False),
            "names": {"type": "object", "enabled": False},
            "all_given": _name_field(),
            "all_family": _name_field(),
            "given_keys": _KW,
            "family_keys": _KW,
            # Two fields joined in one keyword, for linkage retrieval (analyzers.pair_keys).
            "pair_keys": {"type": "keyword", "doc_values": False},
            "dob": {"type": "date", "format": "strict_date"},
            "dob_precision": _KW,
            "dob_full": _KW,
            "dob_ym": _KW,
            "dob_y": _KW,
            "dob_swapped": _KW,
            "dob_estimated": {"type": "boolean"},
            "dob_placeholder": {"type": "boolean"},
            "expected_birth_date": {"type": "date", "format": "strict_date"},
            "unborn": {"type": "boolean"},
            "gender": _KW,
            "postcodes": _KW,
            "postcode_outward": _KW,
            "postcode_sector": _KW,
            "address_text": {"type": "text", "analyzer": "address_text"},
            "uprns": _KW,
            "identifiers": {"type": "object", "enabled": False},
            "identifier_values": _KW_LIMITED,
            "valid_identifiers": _KW_LIMITED,
            "date_of_death": {"type": "date", "format": "strict_date"},
            "updated_at": {"type": "date"},
        },
    }


def notes_mappings() -> dict[str, Any]:
    """Mapping of a case-note document.

    ``subjects`` holds "AGENCY|source_system|source_id" of each person the note's case is about,
    which is how a note is mapped back to person records at query time (the person ids a note
    was indexed with can be stale after a merge; the persons index is the current truth).
    """
    return {
        "dynamic": "strict",
        "properties": {
            "note_id": _KW,
            "case_id": _KW,
            "case_source_id": _KW_LIMITED,
            "case_number": _KW_LIMITED,
            "record_ids": _KW,
            "person_ids": _KW,
            "subjects": _KW_LIMITED,
            "agency": _KW,
            "source_system": _KW_LIMITED,
            "source_id": _KW_LIMITED,
            "version": {"type": "long"},
            "sensitivity": _KW,
            "case_sensitivity": _KW,
            "recorded_at": {"type": "date"},
            "type": _KW_LIMITED,
            "author": {"type": "text", "fields": {"exact": _KW_LIMITED}},
            "text": {
                "type": "text",
                "analyzer": "english",
                # Offsets make highlighting of long notes cheap and exact.
                "index_options": "offsets",
            },
        },
    }


# Concurrent segment search on the persons index: a search's segments are split into this
# many slices, searched in parallel. OpenSearch's default on a 2-core node is one slice (no
# concurrency), and "auto" mode uses slices only for aggregations. At 1M people it cut the
# retrieval query's p95 `took` from 49-58 to 43-44 ms on a busy machine, and its p50 too on a
# quieter one (BENCHMARKS.md, "Search").
CONCURRENT_SEARCH_SLICES = 2


def search_concurrency_settings(slices: int = CONCURRENT_SEARCH_SLICES) -> dict[str, Any]:
    """Index settings for concurrent segment search (dynamic: ``put_settings`` applies them to
    an existing index)."""
    return {"search.concurrent_segment_search.mode": "all",
            "search.concurrent.max_slice_count": slices}


# Segments per tier of the merge policy on the persons index (OpenSearch's default: 10). A
# query pays per segment whatever its size: at 1M people a linkage retrieval took 3.3-4.1 ms
# (mean) on one segment, 6.2-6.8 ms once 5,000 later writes had left 14 small segments beside
# it, and 3.7 ms when this setting had merged those into one (BENCHMARKS.md, Linkage,
# session 16). Merging small segments is cheap, and the index takes few writes a second.
PERSONS_SEGMENTS_PER_TIER = 3


def person_merge_settings() -> dict[str, Any]:
    """The persons index's merge policy (dynamic: ``put_settings`` applies it to an existing
    index)."""
    return {"merge.policy.segments_per_tier": PERSONS_SEGMENTS_PER_TIER}


def person_dynamic_settings() -> dict[str, Any]:
    """The persons index's settings that OpenSearch changes on a live index: created with
    them, and put on an index an older version built (``indexer.lifecycle``)."""
    return {**search_concurrency_settings(), **person_merge_settings()}


def person_index_body(icu: bool = False) -> dict[str, Any]:
    return {"settings": {"index": {**index_settings(icu), **person_dynamic_settings()}},
            "mappings": person_mappings()}


def notes_index_body(icu: bool = False) -> dict[str, Any]:
    return {"settings": {"index": index_settings(icu)}, "mappings": notes_mappings()}
