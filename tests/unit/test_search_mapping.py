"""The OpenSearch settings/mappings (plain data) and the person document builder."""

from __future__ import annotations

import datetime as dt

from analyzers.opensearch import (
    analysis_settings,
    notes_mappings,
    person_index_body,
    person_mappings,
)
from indexer.documents import note_document, person_document, strictest
from schemas.tables import AddressRow, CaseNoteRow, CaseRow, IdentifierRow, PersonNameRow
from schemas.tables import PersonRecordRow as Row


def test_mappings_are_strict_and_cover_the_contract() -> None:
    assert person_mappings()["dynamic"] == "strict"
    assert notes_mappings()["dynamic"] == "strict"
    props = person_mappings()["properties"]
    for name in ("record_id", "person_id", "all_given", "all_family", "dob_swapped",
                 "postcode_sector", "valid_identifiers", "sensitivity", "agency"):
        assert name in props
    assert set(props["all_given"]["fields"]) == {"exact", "syn", "dm", "bm", "edge", "tri"}
    assert props["sensitivity"]["type"] == "keyword" and props["agency"]["type"] == "keyword"
    assert notes_mappings()["properties"]["text"]["analyzer"] == "english"


def test_icu_flag_chooses_the_folding_filter() -> None:
    with_icu = analysis_settings(icu=True)["analyzer"]["name_folded"]["filter"]
    without = analysis_settings(icu=False)["analyzer"]["name_folded"]["filter"]
    assert with_icu == ["icu_folding"] and without == ["lowercase", "asciifolding"]
    # The keyword normalizer must behave the same on every cluster.
    assert analysis_settings(icu=True)["normalizer"] == analysis_settings(icu=False)["normalizer"]


def test_synonyms_and_ngrams_on_the_right_side() -> None:
    props = person_mappings()["properties"]["all_given"]["fields"]
    analyzers = analysis_settings()["analyzer"]
    # Synonyms only at query time; edge n-grams only at index time.
    assert "name_synonyms" not in analyzers[props["syn"]["analyzer"]]["filter"]
    assert "name_synonyms" in analyzers[props["syn"]["search_analyzer"]]["filter"]
    assert "name_edge_ngram" in analyzers[props["edge"]["analyzer"]]["filter"]
    assert "name_edge_ngram" not in analyzers[props["edge"]["search_analyzer"]]["filter"]
    lines = analysis_settings()["filter"]["name_synonyms"]["synonyms"]
    assert any(set(line.split(", ")) >= {"bob", "robert"} for line in lines)
    assert person_index_body()["settings"]["index"]["analysis"]["filter"]["name_edge_ngram"][
        "max_gram"] == 15


def _row() -> Row:
    row = Row(id=7, agency_code="SC", source_system="cms", source_id="C7", version=3,
              person_id="P1", given_names="Baby of Smith", family_name="Smith-Jones",
              date_of_birth=dt.date(2015, 4, 3), dob_precision="day", dob_estimated=False,
              gender="unborn", sensitivity="restricted", updated_at=dt.datetime(2026, 1, 1),
              expected_birth_date=None, date_of_death=None)
    row.names = [PersonNameRow(type="alias", given_names="Annie", family_name="Jones")]
    row.addresses = [AddressRow(type="home", lines=["1 Main St"], postcode="LS9 7AB",
                                uprn="123")]
    row.identifiers = [IdentifierRow(type="nhs_number", value="9434765919", valid=True),
                       IdentifierRow(type="upn", value="BAD", valid=False)]
    return row


def test_person_document() -> None:
    doc = person_document(_row(), "social_care")
    assert set(doc) <= set(person_mappings()["properties"])
    assert doc["record_id"] == "7" and doc["version"] == 3 and doc["agency_kind"] == "social_care"
    # A placeholder given name is not a name to match on; the alias is.
    assert doc["all_given"] == ["Annie"] and doc["unborn"] is True
    assert doc["all_family"] == ["Smith-Jones", "smithjones", "Jones"]
    assert doc["dob_full"] == "2015-04-03" and doc["dob_swapped"] == "2015-03-04"
    assert doc["postcodes"] == ["LS9 7AB"] and doc["postcode_sector"] == ["LS9 7"]
    assert doc["identifier_values"] == ["9434765919", "BAD"]
    assert doc["valid_identifiers"] == ["nhs_number:9434765919"]
    assert "metaphone:SM0" in doc["family_keys"]
    # Pair keys join the alias too ("Annie" + "Jones"), and the date with each name.
    assert "gf:tannie|tjones" in doc["pair_keys"] and "dn:2015-04-03|tsmith" in doc["pair_keys"]


