"""Liveness and readiness: the only endpoints open without authentication."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from search_api.deps import get_state
from search_api.readiness import all_checks
from search_api.state import AppState

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database, OpenSearch and broker all answer",
            responses={503: {"description": "A dependency is down; `down` names it"}})
def readyz(state: AppState = Depends(get_state)) -> JSONResponse:
    checks = all_checks(state)
    down = [c.name for c in checks if not c.ok]
    body = {"status": "ready" if not down else "unavailable", "down": down,
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks}}
    return JSONResponse(body, status_code=503 if down else 200)
