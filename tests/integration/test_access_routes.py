"""Every route is protected unless deliberately open; the dev issuer signs people in (embedded
mode only); production mode without an OIDC issuer refuses to start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from schemas.settings import SettingsError
from search_api.access.routes import open_routes, protected_routes, unprotected_routes
from search_api.app import create_app
from tests.integration.access_support import make_app, make_settings, sign_in

EXPECTED_OPEN = {
    "GET /healthz", "GET /readyz", "POST /dev-issuer/token",
    "GET /dev-issuer/.well-known/jwks.json", "GET /.well-known/openid-configuration",
    "GET /dev-issuer/.well-known/openid-configuration",
    # Web pages: the entry redirect and the sign-in form hold no case data.
    "GET /", "GET /sign-in", "POST /sign-in",
}


def test_every_route_is_protected_or_deliberately_open(database_url: str,
                                                       tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path)
    assert unprotected_routes(app) == []
    assert set(open_routes(app)) == EXPECTED_OPEN


def test_every_protected_route_answers_401_without_credentials(database_url: str,
                                                               tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path)
    routes = protected_routes(app)
    assert {"/v1/audit", "/v1/audit.csv", "/v1/test-search"} <= {r.path for r in routes}
    with TestClient(app) as client:
        for route in routes:
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                for headers in ({}, {"Authorization": "Bearer not-a-token"},
                                {"Authorization": "Basic dXNlcjpwYXNz"},
                                {"X-API-Key": "csk_" + "x" * 43}):
                    response = client.request(method, path, headers=headers)
                    assert response.status_code == 401, (method, path, headers, response.text)
                    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_open_routes_answer_without_credentials(database_url: str, tmp_path: Path) -> None:
    with TestClient(make_app(database_url, tmp_path)) as client:
        assert client.get("/healthz").status_code == 200
        jwks = client.get("/dev-issuer/.well-known/jwks.json").json()
        assert [k["kty"] for k in jwks["keys"]] == ["RSA"]
        config = client.get("/.well-known/openid-configuration").json()
        assert config["jwks_uri"].endswith("/dev-issuer/.well-known/jwks.json")
        assert config["issuer"] == "http://127.0.0.1:8000/dev-issuer"


def test_dev_issuer_sign_in_by_form_and_json(database_url: str, tmp_path: Path) -> None:
    with TestClient(make_app(database_url, tmp_path)) as client:
        auditor = sign_in(client, "ann.auditor", "auditor")
        assert client.get("/v1/audit", headers=auditor).status_code == 200
        response = client.post("/dev-issuer/token", json={
            "username": "dw1", "role": ["duty_worker"], "agencies": ["sc", "POL"],
            "name": "Dee Worker"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] > 0
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        ok = client.get("/v1/test-search", params={"q": "x", "purpose": "case work"},
                        headers=headers)
        assert ok.status_code == 200
        entries = client.get("/v1/audit", params={"event": "sign_in"},
                             headers=auditor).json()["entries"]
        signed_in = {e["actor"]: e for e in entries}
        assert signed_in["dw1"]["actor_name"] == "Dee Worker"
        assert signed_in["dw1"]["roles"] == ["duty_worker"]


@pytest.mark.parametrize("body", [
    {"username": "a", "role": "superuser"},
    {"username": "a"},
    {"username": "", "role": "auditor"},
    {"username": "bad name!", "role": "auditor"},
    {"username": "a", "role": "auditor", "agencies": "not an agency"},
])
def test_dev_issuer_rejects_bad_requests(sqlite_url: str, tmp_path: Path,
                                         body: dict[str, str]) -> None:
    with TestClient(make_app(sqlite_url, tmp_path)) as client:
        assert client.post("/dev-issuer/token", data=body).status_code == 422
        assert client.post("/dev-issuer/token", json=body).status_code == 422


def test_production_without_an_issuer_refuses_to_start(sqlite_url: str,
                                                       tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path, mode="production")
    with pytest.raises(SettingsError) as info:
        create_app(settings)
    assert str(info.value).startswith("CASESEARCH_OIDC_ISSUER:")
    assert "production" in str(info.value)
    assert not (tmp_path / "dev-issuer").exists()


def test_production_with_an_issuer_has_no_dev_issuer(sqlite_url: str, tmp_path: Path) -> None:
    app = make_app(sqlite_url, tmp_path, mode="production",
                   oidc_issuer="https://login.example.org/realms/council")
    assert not any(r.startswith(("POST /dev-issuer", "GET /dev-issuer", "GET /.well-known"))
                   for r in open_routes(app))
    assert unprotected_routes(app) == []
    with TestClient(app) as client:
        assert client.post("/dev-issuer/token",
                           data={"username": "x", "role": "records_admin"}).status_code == 404
        response = client.get("/healthz")
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    # Embedded mode with a real issuer configured does not sign tokens either.
    embedded = make_app(sqlite_url, tmp_path / "e", oidc_issuer="https://login.example.org/x")
    with TestClient(embedded) as client:
        assert client.post("/dev-issuer/token",
                           data={"username": "x", "role": "auditor"}).status_code == 404
