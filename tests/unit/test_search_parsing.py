"""Free-text splitting and request validation of the search API (pure functions)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pydantic import ValidationError

from analyzers.dates import PartialDate
from search_api.search.models import SearchRequest
from search_api.search.parsing import NameSplit, name_splits, parse_dob, parse_free_text
from search_api.search.query import Criteria, person_query
from search_api.search.service import fetch_size, plan


def test_names_and_year() -> None:
    parsed = parse_free_text("jon smyth 2015")
    assert parsed.names == ("jon", "smyth")
    assert parsed.dob == PartialDate(2015, None, None, "year")
    assert parsed.postcode is None


def test_full_date_and_full_postcode_with_space() -> None:
    parsed = parse_free_text("Bob Smith 03/04/2015 LS9 7AB")
    assert parsed.names == ("Bob", "Smith")
    assert parsed.dob == PartialDate(2015, 4, 3, "day")
    assert parsed.postcode == "LS9 7AB"


def test_compact_postcode_and_month_year() -> None:
    parsed = parse_free_text("smith ls97ab 04/2015")
    assert parsed.postcode == "LS9 7AB"
    assert parsed.dob == PartialDate(2015, 4, None, "month")
    assert parsed.names == ("smith",)


def test_outward_and_sector_postcodes() -> None:
    assert parse_free_text("khan LS9").postcode == "LS9"
    assert parse_free_text("khan LS9 7").postcode == "LS9 7"
    assert parse_free_text("khan LS9 7").names == ("khan",)


def test_worded_date_needs_a_year_so_april_stays_a_name() -> None:
    parsed = parse_free_text("April Jones 3 March 2015")
    assert parsed.names == ("April", "Jones")
    assert parsed.dob == PartialDate(2015, 3, 3, "day")
    assert parse_free_text("april smith").names == ("april", "smith")
    assert parse_free_text("april smith").dob is None


def test_year_range() -> None:
    parsed = parse_free_text("smith 2014-2016")
    assert parsed.dob is None
    assert parsed.dob_range == (dt.date(2014, 1, 1), dt.date(2016, 12, 31))
    assert parse_free_text("smith 2014 to 2016").dob_range == (dt.date(2014, 1, 1),
                                                              dt.date(2016, 12, 31))


def test_nhs_number_is_an_identifier_not_a_name() -> None:
    parsed = parse_free_text("smith 9434765919")
    assert parsed.identifier == ("nhs_number", "9434765919")
    assert parsed.names == ("smith",)


def test_query_syntax_characters_are_just_words() -> None:
    parsed = parse_free_text('smith AND (x OR "y*" \\')
    assert "smith" in parsed.names
    assert all("query_string" not in str(c) for c in person_query(
        Criteria(either=list(parsed.names)), [], 10)["query"]["bool"]["should"])


def test_digits_that_are_nothing_are_ignored_not_names() -> None:
    parsed = parse_free_text("smith 12345")
    assert parsed.names == ("smith",)
    assert parsed.ignored == ("12345",)


def test_long_text_is_cut_and_names_capped() -> None:
    parsed = parse_free_text(" ".join(["ann"] * 500))
    assert len(parsed.names) <= 6


def test_name_splits() -> None:
    assert name_splits(["jon", "smyth"]) == [NameSplit("jon", "smyth"),
                                             NameSplit("smyth", "jon", swapped=True)]
    assert name_splits(["smith"]) == [NameSplit(None, "smith"), NameSplit("smith", None)]
    assert name_splits([]) == []


def test_parse_dob_forms() -> None:
    assert parse_dob("2015")[0] == PartialDate(2015, None, None, "year")
    assert parse_dob("2014-2016")[1] == (dt.date(2014, 1, 1), dt.date(2016, 12, 31))
    with pytest.raises(ValueError):
        parse_dob("31/02/2015")


def _errors(**kwargs: object) -> list[str]:
    with pytest.raises(ValidationError) as info:
        SearchRequest.model_validate({"purpose": "case work", **kwargs})
    return [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in info.value.errors()]


def test_request_errors_name_the_field() -> None:
    assert any(e.startswith("dob:") for e in _errors(dob="31/02/2015"))
    assert any(e.startswith("page_size:") for e in _errors(text="smith", page_size=51))
    assert any(e.startswith("postcode:") for e in _errors(postcode="not a postcode"))
    assert any(e.startswith("text:") for e in _errors(text="x" * 201))
    assert any("text:" in e for e in _errors())  # nothing to search for
    assert any(e.startswith("agencies.0") or "agencies" in e
               for e in _errors(text="smith", agencies=["bad code!"]))


def test_plan_combines_structured_and_free_text() -> None:
    p = plan(SearchRequest.model_validate(
        {"given_name": "Bob", "text": "smith 2015", "purpose": "case work"}))
    assert p.criteria.given == ["Bob"]
    assert p.criteria.either == ["smith"]
    assert p.criteria.dob == PartialDate(2015, None, None, "year")
    assert p.shapes[0].features.given == "bob"
    assert p.shapes[0].features.family == "smith"


def test_plan_single_year_range_rescored_as_year() -> None:
    p = plan(SearchRequest.model_validate(
        {"family_name": "Smith", "dob_from": dt.date(2015, 1, 1),
         "dob_to": dt.date(2015, 12, 31), "purpose": "case work"}))
    assert p.criteria.dob_range == (dt.date(2015, 1, 1), dt.date(2015, 12, 31))
    assert p.criteria.dob == PartialDate(2015, None, None, "year")


def test_fetch_size_is_about_ten_per_result_and_bounded() -> None:
    assert fetch_size(1, 10) == 100
    assert fetch_size(1, 50) == 500
    assert fetch_size(20, 50) == 1000


def test_linkage_retrieval_keeps_only_whole_name_clauses() -> None:
    from analyzers.dates import PartialDate
    from linkage.features import features_from_query
    from linkage.incremental import _criteria_query
    from search_api.search.query import Criteria, person_query

    crit = Criteria(given=["kayleigh"], family=["smith"], dob=PartialDate(2015, 4, 3, "day"))
    full = json.dumps(person_query(crit, [], 41))
    lean = json.dumps(person_query(crit, [], 41, typed=False))
    for typed_only in ('"fuzziness"', '.edge"'):
        assert typed_only in full and typed_only not in lean
    for neither in ('.tri"', '.bm"'):  # costly at 1M people and found nothing more
        assert neither not in full and neither not in lean
    for kept in ('"all_given"', '"all_family"', '.dm"', '.syn"', '"dob_full"',
                 '"dob_swapped"'):
        assert kept in lean
    linkage = json.dumps(_criteria_query(
        features_from_query("Kayleigh", "Smith", PartialDate(2015, 4, 3, "day"), "LS9 7AB"),
        41)["query"])
    # Linkage looks for pairs of fields as pair keys, never a name on its own.
    assert '"fuzziness"' not in linkage and '"all_given' not in linkage
    assert '"pair_keys"' in linkage and '"postcodes"' in linkage


def _boosts(body: dict[str, Any]) -> dict[str, float]:
    """{field: boost} of the top-level date, postcode and identifier clauses."""
    out: dict[str, float] = {}
    for clause in body["query"]["bool"]["should"]:
        kind, spec = next(iter(clause.items()))
        if kind in ("term", "prefix"):
            field, value = next(iter(spec.items()))
            out[f"{kind}:{field}"] = value["boost"]
        elif kind == "terms":
            out["terms:identifier_values"] = spec["boost"]
    return out


def test_linkage_query_keeps_its_key_boosts() -> None:
    """typed=False is what linking was tuned with (linkage/incremental.py): search's
    re-weighting of dates and postcodes must not reach it."""
    crit = Criteria(given=["kayleigh"], family=["smith"], dob=PartialDate(2015, 4, 3, "day"),
                    postcode="LS9 7AB", identifier=("nhs_number", "9434765919"))
    body = person_query(crit, [], 41, typed=False)
    assert _boosts(body) == {
        "term:dob_full": 4.0, "term:dob_swapped": 2.5, "term:dob_ym": 1.5, "term:dob_y": 1.0,
        "term:postcodes": 4.0, "term:postcode_sector": 1.5, "term:postcode_outward": 0.75,
        "terms:identifier_values": 10.0}
    assert body["sort"] == ["_score", {"record_id": "asc"}]
    assert "rescore" not in body
    words = [c["dis_max"]["queries"] for c in body["query"]["bool"]["should"] if "dis_max" in c]
    fields = [{next(iter(q["match"])) for q in queries} for queries in words]
    # Each name only in its own field: no given name looked for among surnames (linking).
    assert fields == [{"all_given", "all_given.syn", "all_given.dm"},
                      {"all_family", "all_family.syn", "all_family.dm"}]
    typed = person_query(crit, [], 41)
    typed_fields = [{next(iter(q["match"])) for q in c["dis_max"]["queries"]}
                    for c in typed["query"]["bool"]["should"] if "dis_max" in c]
    assert all({"all_given", "all_family"} <= f for f in typed_fields)  # search keeps them


def test_search_query_weights_dates_and_postcodes_by_their_rarity() -> None:
    """A typed date or postcode that agrees must be able to lift a record with a misspelt
    name above records that only share a common name (see TYPED_BOOSTS)."""
    from search_api.search.query import RECORD_BOOSTS, TYPED_BOOSTS

    crit = Criteria(given=["kayleigh"], family=["smith"], dob=PartialDate(2015, 4, 3, "day"),
                    postcode="LS9 7AB", identifier=("nhs_number", "9434765919"))
    typed = _boosts(person_query(crit, [], 100))
    assert typed == {
        "term:dob_full": TYPED_BOOSTS.dob_full, "term:dob_swapped": TYPED_BOOSTS.dob_swapped,
        "term:dob_ym": TYPED_BOOSTS.dob_ym, "term:dob_y": TYPED_BOOSTS.dob_y,
        "term:postcodes": TYPED_BOOSTS.postcode,
        "term:postcode_sector": TYPED_BOOSTS.sector,
        "term:postcode_outward": TYPED_BOOSTS.outward,
        "terms:identifier_values": TYPED_BOOSTS.identifier}
    # Rarer keys weigh more; each at least as much as for linking.
    assert TYPED_BOOSTS.dob_full > TYPED_BOOSTS.dob_swapped > TYPED_BOOSTS.dob_ym
    assert TYPED_BOOSTS.postcode > TYPED_BOOSTS.sector > TYPED_BOOSTS.outward
    for key, value in vars(TYPED_BOOSTS).items():
        assert value >= getattr(RECORD_BOOSTS, key), key
    # A full date agreeing outweighs an exact common surname (3 x idf ~4.6); an identifier
    # agreeing outweighs a date and postcode together.
    assert TYPED_BOOSTS.dob_full > 3.0 * 4.6
    assert TYPED_BOOSTS.identifier > TYPED_BOOSTS.dob_full + TYPED_BOOSTS.postcode
    partial = _boosts(person_query(Criteria(family=["smith"], postcode="LS9 7"), [], 100))
    assert partial == {"term:postcode_sector": TYPED_BOOSTS.typed_sector,
                       "term:postcode_outward": TYPED_BOOSTS.typed_sector_outward}
    area = _boosts(person_query(Criteria(family=["smith"], postcode="LS"), [], 100))
    assert area == {"prefix:postcode_outward": TYPED_BOOSTS.typed_area}


def test_search_name_clauses_per_word() -> None:
    """Each typed word: exact, synonym, double metaphone, fuzzy and prefix matches in its own
    field, the same at 0.4 in the other field (names recorded the other way round)."""
    body = person_query(Criteria(given=["kay"]), [], 100)
    (clause,) = body["query"]["bool"]["should"]
    queries = clause["dis_max"]["queries"]
    seen = {}
    for q in queries:
        ((field, spec),) = q["match"].items()
        seen[(field, "fuzziness" in spec)] = spec["boost"]
    assert seen == {
        ("all_given", False): 3.0, ("all_given.syn", False): 2.5,
        ("all_given.dm", False): 1.5, ("all_given", True): 1.5, ("all_given.edge", False): 2.0,
        ("all_family", False): pytest.approx(1.2), ("all_family.syn", False): 1.0,
        ("all_family.dm", False): pytest.approx(0.6), ("all_family", True): pytest.approx(0.6),
        ("all_family.edge", False): pytest.approx(0.8)}
    assert body["sort"] == ["_score", {"record_id": "asc"}]


def _pair_keys(clause: dict[str, Any]) -> list[str]:
    """The pair keys one pair clause looks for (its readings)."""
    return [q["constant_score"]["filter"]["term"]["pair_keys"]
            for q in clause["dis_max"]["queries"]]


def test_record_query_looks_for_pairs_of_fields_as_pair_keys() -> None:
    from search_api.search.query import PAIR_BOOSTS, record_query

    crit = Criteria(given=["kayleigh"], family=["smith"], given_full="kayleigh",
                    family_full="smith", dob=PartialDate(2015, 4, 3, "day"),
                    postcode="LS9 7AB", identifier=("nhs_number", "9434765919"))
    body = record_query(crit, 21, keys=[{"terms": {"uprns": ["100"]}}])
    should = body["query"]["bool"]["should"]
    alone = [c for c in should if "dis_max" not in c]
    # Keys that identify on their own match alone: full postcode, identifier, the extra keys.
    assert {next(iter(next(iter(c.values())))) for c in alone} == {
        "postcodes", "identifier_values", "uprns"}
    pairs = [_pair_keys(c) for c in should if "dis_max" in c]
    # One clause per pair of things, each with every reading of that pair.
    assert sorted(p[0][:2] for p in pairs) == ["dn", "dn", "ds", "ds", "fm", "gf", "gm",
                                               "ns", "ns"]
    names = next(p for p in pairs if p[0].startswith("gf:"))
    assert "gf:tkayleigh|tsmith" in names and "gf:mKL|mSM0" in names
    assert any(k.startswith("gf:v") for k in names)  # a variant group of Kayleigh
    assert ["dn:2015-04-03|mKL", "dn:2015-04-03|tkayleigh", "dn:2015-04-03|vcaleigh"] in pairs
    assert ["ds:2015-04-03|mKL", "ds:2015-04-03|tkayleigh", "ds:2015-04-03|vcaleigh"] in pairs
    assert any(p[0].startswith("ns:LS9 7|") for p in pairs)
    # A pair scores its best reading: the name as folded above its metaphone.
    clause = next(c for c in should if "dis_max" in c and _pair_keys(c) == names)
    weight = {q["constant_score"]["filter"]["term"]["pair_keys"]: q["constant_score"]["boost"]
              for q in clause["dis_max"]["queries"]}
    assert weight["gf:tkayleigh|tsmith"] > weight["gf:mKL|tsmith"] > weight["gf:mKL|mSM0"]
    assert clause["dis_max"]["boost"] == PAIR_BOOSTS["gf"]
    # No field matches on its own: no name, birth year or postcode district clause.
    text = json.dumps(body["query"])
    for field_ in ('"all_given', '"all_family', '"dob_y"', '"postcode_outward"'):
        assert field_ not in text
    assert body["query"]["bool"]["minimum_should_match"] == 1
    assert body["size"] == 21 and body["sort"] == ["_score", {"record_id": "asc"}]


def test_record_query_of_a_sparse_record_is_the_flat_query() -> None:
    """One name and nothing to pair it with: any one field matches, as before."""
    from search_api.search.query import record_query

    crit = Criteria(family=["smith"], family_full="smith")
    extra = {"terms": {"identifier_values": ["x"], "boost": 10.0}}
    body = record_query(crit, 21, keys=[extra])
    flat = person_query(crit, [], 21, typed=False)
    assert body["query"]["bool"]["should"] == [*flat["query"]["bool"]["should"], extra]
    # Given name and date of birth, no surname: paired.
    paired = record_query(Criteria(given=["zee"], dob=PartialDate(2014, 6, 9, "day")), 21)
    assert all("dis_max" in c for c in paired["query"]["bool"]["should"])
