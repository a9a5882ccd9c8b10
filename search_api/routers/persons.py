"""``GET /v1/persons/{person_id}``: everything known about one identity, as the caller may see
it. Every view is audited (``record_view``), with the records shown."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from schemas.db import session_scope
from search_api.access.policy import SEARCH_ROLES, require_roles, validate_purpose
from search_api.access.principal import Principal
from search_api.audit.log import AuditEvent, append, client_ip
from search_api.deps import get_state
from search_api.search.person_view import PersonView, build_person_view
from search_api.state import AppState

router = APIRouter(prefix="/v1", tags=["persons"])

Viewer = Annotated[Principal, Depends(require_roles(*SEARCH_ROLES))]
State = Annotated[AppState, Depends(get_state)]


def _query_error(field: str, message: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["query", field], "msg": message, "type": "value_error"}])


@router.get(
    "/persons/{person_id}",
    response_model=PersonView,
    summary="One child: linked agency records, names, addresses, identifiers, relationships, "
            "cases and a cross-agency case-note timeline",
    responses={404: {"description": "No such identity, or nothing in it you may see"},
               422: {"description": "A parameter is invalid; `detail[].loc` names it"}},
)
def get_person(
    request: Request, principal: Viewer, state: State,
    person_id: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$",
                                   examples=["P3F2A9C1D0E4B5A6"])],
    purpose: Annotated[str | None, Query(max_length=100, description=(
        "why you are looking (one of the configured purposes); recorded in the audit log"))]
    = None,
    reason: Annotated[str | None, Query(max_length=1000, description=(
        "a stated reason opens restricted records you would otherwise see padlocked "
        "(break-glass); recorded in the audit log"))] = None,
) -> PersonView:
    """Follows merges: asking for a merged identity returns the surviving one (its
    ``requested_id`` says what was asked for)."""
    if purpose is not None:
        try:
            purpose = validate_purpose(purpose, state.settings.purposes)
        except HTTPException as exc:
            raise _query_error("purpose", "must be one of the configured purposes") from exc
    break_glass = False
    if reason is not None:
        from search_api.access.policy import validate_reason

        try:
            reason = validate_reason(reason)
        except HTTPException as exc:
            raise _query_error("reason", str(exc.detail)) from exc
        break_glass = True
    with session_scope(state.engine) as session:
        view = build_person_view(session, principal, person_id, break_glass=break_glass)
        append(session, event=AuditEvent.record_view, principal=principal, purpose=purpose,
               target=person_id, reason=reason, client_ip=client_ip(request),
               result_ids=[r.record_id for r in view.records] if view else [],
               detail={"person_id": view.person_id if view else None,
                       "break_glass": break_glass})
    if view is None:
        raise HTTPException(404, "no such person, or nothing you may see")
    return view
