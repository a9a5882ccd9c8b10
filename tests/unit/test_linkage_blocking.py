"""Batch blocking keys: each rule finds the variant it exists for, and blocks stay bounded."""

from __future__ import annotations

from typing import Any

from linkage.blocking import DEFAULT_RULES, BlockingRule, candidate_pairs
from linkage.features import RecordFeatures, features_from_source

RULES = {rule.name: rule for rule in DEFAULT_RULES}


def rec(record_id: int, agency: str = "LA1", **kw: Any) -> RecordFeatures:
    source: dict[str, Any] = {"record_id": str(record_id), "person_id": f"p{record_id}",
                              "agency": agency, "sensitivity": "normal",
                              "given_names": "Kayleigh", "family_name": "Smith",
                              "dob": "2015-03-04", "dob_precision": "day"}
    source.update(kw)
    return features_from_source(source)


def paired_by(rule: str, a: RecordFeatures, b: RecordFeatures) -> bool:
    return candidate_pairs([a, b], [RULES[rule]]) == [(0, 1)]


def test_date_and_initial_survive_a_changed_surname() -> None:
    a, b = rec(1), rec(2, family_name="Okafor")
    assert paired_by("dob_initial", a, b)
    assert not paired_by("dob_initial", a, rec(3, family_name="Okafor", given_names="Ruby"))


def test_day_month_and_sound_catch_a_wrong_or_swapped_year() -> None:
    a = rec(1)
    assert paired_by("month_day_sound", a, rec(2, dob="2016-03-04"))
    assert paired_by("month_day_sound", a, rec(3, dob="2016-04-03"))  # swapped
    assert not paired_by("month_day_sound", a, rec(4, dob="2016-03-05"))


def test_name_sounds_and_year_survive_names_in_the_wrong_fields() -> None:
    a = rec(1, dob="2015-01-01", dob_precision="year")
    swapped = rec(2, given_names="Smyth", family_name="Kayley", dob="2015-11-30")
    assert paired_by("names_sound_year", a, swapped)
    assert not paired_by("names_sound_year", a, rec(3, dob="2014-03-04"))


def test_address_rules() -> None:
    home: dict[str, Any] = {"postcodes": ["LS9 7AB"], "address_text": "14 harehills lane leeds"}
    a = rec(1, **home)
    moved_name = rec(2, given_names="Ruby", family_name="Okafor", dob="2010-01-01",
                     **home)
    assert paired_by("postcode_house", a, moved_name)
    typo_postcode = rec(3, postcodes=["LS9 7AD"], address_text="14 harehills lane leeds",
                        dob="2010-01-01")
    assert paired_by("street_initial", a, typo_postcode)
    assert not paired_by("postcode_house", a, typo_postcode)


def test_single_field_rules_only_block_while_the_value_is_rare() -> None:
    rule = RULES["rare_family"]
    assert rule.max_block is not None
    rare = [rec(i, dob=f"20{i:02d}-01-01") for i in range(rule.max_block)]
    assert len(candidate_pairs(rare, [rule])) == rule.max_block * (rule.max_block - 1) // 2
    common = [*rare, rec(99, dob="1999-01-01")]
    assert candidate_pairs(common, [rule]) == []
    # A rule without its own limit uses the call's.
    unlimited = BlockingRule("family", rule.keys)
    assert len(candidate_pairs(common, [unlimited], max_block=1000)) > 0


def test_link_only_pairs_cross_agencies() -> None:
    a, b, c = rec(1, agency="LA1"), rec(2, agency="LA1"), rec(3, agency="POL")
    assert candidate_pairs([a, b, c], link_only=True) == [(0, 2), (1, 2)]
    assert candidate_pairs([a, b, c]) == [(0, 1), (0, 2), (1, 2)]
