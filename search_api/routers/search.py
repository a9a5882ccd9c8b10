"""``POST /v1/search`` (find a child) and ``GET /v1/index/lag`` (how far indexing is behind)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request

from schemas.db import session_scope
from search_api.access.dependencies import current_principal
from search_api.access.policy import SEARCH_ROLES, require_roles, validate_purpose
from search_api.access.principal import Principal
from search_api.audit.log import AuditEvent, append, client_ip
from search_api.deps import get_state
from search_api.search.models import SEARCH_EXAMPLES, SearchRequest, SearchResponse
from search_api.search.rescore import params_for
from search_api.search.service import (
    BadCursor,
    SearchEnv,
    SearchUnavailable,
    audit_criteria,
    run_search,
)
from search_api.state import AppState

log = logging.getLogger("casesearch.search")

router = APIRouter(prefix="/v1", tags=["search"])

Searcher = Annotated[Principal, Depends(require_roles(*SEARCH_ROLES))]
State = Annotated[AppState, Depends(get_state)]

UNAVAILABLE = {"error": "search_unavailable",
               "message": "the search engine is not answering; try again shortly"}


def field_error(field: str, message: str, **extra: Any) -> HTTPException:
    """A 422 in FastAPI's own shape, naming the body field."""
    return HTTPException(422, [{"loc": ["body", field], "msg": message, "type": "value_error",
                                **extra}])


def _purpose(state: AppState, purpose: str) -> str:
    try:
        return validate_purpose(purpose, state.settings.purposes)
    except HTTPException as exc:
        raise field_error("purpose", "must be one of the configured purposes",
                          purposes=list(state.settings.purposes)) from exc


@router.post(
    "/search",
    response_model=SearchResponse,
    summary="Find a child: names, date of birth, postcode, identifier, case-note words",
    responses={
        422: {"description": "A field is invalid; `detail[].loc` names it"},
        503: {"description": "OpenSearch is not answering",
              "content": {"application/json": {"example": {"detail": UNAVAILABLE}}}},
    },
)
def search(request: Request, principal: Searcher, state: State,
           body: Annotated[SearchRequest, Body(openapi_examples=SEARCH_EXAMPLES)]
           ) -> SearchResponse:
    """Retrieve candidates from OpenSearch, re-score them with the linkage model and group
    them by identity (one row per child, with the agency records under it). Every search,
    including one that finds nothing or fails, is written to the audit log."""
    purpose = _purpose(state, body.purpose)
    settings = state.settings
    env = SearchEnv(client=state.opensearch, prefix=settings.index_prefix, principal=principal,
                    params=params_for(settings.data_dir),
                    timeout=min(settings.opensearch_timeout, 10.0))
    criteria = audit_criteria(body)
    try:
        response = run_search(body, env)
    except BadCursor as exc:
        raise field_error("cursor", str(exc).removeprefix("cursor: ")) from exc
    except SearchUnavailable as exc:
        log.warning("search unavailable", extra={"error": str(exc)})
        with session_scope(state.engine) as session:
            append(session, event=AuditEvent.search, principal=principal, purpose=purpose,
                   criteria=criteria, result_ids=[], client_ip=client_ip(request),
                   detail={"error": "search_unavailable"})
        raise HTTPException(503, UNAVAILABLE) from exc
    with session_scope(state.engine) as session:
        append(session, event=AuditEvent.search, principal=principal, purpose=purpose,
               criteria=criteria, result_ids=[r.person_id for r in response.results],
               count=response.total, client_ip=client_ip(request),
               detail={"page": response.page, "page_size": response.page_size})
    log.info("search", extra={"results": len(response.results), "total": response.total,
                              "took_ms": response.took_ms})
    return response


@router.get("/index/lag", tags=["index"],
            summary="Indexing lag: outbox rows waiting for OpenSearch and the oldest's age")
def index_lag(state: State,
              principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
    from workers.outbox import lag

    return lag(state.engine)