def test_pair_keys_are_matched_only_never_stored() -> None:
    """Nothing reads them back: kept out of _source and doc values (they doubled the index)."""
    mapping = person_mappings()
    assert mapping["_source"] == {"excludes": ["pair_keys"]}
    assert mapping["properties"]["pair_keys"] == {"type": "keyword", "doc_values": False}
    from search_api.search.query import SEARCH_ONLY_FIELDS

    assert "pair_keys" in SEARCH_ONLY_FIELDS


def test_note_is_as_sensitive_as_its_case() -> None:
    note = CaseNoteRow(id=1, agency_code="SC", source_system="cms", source_id="N1", version=0,
                       case_source_id="K1", recorded_at=dt.datetime(2026, 1, 1), type="visit",
                       text="seen", sensitivity="normal", author=None)
    case = CaseRow(id=2, agency_code="SC", source_system="cms", source_id="K1",
                   subject_source_ids=["C7"], sensitivity="sealed", case_number="X")
    doc = note_document(note, case, [(7, "P1")])
    assert doc["sensitivity"] == "sealed" and doc["subjects"] == ["SC|cms|C7"]
    assert doc["record_ids"] == ["7"] and doc["person_ids"] == ["P1"]
    assert strictest("normal", "bogus") == "sealed"


def test_hits_leave_out_only_keys_that_nothing_reads() -> None:
    """Retrieval hits exclude the search-only keys: the features re-scoring derives from a hit
    must be exactly those of the whole document (if linkage starts reading one of those keys,
    this fails and the key must leave SEARCH_ONLY_FIELDS)."""
    from linkage.features import features_from_source
    from search_api.search.query import SEARCH_ONLY_FIELDS, Criteria, person_query

    row = _row()
    others = [row, _row(), _row()]
    others[1].given_names, others[1].gender = "Zoë-Ann", "female"
    others[1].names = [PersonNameRow(type="former", given_names=None, family_name="O'Brien")]
    others[2].dob_precision, others[2].addresses = "year", []
    for r in others:
        doc = person_document(r, "police")
        hit = {k: v for k, v in doc.items() if k not in SEARCH_ONLY_FIELDS}
        assert set(SEARCH_ONLY_FIELDS) <= set(doc)
        assert features_from_source(hit) == features_from_source(doc)
    body = person_query(Criteria(family=["smith"]), [], 100)
    assert body["_source"] == {"excludes": list(SEARCH_ONLY_FIELDS)}
    assert body["track_total_hits"] is False


def test_cached_name_helpers_match_the_uncached_ones() -> None:
    from analyzers import names, text

    samples = ["Anna-Maria  Smith-Jones", "O'Brien", "Wiśniewski", "Baby of Smith", "Twin 1",
               "ZOË", "x" * 200 + " - y", "  ", "Ștefănescu-Łukasz"]
    for s in samples:
        assert text.fold(s) == text._fold(s)
        assert text.name_tokens(s) == list(text._name_tokens(s))
        assert names.parse_given_name(s) == names._parse_given(s)
    # Callers get their own copies of mutable results.
    tokens = text.name_tokens("Anna-Maria")
    tokens.append("mutated")
    assert text.name_tokens("Anna-Maria") == ["annamaria", "anna", "maria"]
    keys = names.phonetic_keys("smith")
    keys["metaphone"] = "mutated"
    assert names.phonetic_keys("smith")["metaphone"] == "SM0"


def test_segments_for_keeps_merged_segments_under_the_merge_policy_cap() -> None:
    from indexer.segments import MERGED_SEGMENT_BYTES, segments_for

    assert segments_for(0) == 1
    assert segments_for(MERGED_SEGMENT_BYTES) == 1
    assert segments_for(MERGED_SEGMENT_BYTES + 1) == 2
    assert segments_for(9 * MERGED_SEGMENT_BYTES) == 9
    assert MERGED_SEGMENT_BYTES < 5 * 1024**3  # OpenSearch's max merged segment
