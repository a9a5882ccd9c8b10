"""Batch blocking keys: each rule finds the variant it exists for, and blocks stay bounded."""

from __future__ import annotations

from collections import Counter
from typing import Any

from linkage.blocking import (
    DEFAULT_RULES,
    BlockingRule,
    RuleStats,
    candidate_pair_array,
    candidate_pairs,
    rule_block_limit,
)
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


def test_rule_block_limit_drops_the_largest_blocks_first() -> None:
    sizes = Counter({2: 100, 5: 10, 30: 2})  # 100 + 100 + 870 pairs
    assert rule_block_limit(sizes, 400, 10_000) == 400  # within budget: the rule's own limit
    assert rule_block_limit(sizes, 400, 200) == 5
    assert rule_block_limit(sizes, 400, 199) == 2
    assert rule_block_limit(sizes, 400, 99) == 1  # even the pairs alone are over: no blocks
    assert rule_block_limit(sizes, 20, 250) == 20  # blocks over the limit never count


def test_a_rule_over_its_budget_keeps_its_small_blocks() -> None:
    # 40 records share one date of birth and initial (a block of 40, 780 pairs); two more
    # share another date (one pair). At 2 pairs a record (84) only the small block fits.
    crowd = [rec(i, given_names=f"K{chr(97 + i % 26)}{i}") for i in range(40)]
    pair = [rec(100, dob="2016-07-09"), rec(101, dob="2016-07-09", family_name="Okafor")]
    records = crowd + pair
    rule = [RULES["dob_initial"]]
    unbounded = candidate_pairs(records, rule, pairs_per_record=None)
    assert len(unbounded) == 781
    stats: list[RuleStats] = []
    budgeted = candidate_pair_array(records, rule, pairs_per_record=2.0, stats=stats,
                                    min_rule_budget=0)
    assert budgeted.tolist() == [[40, 41]]
    assert stats == [RuleStats("dob_initial", blocks=3, limit=400, budget_limit=2, pairs=1)]


def test_small_runs_are_never_narrowed() -> None:
    crowd = [rec(i, given_names=f"K{i}") for i in range(40)]
    assert len(candidate_pairs(crowd, [RULES["dob_initial"]], pairs_per_record=0.01)) == 780
