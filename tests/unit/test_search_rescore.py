"""Search re-scoring (``Rescorer``) against the plain path: every candidate's full features,
``compare`` on every field, the search adjustments. The Rescorer builds only the features
a query can compare and compares each distinct set of candidate values once per search; the
scores, levels and reasons must be the same."""

from __future__ import annotations

from typing import Any

import pytest

from analyzers.dates import PartialDate
from linkage.features import (
    PART_DOB,
    PART_GENDER,
    PART_IDENTIFIERS,
    PART_LOCATION,
    SOURCE_PARTS,
    RecordFeatures,
    features_from_source,
)
from linkage.model import compare, compare_field, default_params
from search_api.search import rescore
from search_api.search.models import SearchRequest
from search_api.search.rescore import QueryShape, Rescorer, Scored
from search_api.search.service import plan

NHS_A = "9434765919"
NHS_B = "4010232137"


def doc(rid: int, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"record_id": str(rid), "person_id": f"p{rid}", "agency": "LA1",
                            "sensitivity": "normal", "gender": "female",
                            "postcodes": ["LS9 7AB"], "address_text": "12 High St, Leeds",
                            "identifiers": [{"type": "nhs_number", "value": NHS_A,
                                             "valid": True}]}
    base.update(kw)
    return base


# Candidates that share a given name, a surname or a date with another candidate but differ
# elsewhere: the memo must tell them apart wherever a comparison reads the difference.
CANDIDATES = [
    doc(1, given_names="Taylor", family_name="Smith", dob="2015-04-01"),  # names swapped
    doc(2, given_names="Taylor", family_name="Brown", dob="2015-04-01"),  # crossed
    doc(3, given_names="Taylor", family_name="Green", dob="2015-01-04"),
    doc(4, given_names="Smith", family_name="Taylor", dob="2015-04-01"),
    doc(5, given_names="Smith", family_name="Taylor", dob="2015-04-01", gender="male",
        identifiers=[{"type": "nhs_number", "value": NHS_B, "valid": True}]),
    doc(6, given_names="Peter", family_name="Smith", dob="2015",
        dob_precision="year"),
    doc(7, given_names="Smyth", family_name="Tailor", dob="2015-04-10",
        names=[{"type": "former", "given_names": None, "family_name": "Jones"}]),
    doc(8, given_names="Smith", family_name="Jones", dob="2015-04-01",
        names=[{"type": "former", "given_names": None, "family_name": "Taylor"}]),
    doc(9, given_names="Smithers", family_name="Taylor", postcodes=["LS9 7AD"]),
    doc(10, given_names="Baby of Taylor", family_name="Taylor", dob="2015-04-01"),
    doc(11, given_names="Sam", family_name="Taylor", dob="2015-04-01", dob_estimated=True),
    doc(12, given_names=None, family_name="Taylor", postcodes=[], address_text=None,
        identifiers=[]),
]

REQUESTS = [
    {"given_name": "Smith", "family_name": "Taylor", "dob": "2015-04-01"},
    {"given_name": "Smi", "family_name": "Taylor", "dob": "2015"},
    {"text": "smith taylor 2015"},
    {"family_name": "Taylor", "postcode": "LS9 7"},
    {"given_name": "Smith", "family_name": "Taylor",
     "identifier": {"type": "nhs_number", "value": NHS_A}},
    {"family_name": "Smith"},
    {"text": "taylor"},
]


def plain_score(shapes: list[QueryShape], source: dict[str, Any]) -> Scored:
    """The reference: full features, every field compared, no memo and nothing reused."""
    params = default_params()
    scorer = Rescorer(shapes, params)  # for the adjustments' prior and marginal weights
    cand = features_from_source(source)
    best: Scored | None = None
    for shape in shapes:
        score = compare(shape.features, cand, params)
        score = rescore._with_prefix(score, shape, cand, params, params.prior_weight)
        score = rescore._with_partial_dob(score, shape.features, cand, scorer)
        if shape.swapped:
            score = rescore._with_swap_penalty(score, params.prior_weight)
        score = rescore._search_grade(score)
        if best is None or score.match_weight > best.score.match_weight:
            best = Scored(score, shape)
    assert best is not None
    return best


