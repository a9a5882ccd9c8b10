"""``POST /v1/match``: a person record in, scored candidates out (probability, grade including
certainly-not, and the per-field explanation). For other applications deciding whether a
child is already known. Access filters are applied inside the OpenSearch query and again on
the way out; every match is audited (``match``) with the records returned."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from linkage.matching import MatchCandidate, features_from_record, match_record
from linkage.model import load_params
from schemas.db import session_scope
from search_api.access.policy import SEARCH_ROLES, apply_view, opensearch_filter, require_roles
from search_api.access.principal import Principal
from search_api.audit.log import AuditEvent, append, client_ip
from search_api.deps import get_state
from search_api.state import AppState

log = logging.getLogger("casesearch.match")

router = APIRouter(prefix="/v1", tags=["match"])

Matcher = Annotated[Principal, Depends(require_roles(*SEARCH_ROLES))]
State = Annotated[AppState, Depends(get_state)]

Grade = Literal["certain", "probable", "possible", "certainly_not"]
_SHOWN = ("record_id", "person_id", "agency", "given_names", "family_name", "dob",
          "dob_precision", "gender", "postcodes", "sensitivity")


class MatchName(BaseModel):
    type: str = "alias"
    given_names: str | None = Field(None, max_length=400)
    family_name: str | None = Field(None, max_length=400)


class MatchIdentifier(BaseModel):
    type: Literal["nhs_number", "upn", "former_upn", "ni_number", "local_child_id",
                  "police_id", "case_number", "other"]
    value: str = Field(max_length=64)


class MatchAddress(BaseModel):
    lines: list[str] = Field(default_factory=list, max_length=8)
    postcode: str | None = Field(None, max_length=16)
    uprn: str | None = Field(None, pattern=r"^\d{1,12}$")


class MatchRequest(BaseModel):
    given_names: str | None = Field(None, max_length=400)
    family_name: str | None = Field(None, max_length=400)
    names: list[MatchName] = Field(default_factory=list, max_length=20)
    date_of_birth: str | None = Field(None, max_length=64, description="2015-04-03, 04/2015 "
                                      "or 2015")
    dob_estimated: bool = False
    gender: Literal["female", "male", "other", "not_recorded", "unborn"] | None = None
    identifiers: list[MatchIdentifier] = Field(default_factory=list, max_length=20)
    addresses: list[MatchAddress] = Field(default_factory=list, max_length=20)
    count: int = Field(10, ge=1, le=50, description="most candidates to return")
    min_probability: float = Field(0.0, ge=0, le=1, description="leave out weaker candidates")


class MatchResult(BaseModel):
    record_id: str
    person_id: str | None
    probability: float
    match_weight: float
    grade: Grade
    flags: list[str]
    restricted: bool = False
    record: dict[str, Any]
    explanation: list[dict[str, Any]] | None = None


class MatchResponse(BaseModel):
    results: list[MatchResult]


def parse_dob(text: str | None) -> tuple[str | None, str]:
    """(ISO date of the first possible day, precision) from free date text; 422 if invalid."""
    if not text:
        return None, "unknown"
    from analyzers.dates import parse_date

    try:
        d = parse_date(text)
    except ValueError as exc:
        raise HTTPException(422, [{"loc": ["body", "date_of_birth"], "msg": str(exc),
                                   "type": "value_error"}]) from exc
    if d.year is None:
        return None, "unknown"
    return dt.date(d.year, d.month or 1, d.day or 1).isoformat(), d.precision


def run_match(state: AppState, principal: Principal, record: dict[str, Any], *, size: int
              ) -> list[MatchCandidate]:
    params = load_params(state.settings.data_dir)
    query = features_from_record(record)
    if not query.has_names and not query.dob and not query.identifiers \
            and not query.invalid_identifiers and not query.postcode_outwards:
        raise HTTPException(422, "give at least a name, date of birth, postcode or identifier")
    alias = f"{state.settings.index_prefix}-persons"
    try:
        return match_record(state.opensearch, alias, query, opensearch_filter(principal),
                            params, size=size)
    except HTTPException:
        raise
    except Exception as exc:
        log.warning("match unavailable", extra={"error": type(exc).__name__})
        raise HTTPException(503, {"error": "search_unavailable",
                                  "message": "the search engine is not answering"}) from exc


def visible(principal: Principal, cand: MatchCandidate) -> tuple[dict[str, Any], bool] | None:
    """The candidate as the caller may see it (record, restricted) or None if hidden."""
    shown = {k: cand.source.get(k) for k in _SHOWN}
    view = apply_view(principal, shown)
    if view is None:
        return None
    return view, bool(view.get("restricted"))


@router.post("/match", response_model=MatchResponse,
             summary="Is this child already known? Scored candidates with explanations",
             responses={422: {"description": "A field is invalid"},
                        503: {"description": "OpenSearch is not answering"}})
def match(request: Request, principal: Matcher, state: State, body: MatchRequest
          ) -> MatchResponse:
    dob, precision = parse_dob(body.date_of_birth)
    record = body.model_dump(exclude={"count", "min_probability"})
    record["date_of_birth"], record["dob_precision"] = dob, precision
    results: list[MatchResult] = []
    for cand in run_match(state, principal, record, size=max(body.count * 3, 20)):
        if cand.score.match_probability < body.min_probability:
            continue
        seen = visible(principal, cand)
        if seen is None:
            continue
        view, restricted = seen
        s = cand.score
        results.append(MatchResult(
            record_id=str(cand.source.get("record_id")),
            person_id=cand.source.get("person_id"),
            probability=s.match_probability, match_weight=round(s.match_weight, 3),
            grade=s.grade, flags=[] if restricted else list(s.flags), restricted=restricted,
            record=view, explanation=None if restricted else s.explanation()))
        if len(results) >= body.count:
            break
    with session_scope(state.engine) as session:
        append(session, event=AuditEvent.match, principal=principal,
               client_ip=client_ip(request), target="/v1/match",
               criteria={"given_names": body.given_names, "family_name": body.family_name,
                         "date_of_birth": body.date_of_birth,
                         "identifiers": [i.value for i in body.identifiers],
                         "postcodes": [a.postcode for a in body.addresses if a.postcode]},
               result_ids=[r.record_id for r in results])
    return MatchResponse(results=results)
