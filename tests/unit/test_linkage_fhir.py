"""FHIR Patient $match: Parameters in, searchset Bundle with score and match-grade out."""

from __future__ import annotations

from typing import Any

import pytest

from linkage.features import features_from_source
from linkage.matching import MatchCandidate, features_from_record
from linkage.model import compare
from search_api.access.principal import Principal, PrincipalKind, Role
from search_api.routers.fhir import (
    EXAMPLE,
    MATCH_GRADE_URL,
    _Invalid,
    _parameters,
    build_bundle,
    patient_record,
)

NHS = "9434765919"


def principal(*roles: Role, agencies: frozenset[str] | None = None) -> Principal:
    return Principal("u1", "User One", PrincipalKind.user, frozenset(roles), agencies)


def doc(record_id: str, **kw: Any) -> dict[str, Any]:
    base = {"record_id": record_id, "person_id": "P" + record_id, "agency": "LA1",
            "sensitivity": "normal", "given_names": "Jon", "family_name": "Smith",
            "dob": "2015-04-03", "dob_precision": "day", "gender": "male",
            "postcodes": ["LS9 7AB"],
            "identifiers": [{"type": "nhs_number", "value": NHS, "valid": True}]}
    base.update(kw)
    return base


def candidates(query: Any, *docs: dict[str, Any]) -> list[MatchCandidate]:
    out = []
    for d in docs:
        f = features_from_source(d)
        out.append(MatchCandidate(d, f, compare(query, f)))
    return sorted(out, key=lambda c: -c.score.match_weight)


def test_parameters_and_patient_mapping() -> None:
    patient, count, only_certain = _parameters(EXAMPLE)
    assert count == 5 and only_certain is False
    record = patient_record(patient)
    assert record["given_names"] == "Jon" and record["family_name"] == "Smith"
    assert record["date_of_birth"] == "2015-04-03" and record["dob_precision"] == "day"
    assert record["identifiers"] == [{"type": "nhs_number", "value": NHS}]
    assert record["addresses"][0]["postcode"] == "LS9 7AB"
    partial = patient_record({"resourceType": "Patient", "birthDate": "2015-04"})
    assert partial["dob_precision"] == "month"


@pytest.mark.parametrize("body", [
    {"resourceType": "Patient"},
    {"resourceType": "Parameters", "parameter": []},
    {"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 0},
                                                 {"name": "resource",
                                                  "resource": {"resourceType": "Patient"}}]},
])
def test_bad_parameters_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(_Invalid):
        _parameters(body)


def test_bundle_shape_grades_and_scores() -> None:
    query = features_from_record(patient_record(_parameters(EXAMPLE)[0]))
    cands = candidates(query, doc("1"),
                       doc("2", given_names="Zara", family_name="Okafor", dob="2009-01-09",
                           postcodes=["M1 1AE"], identifiers=[]))
    bundle = build_bundle(cands, principal(Role.duty_worker), count=5, only_certain=False,
                          base="http://x/fhir")
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] == 2 == len(bundle["entry"])
    first, second = bundle["entry"]
    assert first["fullUrl"] == "http://x/fhir/Patient/1"
    assert first["resource"]["resourceType"] == "Patient"
    assert first["resource"]["name"][0]["family"] == "Smith"
    search = first["search"]
    assert search["mode"] == "match" and 0.99 <= search["score"] <= 1
    assert search["extension"] == [{"url": MATCH_GRADE_URL, "valueCode": "certain"}]
    assert second["search"]["extension"][0]["valueCode"] == "certainly-not"
    assert second["search"]["score"] < search["score"]
    only = build_bundle(cands, principal(Role.duty_worker), count=5, only_certain=True,
                        base="http://x/fhir")
    assert [e["resource"]["id"] for e in only["entry"]] == ["1"]


def test_bundle_never_leaks_sealed_or_out_of_scope_records() -> None:
    query = features_from_record(patient_record(_parameters(EXAMPLE)[0]))
    cands = candidates(query, doc("1", sensitivity="sealed"), doc("2", agency="POL"),
                       doc("3", sensitivity="restricted"))
    bundle = build_bundle(cands, principal(Role.duty_worker, agencies=frozenset({"LA1"})),
                          count=5, only_certain=False, base="http://x/fhir")
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["3"]
    restricted = bundle["entry"][0]["resource"]
    assert "identifier" not in restricted and "address" not in restricted
    assert "gender" not in restricted and restricted["meta"]["security"][0]["code"] == "R"