@pytest.mark.parametrize("request_body", REQUESTS)
def test_rescorer_scores_as_the_plain_path(request_body: dict[str, Any]) -> None:
    shapes = plan(SearchRequest.model_validate({"purpose": "x", **request_body})).shapes
    scorer = Rescorer(shapes, default_params())
    for source in CANDIDATES * 2:  # the second round is answered from the memo
        got, want = scorer.score(source), plain_score(shapes, source)
        assert got.score == want.score, source["record_id"]
        assert got.shape == want.shape


def test_memo_tells_apart_candidates_that_differ_only_in_the_other_name() -> None:
    shapes = plan(SearchRequest.model_validate(
        {"purpose": "x", "given_name": "Smith", "family_name": "Taylor"})).shapes
    scorer = Rescorer(shapes, default_params())
    given_memo = scorer.memos[0][0]  # the typed reading's given-name comparison
    # "Taylor Smith" is the typed name swapped; "Taylor Brown" has the typed surname as its
    # given name only: one given name, two levels, told apart by the surname.
    levels = [given_memo.get(features_from_source(CANDIDATES[i], omit=scorer.omit)).level
              for i in (0, 1, 0, 1)]
    assert levels == ["swapped", "crossed", "swapped", "crossed"]


def test_parts_left_out_are_the_fields_the_query_lacks() -> None:
    names_only = plan(SearchRequest.model_validate(
        {"purpose": "x", "given_name": "Smith", "family_name": "Taylor"})).shapes
    assert Rescorer(names_only, default_params()).omit == SOURCE_PARTS
    with_dob = plan(SearchRequest.model_validate(
        {"purpose": "x", "family_name": "Taylor", "dob": "2015-04-01",
         "postcode": "LS9 7AB"})).shapes
    assert Rescorer(with_dob, default_params()).omit == {
        PART_GENDER, PART_IDENTIFIERS}


def test_features_from_source_omit_leaves_only_those_parts_empty() -> None:
    source = doc(1, given_names="Anna", family_name="Smith", dob="2015-04-01",
                 dob_estimated=True, uprns=["100023"],
                 names=[{"type": "former", "given_names": None, "family_name": "Brown"}])
    full = features_from_source(source)
    empty = RecordFeatures()
    parts = {
        PART_DOB: ("dob", "dob_estimated", "dob_placeholder", "dob_key"),
        PART_GENDER: ("gender",),
        PART_LOCATION: ("postcodes", "postcode_sectors", "postcode_outwards", "address_text",
                        "streets", "uprns"),
        PART_IDENTIFIERS: ("identifiers", "invalid_identifiers"),
    }
    assert set(parts) == SOURCE_PARTS
    for part, attrs in parts.items():
        light = features_from_source(source, omit=frozenset({part}))
        for name in RecordFeatures.__dataclass_fields__:
            want = getattr(empty if name in attrs else full, name)
            assert getattr(light, name) == want, (part, name)
        assert getattr(full, attrs[0]) != getattr(empty, attrs[0])  # the part was held


def test_compare_field_is_the_field_compare_scores() -> None:
    params = default_params()
    query = features_from_source(doc(0, given_names="Smith", family_name="Taylor",
                                     dob="2015-04-01"))
    for source in CANDIDATES:
        cand = features_from_source(source)
        fields = compare(query, cand, params).fields
        assert [compare_field(i, query, cand, params) for i in range(len(fields))] == fields


def test_year_only_dob_still_gets_partial_agreement() -> None:
    shapes = plan(SearchRequest.model_validate(
        {"purpose": "x", "family_name": "Taylor", "dob": "2015"})).shapes
    assert shapes[0].features.dob == PartialDate(2015, None, None, "year")
    scored = Rescorer(shapes, default_params()).score(CANDIDATES[3])
    dob = next(f for f in scored.score.fields if f.field == "date_of_birth")
    assert dob.reason.startswith("born in the same year, as far as known") and dob.weight > 0
