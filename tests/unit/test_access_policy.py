"""The access rules: the role x sensitivity x agency matrix, exact OpenSearch filters,
minimal views, purposes and reasons."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from schemas.settings import DEFAULT_PURPOSES
from search_api.access.policy import (
    apply_view,
    minimal_view,
    opensearch_filter,
    validate_purpose,
    validate_reason,
    visibility,
)
from search_api.access.principal import Principal, PrincipalKind, Role


def who(*roles: Role, agencies: set[str] | None = None,
        sealed: frozenset[Role] = frozenset({Role.records_admin})) -> Principal:
    return Principal(subject="u", display_name="U", kind=PrincipalKind.user,
                     roles=frozenset(roles), agencies=None if agencies is None
                     else frozenset(agencies), sealed_roles=sealed)


# Every role against every sensitivity, for an agency in scope (all agencies).
MATRIX = {
    #                  normal    restricted  sealed
    Role.duty_worker: ("full", "minimal", "hidden"),
    Role.hub_analyst: ("full", "full", "hidden"),
    Role.reviewer: ("full", "minimal", "hidden"),
    Role.records_admin: ("full", "full", "full"),
    Role.auditor: ("hidden", "hidden", "hidden"),
    Role.service: ("full", "minimal", "hidden"),
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("index,sensitivity", list(enumerate(["normal", "restricted",
                                                            "sealed"])))
def test_visibility_matrix_in_scope(role: Role, index: int, sensitivity: str) -> None:
    assert visibility(who(role), sensitivity, "POL") == MATRIX[role][index]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("sensitivity", ["normal", "restricted", "sealed"])
def test_out_of_scope_agency_is_hidden_for_every_role(role: Role, sensitivity: str) -> None:
    principal = who(role, agencies={"SC"})
    assert visibility(principal, sensitivity, "POL") == "hidden"
    # ... and in scope the matrix applies unchanged.
    expected = MATRIX[role][["normal", "restricted", "sealed"].index(sensitivity)]
    assert visibility(principal, sensitivity, "SC") == expected


def test_empty_agency_scope_sees_nothing() -> None:
    principal = who(Role.records_admin, agencies=set())
    assert {visibility(principal, s, "SC") for s in ("normal", "restricted", "sealed")} == \
        {"hidden"}


def test_sealed_roles_setting_is_honoured() -> None:
    both = frozenset({Role.records_admin, Role.hub_analyst})
    assert visibility(who(Role.hub_analyst, sealed=both), "sealed", "SC") == "full"
    assert visibility(who(Role.records_admin, sealed=frozenset({Role.hub_analyst})),
                      "sealed", "SC") == "hidden"
    # A sealed role sees restricted records in full as well.
    assert visibility(who(Role.duty_worker, sealed=frozenset({Role.duty_worker})),
                      "restricted", "SC") == "full"


def test_unknown_sensitivity_is_hidden_from_everyone() -> None:
    for role in Role:
        assert visibility(who(role), "secret", "SC") == "hidden"
        assert visibility(who(role), "", "SC") == "hidden"


def test_several_roles_combine_to_the_widest_view() -> None:
    assert visibility(who(Role.auditor, Role.duty_worker), "normal", "SC") == "full"
    assert visibility(who(Role.duty_worker, Role.hub_analyst), "restricted", "SC") == "full"


def test_opensearch_filter_for_a_non_sealed_role_with_all_agencies() -> None:
    assert opensearch_filter(who(Role.duty_worker)) == [
        {"terms": {"sensitivity": ["normal", "restricted"]}}]


def test_opensearch_filter_for_a_sealed_role_with_some_agencies() -> None:
    assert opensearch_filter(who(Role.records_admin, agencies={"SC", "POL", "HEALTH"})) == [
        {"terms": {"sensitivity": ["normal", "restricted", "sealed"]}},
        {"terms": {"agency": ["HEALTH", "POL", "SC"]}},
    ]


def test_opensearch_filter_for_a_scoped_service() -> None:
    assert opensearch_filter(who(Role.service, agencies={"POL"})) == [
        {"terms": {"sensitivity": ["normal", "restricted"]}},
        {"terms": {"agency": ["POL"]}},
    ]


@pytest.mark.parametrize("principal", [who(Role.auditor), who(), who(Role.hub_analyst,
                                                                       agencies=set())])
def test_opensearch_filter_matches_nothing_when_nothing_is_visible(principal: Principal
                                                                    ) -> None:
    assert opensearch_filter(principal) == [{"match_none": {}}]


def test_opensearch_filter_agrees_with_visibility() -> None:
    # A document passes the filter exactly when visibility is not "hidden".
    def passes(clauses: list[dict], doc: dict) -> bool:
        for clause in clauses:
            if "match_none" in clause:
                return False
            (field, values), = clause["terms"].items()
            if doc.get(field) not in values:
                return False
        return True

    principals = [who(r, agencies=a) for r in Role for a in (None, {"SC"}, set())]
    for principal in principals:
        clauses = opensearch_filter(principal)
        for sensitivity in ("normal", "restricted", "sealed", "other"):
            for agency in ("SC", "POL"):
                doc = {"sensitivity": sensitivity, "agency": agency}
                assert passes(clauses, doc) == (
                    visibility(principal, sensitivity, agency) != "hidden"), (principal, doc)


RECORD = {
    "id": 17, "given_names": "Amelia", "family_name": "Hart", "date_of_birth": "2015-04-03",
    "dob_precision": "day", "agency": "POL", "sensitivity": "restricted",
    "identifiers": [{"type": "nhs_number", "value": "9434765919"}],
    "addresses": [{"postcode": "LS1 4AP"}], "names": [{"type": "alias", "given_names": "Mia"}],
    "highlight": {"family_name": ["<em>Hart</em>"]}, "score": 0.93, "person_id": "P-9",
    "explanation": {"dob": "exact"},
}


def test_minimal_view_keeps_only_name_dob_agency_and_the_padlock() -> None:
    assert minimal_view(RECORD) == {
        "id": 17, "given_names": "Amelia", "family_name": "Hart",
        "date_of_birth": "2015-04-03", "dob_precision": "day", "agency": "POL",
        "restricted": True,
    }


def test_minimal_view_takes_the_agency_from_provenance() -> None:
    wire = {"given_names": "A", "source": {"agency": "SC", "source_id": "x"},
            "identifiers": [1]}
    assert minimal_view(wire) == {"given_names": "A", "agency": "SC", "restricted": True}


def test_apply_view() -> None:
    assert apply_view(who(Role.hub_analyst), RECORD) == RECORD
    assert apply_view(who(Role.duty_worker), RECORD) == minimal_view(RECORD)
    assert apply_view(who(Role.duty_worker, agencies={"SC"}), RECORD) is None
    assert apply_view(who(Role.records_admin), {**RECORD, "sensitivity": "sealed"}) is not None
    assert apply_view(who(Role.hub_analyst), {**RECORD, "sensitivity": "sealed"}) is None
    # No sensitivity or no agency on the record: hidden, never guessed.
    assert apply_view(who(Role.records_admin), {"agency": "POL"}) is None
    assert apply_view(who(Role.records_admin), {"sensitivity": "normal"}) is None


def test_purpose_validation() -> None:
    purposes = list(DEFAULT_PURPOSES)
    assert validate_purpose("section 47 enquiry", purposes) == "section 47 enquiry"
    assert validate_purpose("  mash   ENQUIRY ", purposes) == "MASH enquiry"
    for bad in (None, "", "curiosity", "case"):
        with pytest.raises(HTTPException) as info:
            validate_purpose(bad, purposes)
        assert info.value.status_code == 422
        assert info.value.detail["purposes"] == purposes  # type: ignore[index]


def test_reason_validation() -> None:
    assert validate_reason("  strategy   meeting today ") == "strategy meeting today"
    for bad in (None, "", "because", "x" * 1001):
        with pytest.raises(HTTPException) as info:
            validate_reason(bad)
        assert info.value.status_code == 422


def test_defaults_match_the_issue() -> None:
    from schemas.settings import load_settings

    s = load_settings({})
    assert s.sealed_roles == ["records_admin"]
    assert s.purposes == ["new referral", "strategy discussion", "MASH enquiry",
                          "section 47 enquiry", "case work", "data quality"]
    assert s.cors_origins == [] and s.rate_limit_per_minute == 120
    assert s.dev_issuer_enabled
    assert not load_settings({"CASESEARCH_MODE": "production"}).dev_issuer_enabled
    assert not load_settings({"CASESEARCH_OIDC_ISSUER": "https://idp"}).dev_issuer_enabled
    s = load_settings({"CASESEARCH_PURPOSES": "a, b c", "CASESEARCH_SEALED_ROLES":
                       '["records_admin", "hub_analyst"]',
                       "CASESEARCH_CORS_ORIGINS": "https://a.example,https://b.example"})
    assert s.purposes == ["a", "b c"]
    assert s.sealed_roles == ["records_admin", "hub_analyst"]
    assert s.cors_origins == ["https://a.example", "https://b.example"]


def test_unknown_sealed_role_names_the_variable() -> None:
    from schemas.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as info:
        load_settings({"CASESEARCH_SEALED_ROLES": "boss"})
    assert str(info.value).startswith("CASESEARCH_SEALED_ROLES:")
