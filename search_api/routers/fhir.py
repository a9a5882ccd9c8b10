"""FHIR R4 ``POST /fhir/Patient/$match``: a Parameters resource holding a Patient in, a
searchset Bundle out, each entry with ``search.score`` (the match probability) and the standard
``match-grade`` extension (certain | probable | possible | certainly-not).

Same retrieval, scoring, access filters and audit (``match``) as ``POST /v1/match``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from linkage.matching import MatchCandidate
from schemas.db import session_scope
from search_api.access.policy import SEARCH_ROLES, require_roles
from search_api.access.principal import Principal
from search_api.audit.log import AuditEvent, append, client_ip
from search_api.deps import get_state
from search_api.routers.match import parse_dob, run_match, visible
from search_api.state import AppState

router = APIRouter(prefix="/fhir", tags=["fhir"])

Matcher = Annotated[Principal, Depends(require_roles(*SEARCH_ROLES))]
State = Annotated[AppState, Depends(get_state)]

FHIR_JSON = "application/fhir+json"
MATCH_GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
_SYSTEMS = {NHS_NUMBER_SYSTEM: "nhs_number"}
_GRADES = {"certain": "certain", "probable": "probable", "possible": "possible",
           "certainly_not": "certainly-not"}
_GENDERS = {"male": "male", "female": "female", "other": "other", "unknown": "not_recorded"}
MAX_COUNT = 50

EXAMPLE = {
    "resourceType": "Parameters",
    "parameter": [
        {"name": "resource", "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": "9434765919"}],
            "name": [{"use": "official", "family": "Smith", "given": ["Jon"]}],
            "gender": "male", "birthDate": "2015-04-03",
            "address": [{"postalCode": "LS9 7AB"}]}},
        {"name": "count", "valueInteger": 5},
        {"name": "onlyCertainMatches", "valueBoolean": False},
    ],
}


def outcome(status: int, message: str, code: str = "invalid") -> JSONResponse:
    return JSONResponse(status_code=status, media_type=FHIR_JSON, content={
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}]})


class _Invalid(ValueError):
    pass


def _parameters(body: Any) -> tuple[dict[str, Any], int, bool]:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise _Invalid("the body must be a FHIR Parameters resource")
    patient: dict[str, Any] | None = None
    count, only_certain = 10, False
    for p in body.get("parameter") or []:
        if not isinstance(p, dict):
            continue
        name = p.get("name")
        if name == "resource":
            patient = p.get("resource")
        elif name == "count":
            value = p.get("valueInteger")
            if not isinstance(value, int) or value < 1:
                raise _Invalid("count must be a positive valueInteger")
            count = min(value, MAX_COUNT)
        elif name == "onlyCertainMatches":
            only_certain = bool(p.get("valueBoolean"))
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise _Invalid("a 'resource' parameter holding a Patient is required")
    return patient, count, only_certain


def patient_record(patient: dict[str, Any]) -> dict[str, Any]:
    """The Patient as the wire record shape ``features_from_record`` reads."""
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    current = next((n for n in names if n.get("use") in (None, "official", "usual")),
                   names[0] if names else None)
    others = [n for n in names if n is not current]

    def given(n: dict[str, Any]) -> str | None:
        return " ".join(str(g) for g in n.get("given") or []) or None

    try:
        dob, precision = parse_dob(patient.get("birthDate"))
    except HTTPException as exc:
        raise _Invalid(f"birthDate: {exc.detail[0]['msg']}") from exc  # type: ignore[index]
    identifiers = []
    for ident in patient.get("identifier") or []:
        if not isinstance(ident, dict) or not ident.get("value"):
            continue
        t = _SYSTEMS.get(str(ident.get("system")))
        if t:
            identifiers.append({"type": t, "value": str(ident["value"])})
    addresses = []
    for a in patient.get("address") or []:
        if isinstance(a, dict):
            addresses.append({"lines": [str(x) for x in a.get("line") or []],
                              "postcode": a.get("postalCode")})
    return {
        "given_names": given(current) if current else None,
        "family_name": current.get("family") if current else None,
        "names": [{"type": "alias", "given_names": given(n), "family_name": n.get("family")}
                  for n in others],
        "date_of_birth": dob,
        "dob_precision": precision,
        "gender": _GENDERS.get(str(patient.get("gender"))),
        "identifiers": identifiers,
        "addresses": addresses,
    }


def _birth_date(src: dict[str, Any]) -> str | None:
    dob, precision = src.get("dob"), src.get("dob_precision")
    if not dob or precision == "unknown":
        return None
    return str(dob)[: {"year": 4, "month": 7}.get(str(precision), 10)]


def patient_resource(src: dict[str, Any], restricted: bool) -> dict[str, Any]:
    """A Patient built from what the caller may see of a record."""
    resource: dict[str, Any] = {"resourceType": "Patient", "id": str(src.get("record_id"))}
    name: dict[str, Any] = {"use": "official"}
    if src.get("family_name"):
        name["family"] = src["family_name"]
    if src.get("given_names"):
        name["given"] = str(src["given_names"]).split()
    if len(name) > 1:
        resource["name"] = [name]
    if _birth_date(src):
        resource["birthDate"] = _birth_date(src)
    if restricted:
        resource["meta"] = {"security": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
            "code": "R", "display": "restricted"}]}
        return resource
    if src.get("gender") in ("male", "female", "other"):
        resource["gender"] = src["gender"]
    postcodes = src.get("postcodes") or []
    if postcodes:
        resource["address"] = [{"postalCode": p} for p in postcodes]
    if src.get("person_id"):
        resource["link"] = [{"other": {"identifier": {
            "system": "urn:casesearch:person", "value": src["person_id"]}}, "type": "seealso"}]
    return resource


def build_bundle(candidates: Sequence[MatchCandidate], principal: Principal, *, count: int,
                 only_certain: bool, base: str) -> dict[str, Any]:
    """The searchset Bundle: what the caller may see, best first, graded."""
    entries: list[dict[str, Any]] = []
    for cand in candidates:
        grade = cand.score.grade
        if only_certain and grade != "certain":
            continue
        seen = visible(principal, cand)
        if seen is None:
            continue
        view, restricted = seen
        resource = patient_resource(view, restricted)
        entries.append({
            "fullUrl": f"{base}/Patient/{resource['id']}",
            "resource": resource,
            "search": {
                "mode": "match",
                "score": round(cand.score.match_probability, 6),
                "extension": [{"url": MATCH_GRADE_URL, "valueCode": _GRADES[grade]}],
            },
        })
        if len(entries) >= count:
            break
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
            "entry": entries}


@router.post("/Patient/$match", summary="FHIR Patient $match (graded candidates)",
             response_class=JSONResponse,
             responses={200: {"content": {FHIR_JSON: {}}},
                        400: {"description": "Not a Parameters with a Patient (OperationOutcome)"}})
def patient_match(request: Request, principal: Matcher, state: State,
                  body: Annotated[Any, Body(openapi_examples={"patient": {
                      "summary": "a Patient to match", "value": EXAMPLE}})]) -> JSONResponse:
    try:
        patient, count, only_certain = _parameters(body)
        record = patient_record(patient)
    except _Invalid as exc:
        return outcome(400, str(exc))
    try:
        candidates = run_match(state, principal, record, size=max(count * 3, 20))
    except HTTPException as exc:
        if exc.status_code == 422:
            return outcome(400, str(exc.detail))
        return outcome(exc.status_code, "the search engine is not answering", "transient")
    base = str(request.base_url).rstrip("/") + "/fhir"
    bundle = build_bundle(candidates, principal, count=count, only_certain=only_certain,
                          base=base)
    entries = bundle["entry"]
    with session_scope(state.engine) as session:
        append(session, event=AuditEvent.match, principal=principal,
               client_ip=client_ip(request), target="/fhir/Patient/$match",
               criteria={"given_names": record.get("given_names"),
                         "family_name": record.get("family_name"),
                         "date_of_birth": record.get("date_of_birth"),
                         "identifiers": [i["value"] for i in record["identifiers"]]},
               result_ids=[e["resource"]["id"] for e in entries])
    return JSONResponse(content=bundle, media_type=FHIR_JSON)
