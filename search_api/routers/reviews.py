"""Human review of linkage: ``GET /v1/reviews``, ``POST /v1/reviews/{id}``,
``POST /v1/persons/{id}/unlink``.

Every list, decision and unlink is audited. A pair is shown only when the caller may see both
records; a restricted record is shown padlocked (minimal view) and then the pair's explanation
is withheld, since it quotes names, dates, addresses and identifier evidence.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indexer.documents import load_person_docs
from linkage.decisions import decide_review, unlink_records
from linkage.store import LinkConfig, LinkConflict, current_persons
from linkage.tables import LinkReviewRow
from schemas.db import session_scope
from search_api.access.policy import (
    LINK_ROLES,
    REVIEW_ROLES,
    apply_view,
    require_roles,
    validate_reason,
)
from search_api.access.principal import Principal
from search_api.audit.log import AuditEvent, append, client_ip
from search_api.deps import get_state
from search_api.state import AppState

router = APIRouter(prefix="/v1", tags=["reviews"])

Reviewer = Annotated[Principal, Depends(require_roles(*REVIEW_ROLES))]
Linker = Annotated[Principal, Depends(require_roles(*LINK_ROLES))]
State = Annotated[AppState, Depends(get_state)]

# What a reviewer sees of each record (the rest of the document is index plumbing).
_RECORD_KEYS = ("record_id", "person_id", "agency", "agency_kind", "source_system", "source_id",
                "sensitivity", "given_names", "family_name", "names", "dob", "dob_precision",
                "dob_estimated", "gender", "postcodes", "address_text", "uprns", "identifiers",
                "date_of_death")


class ReviewRecord(BaseModel):
    record_id: str
    restricted: bool = False
    detail: dict[str, Any]


class ReviewPair(BaseModel):
    id: int
    status: str
    probability: float
    match_weight: float
    grade: str
    flags: list[str]
    queued_reason: str
    explanation: list[dict[str, Any]] | None = Field(
        None, description="per-field evidence, strongest first; withheld when a record is "
                          "restricted to you")
    records: list[ReviewRecord]
    person_ids: list[str]
    created_at: str
    decided_by: str | None = None
    decided_at: str | None = None
    reason: str | None = None


class ReviewList(BaseModel):
    reviews: list[ReviewPair]
    total: int = Field(description="pairs in this status (including any you may not see)")


class DecisionIn(BaseModel):
    decision: Literal["confirm", "reject", "unsure"]
    reason: str = Field(min_length=1, max_length=1000,
                        description="why; recorded with the decision and in the audit log")


class DecisionOut(BaseModel):
    id: int
    status: str
    person_ids: list[str]
    merged: bool
    split: bool


class UnlinkIn(BaseModel):
    # Record ids are 64-bit database keys: anything outside is a 422, not a driver error.
    record_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1,
                                                                       max_length=200)
    reason: str = Field(min_length=1, max_length=1000)


class UnlinkOut(BaseModel):
    person_id: str
    new_person_id: str
    record_ids: list[int]


def _reason(text: str) -> str:
    try:
        return validate_reason(text)
    except HTTPException as exc:
        raise HTTPException(422, [{"loc": ["body", "reason"], "msg": str(exc.detail),
                                   "type": "value_error"}]) from exc


def _views(session: Session, principal: Principal, record_ids: list[int]
           ) -> dict[int, dict[str, Any] | None]:
    out: dict[int, dict[str, Any] | None] = {}
    for doc in load_person_docs(session, record_ids):
        src = {k: doc.source.get(k) for k in _RECORD_KEYS}
        out[int(doc.id)] = apply_view(principal, src)
    return out


def _pair_out(review: LinkReviewRow, views: dict[int, dict[str, Any] | None],
              persons: dict[int, str]) -> ReviewPair | None:
    a, b = views.get(int(review.record_a)), views.get(int(review.record_b))
    if a is None or b is None:
        return None  # a record the caller may not see: the pair does not exist for them
    restricted = bool(a.get("restricted") or b.get("restricted"))
    return ReviewPair(
        id=review.id, status=review.status, probability=review.probability,
        match_weight=review.match_weight, grade=review.grade, flags=list(review.flags or []),
        queued_reason=review.queued_reason,
        explanation=None if restricted else list(review.explanation or []),
        records=[ReviewRecord(record_id=str(v.get("record_id")),
                              restricted=bool(v.get("restricted")), detail=v) for v in (a, b)],
        person_ids=[persons.get(int(review.record_a), ""), persons.get(int(review.record_b), "")],
        created_at=review.created_at.isoformat(),
        decided_by=review.decided_by,
        decided_at=review.decided_at.isoformat() if review.decided_at else None,
        reason=review.reason,
    )


@router.get("/reviews", response_model=ReviewList,
            summary="Pairs waiting for a human decision, side by side, with the evidence")
def list_reviews(
    request: Request, principal: Reviewer, state: State,
    status: Annotated[Literal["pending", "confirmed", "rejected", "unsure"],
                      Query(description="which pairs")] = "pending",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> ReviewList:
    """Most probable first. Pairs with a record you may not see are left out."""
    with session_scope(state.engine) as session:
        total = int(session.scalar(select(func.count()).select_from(LinkReviewRow)
                                   .where(LinkReviewRow.status == status)) or 0)
        rows = list(session.scalars(select(LinkReviewRow).where(LinkReviewRow.status == status)
                                    .order_by(LinkReviewRow.probability.desc(),
                                              LinkReviewRow.id)
                                    .offset(offset).limit(limit)))
        ids = sorted({int(x) for r in rows for x in (r.record_a, r.record_b)})
        views = _views(session, principal, ids)
        persons = current_persons(session, ids)
        pairs = [p for p in (_pair_out(r, views, persons) for r in rows) if p is not None]
        shown = sorted({int(rec.record_id) for p in pairs for rec in p.records})
        append(session, event=AuditEvent.record_view, principal=principal,
               client_ip=client_ip(request), target="reviews", result_ids=shown,
               detail={"status": status, "pairs": [p.id for p in pairs]})
    return ReviewList(reviews=pairs, total=total)


@router.post("/reviews/{review_id}", response_model=DecisionOut,
             summary="Decide a pair: confirm (same child), reject (different) or unsure",
             responses={404: {"description": "No such pair, or one you may not see"},
                        409: {"description": "Contradicts an earlier human decision"}})
def decide(request: Request, principal: Reviewer, state: State,
           review_id: Annotated[int, Path(ge=1)], body: DecisionIn) -> DecisionOut:
    """Confirm and reject become constraints that every later re-link, retrain and threshold
    change obeys. Audited as ``link_decision``."""
    reason = _reason(body.reason)
    config = LinkConfig.from_settings(state.settings)
    try:
        with session_scope(state.engine) as session:
            review = session.get(LinkReviewRow, review_id)
            if review is None:
                raise HTTPException(404, "no such review pair")
            views = _views(session, principal, [int(review.record_a), int(review.record_b)])
            if any(v is None or v.get("restricted") for v in views.values()) or len(views) < 2:
                raise HTTPException(404, "no such review pair")
            result = decide_review(session, review, body.decision, reason=reason,
                                   decided_by=principal.subject, config=config)
            append(session, event=AuditEvent.link_decision, principal=principal,
                   client_ip=client_ip(request), target=f"review:{review_id}", reason=reason,
                   result_ids=[review.record_a, review.record_b],
                   detail={"decision": body.decision, "status": result.status,
                           "person_ids": list(result.person_ids), "merged": result.merged,
                           "split": result.split, "probability": review.probability})
    except LinkConflict as exc:
        with session_scope(state.engine) as session:
            append(session, event=AuditEvent.link_decision, principal=principal,
                   client_ip=client_ip(request), target=f"review:{review_id}", reason=reason,
                   detail={"decision": body.decision, "refused": str(exc)})
        raise HTTPException(409, str(exc)) from exc
    return DecisionOut(id=result.review_id, status=result.status,
                       person_ids=list(result.person_ids), merged=result.merged,
                       split=result.split)


@router.post("/persons/{person_id}/unlink", response_model=UnlinkOut,
             summary="Split records out of an identity (they become a new identity)",
             responses={404: {"description": "No such identity or record, or one you may "
                                             "not see"},
                        409: {"description": "The records are not all in this identity"}})
def unlink(request: Request, principal: Linker, state: State,
           person_id: Annotated[str, Path(min_length=1, max_length=40,
                                          pattern=r"^[A-Za-z0-9_-]+$")],
           body: UnlinkIn) -> UnlinkOut:
    """The records split out are recorded as different from every record that stays
    (cannot-link), so no re-link joins them again. Audited as ``unlink``."""
    reason = _reason(body.reason)
    ids = sorted(set(body.record_ids))
    try:
        with session_scope(state.engine) as session:
            views = _views(session, principal, ids)
            if len(views) != len(ids) or any(v is None or v.get("restricted")
                                             for v in views.values()):
                raise HTTPException(404, "no such record")
            new_id = unlink_records(session, person_id, ids, reason=reason,
                                    decided_by=principal.subject)
            append(session, event=AuditEvent.unlink, principal=principal,
                   client_ip=client_ip(request), target=person_id, reason=reason,
                   result_ids=ids, detail={"new_person_id": new_id})
    except LinkConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    return UnlinkOut(person_id=person_id, new_person_id=new_id, record_ids=ids)
