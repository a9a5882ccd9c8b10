"""API key hashing, the token bucket, request limits and the route-protection check."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient

from search_api.access.apikeys import generate_api_key, hash_api_key, looks_like_api_key
from search_api.access.dependencies import current_principal
from search_api.access.middleware import RequestLimitMiddleware, body_limit_for
from search_api.access.policy import AUDIT_ROLES, require_roles
from search_api.access.principal import Principal
from search_api.access.ratelimit import TokenBucketLimiter, retry_after_header
from search_api.access.routes import protect, public, unprotected_routes

Auditor = Annotated[Principal, Depends(require_roles(*AUDIT_ROLES))]


def test_api_key_hash_is_sha256_hex_of_the_key() -> None:
    key = generate_api_key()
    assert looks_like_api_key(key) and key.startswith("csk_")
    assert hash_api_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert len(hash_api_key(key)) == 64 and key not in hash_api_key(key)
    assert hash_api_key(key) == hash_api_key(key)
    assert len({generate_api_key() for _ in range(200)}) == 200
    assert not looks_like_api_key("csk_short") and not looks_like_api_key("Bearer x")


def test_token_bucket_refills_and_says_how_long_to_wait() -> None:
    now = [1000.0]
    bucket = TokenBucketLimiter(60, clock=lambda: now[0])  # one token a second
    assert [bucket.hit("a") for _ in range(60)] == [None] * 60
    wait = bucket.hit("a")
    assert wait is not None and 0.9 < wait <= 1.0
    assert bucket.hit("b") is None  # buckets are per key
    now[0] += 2.0
    assert bucket.hit("a") is None and bucket.hit("a") is None
    assert bucket.hit("a") is not None
    assert retry_after_header(0.2) == "1" and retry_after_header(2.1) == "3"


def test_body_limits_by_path() -> None:
    assert body_limit_for("/v1/records") == 10 * 1024 * 1024
    assert body_limit_for("/v1/records/batch") == 10 * 1024 * 1024
    assert body_limit_for("/v1/recordsX") == 64 * 1024
    assert body_limit_for("/v1/search") == 64 * 1024


def _echo_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestLimitMiddleware)

    @app.post("/v1/echo")
    async def echo(payload: dict) -> dict:  # type: ignore[type-arg]
        return {"keys": len(payload)}

    @app.post("/v1/records")
    async def records(payload: dict) -> dict:  # type: ignore[type-arg]
        return {"keys": len(payload)}

    return app


def test_request_limits() -> None:
    client = TestClient(_echo_app())
    small = {"a": "x" * 1000}
    big = {"a": "x" * 70_000}
    assert client.post("/v1/echo", json=small).status_code == 200
    assert client.post("/v1/echo", json=big).status_code == 413
    assert client.post("/v1/records", json=big).status_code == 200

    def chunks():  # no Content-Length: the streamed size is counted
        for _ in range(80):
            yield b" " * 1024

    response = client.post("/v1/echo", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert client.get("/v1/echo?q=" + "x" * 9000).status_code == 414


def test_unprotected_routes_are_reported() -> None:
    app = FastAPI()
    forgot = APIRouter()
    guarded = APIRouter()

    @forgot.get("/v1/forgotten")
    def forgotten() -> dict:  # type: ignore[type-arg]
        return {}

    @forgot.get("/v1/declared-open", dependencies=[Depends(public)])
    def declared_open() -> dict:  # type: ignore[type-arg]
        return {}

    @guarded.get("/v1/guarded/{item}")
    def guarded_route(item: int) -> dict:  # type: ignore[type-arg]
        return {}

    @app.get("/v1/direct")
    def direct(principal=Depends(current_principal)) -> dict:  # type: ignore[no-untyped-def,type-arg]  # noqa: B008,E501
        return {}

    @app.get("/healthz")
    def health() -> dict:  # type: ignore[type-arg]
        return {}

    app.include_router(forgot, prefix="")
    protect(app, guarded)
    app.add_route("/plain", lambda request: None)
    assert unprotected_routes(app) == ["GET /v1/forgotten", "GET,HEAD /plain"]


def test_routes_guarded_by_require_roles_count_as_protected() -> None:
    # Regression: require_roles' dependency must resolve current_principal under
    # `from __future__ import annotations`, whether used bare or through Annotated.
    from search_api.access.routes import protected_routes

    app = FastAPI()

    @app.get("/v1/a")
    def a(principal: Auditor) -> dict:  # type: ignore[type-arg]
        return {}

    @app.get("/v1/b", dependencies=[Depends(require_roles(*AUDIT_ROLES))])
    def b() -> dict:  # type: ignore[type-arg]
        return {}

    @app.get("/v1/c")
    def c(principal: LocalAlias) -> dict:  # type: ignore[type-arg]  # noqa: F821
        return {}

    LocalAlias = Auditor  # noqa: N806,F841
    # An annotation FastAPI cannot resolve (a function-local alias under postponed
    # annotations) silently becomes a query parameter: the check is what catches that.
    assert unprotected_routes(app) == ["GET /v1/c"]
    assert [r.path for r in protected_routes(app)] == ["/v1/a", "/v1/b"]


def test_the_app_refuses_to_start_with_an_unprotected_route(tmp_path: Path) -> None:
    from schemas.settings import load_settings
    from search_api.app import create_app

    app = create_app(load_settings({"CASESEARCH_DATA_DIR": str(tmp_path),
                                    "CASESEARCH_DATABASE_URL":
                                    f"sqlite:///{tmp_path / 'db.sqlite3'}"}))

    @app.get("/v1/oops")
    def oops() -> dict:  # type: ignore[type-arg]
        return {}

    with pytest.raises(RuntimeError, match="GET /v1/oops"), TestClient(app):
        pass
