"""Free-text splitting and request validation of the search API (pure functions)."""

from __future__ import annotations

import datetime as dt

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
    import json

    from analyzers.dates import PartialDate
    from linkage.features import features_from_query
    from linkage.incremental import _criteria_query
    from search_api.search.query import Criteria, person_query

    crit = Criteria(given=["kayleigh"], family=["smith"], dob=PartialDate(2015, 4, 3, "day"))
    full = json.dumps(person_query(crit, [], 41))
    lean = json.dumps(person_query(crit, [], 41, typed=False))
    for typed_only in ('"fuzziness"', '.tri"', '.bm"', '.edge"'):
        assert typed_only in full and typed_only not in lean
    for kept in ('"all_given"', '"all_family"', '.dm"', '.syn"', '"dob_full"',
                 '"dob_swapped"'):
        assert kept in lean
    linkage = json.dumps(_criteria_query(
        features_from_query("Kayleigh", "Smith", PartialDate(2015, 4, 3, "day"), "LS9 7AB"), 41))
    assert '"fuzziness"' not in linkage and '.bm"' not in linkage and '.dm"' in linkage
    assert '"postcodes"' in linkage
