"""Shared helpers for the access-control integration tests (tests/integration/test_access_*)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.testclient import TestClient

from schemas.db import session_scope, upgrade
from schemas.settings import Settings, load_settings
from search_api.access.policy import SEARCH_ROLES, purpose_query, require_roles
from search_api.access.principal import Principal
from search_api.access.routes import protect
from search_api.app import create_app
from search_api.audit.log import AuditEvent, append, client_ip
from search_api.deps import get_state
from search_api.state import AppState


def make_settings(database_url: str, data_dir: Path, **env: str) -> Settings:
    values = {"CASESEARCH_DATABASE_URL": database_url, "CASESEARCH_DATA_DIR": str(data_dir),
              "CASESEARCH_LOG_LEVEL": "WARNING"}
    values.update({f"CASESEARCH_{k.upper()}": v for k, v in env.items()})
    return load_settings(values)


def stub_search_router() -> APIRouter:
    """A stand-in for the real search router: audits a search that found nothing, the way
    the real one must (purpose validated, criteria and an empty result list recorded)."""
    router = APIRouter()

    @router.get("/v1/test-search")
    def test_search(
        request: Request,
        q: str,
        purpose: Annotated[str, Depends(purpose_query)],
        principal: Annotated[Principal, Depends(require_roles(*SEARCH_ROLES))],
        state: Annotated[AppState, Depends(get_state)],
    ) -> dict[str, Any]:
        results: list[str] = []
        with session_scope(state.engine) as session:
            append(session, event=AuditEvent.search, principal=principal, purpose=purpose,
                   criteria={"name": q}, result_ids=results, client_ip=client_ip(request))
        return {"results": results, "total": 0}

    return router


def make_app(database_url: str, data_dir: Path, *, stub: bool = True, **env: str) -> FastAPI:
    upgrade(database_url)
    app = create_app(make_settings(database_url, data_dir, **env))
    if stub:
        protect(app, stub_search_router())
    return app


def sign_in(client: TestClient, username: str, role: str,
            agencies: str | None = None) -> dict[str, str]:
    body = {"username": username, "role": role}
    if agencies is not None:
        body["agencies"] = agencies
    response = client.post("/dev-issuer/token", data=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
