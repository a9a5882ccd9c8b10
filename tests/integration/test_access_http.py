"""Transport hygiene on the real app, API keys end to end (CLI and header), and the
`casesearch apikey` / `casesearch audit verify` commands."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from schemas.db import engine_for, session_scope, upgrade
from search_api.access.apikeys import create_api_key, hash_api_key
from search_api.access.tables import ApiKeyRow
from search_api.audit.log import append_committed
from search_api.cli import access_cmd
from tests.integration._cli_support import cli_app
from tests.integration.access_support import make_app, sign_in

SEARCH = {"q": "nobody", "purpose": "case work"}


def test_security_headers_on_every_response(sqlite_url: str, tmp_path: Path) -> None:
    with TestClient(make_app(sqlite_url, tmp_path)) as client:
        auditor = sign_in(client, "aud", "auditor")
        responses = [client.get("/healthz"), client.get("/v1/audit"),
                     client.get("/v1/audit", headers=auditor), client.get("/nope"),
                     client.post("/dev-issuer/token", json={})]
        for response in responses:
            headers = response.headers
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["X-Frame-Options"] == "DENY"
            assert headers["Referrer-Policy"] == "no-referrer"
            assert headers["Cache-Control"] == "no-store"
            csp = headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "http" not in csp  # self only
            assert "Strict-Transport-Security" not in headers  # embedded: plain http
            assert "access-control-allow-origin" not in headers


def test_cors_is_closed_by_default_and_opens_for_configured_origins(sqlite_url: str,
                                                                    tmp_path: Path) -> None:
    preflight = {"Origin": "https://portal.example.org", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "Authorization"}
    with TestClient(make_app(sqlite_url, tmp_path)) as client:
        response = client.options("/v1/audit", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
        response = client.get("/healthz", headers={"Origin": "https://portal.example.org"})
        assert "access-control-allow-origin" not in response.headers
    app = make_app(sqlite_url, tmp_path / "cors", cors_origins="https://portal.example.org")
    with TestClient(app) as client:
        response = client.options("/v1/audit", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://portal.example.org"
        other = client.options("/v1/audit", headers={**preflight,
                                                     "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_body_and_url_limits(sqlite_url: str, tmp_path: Path) -> None:
    with TestClient(make_app(sqlite_url, tmp_path)) as client:
        big = {"username": "a", "role": "auditor", "name": "x" * 70_000}
        assert client.post("/dev-issuer/token", json=big).status_code == 413
        response = client.get("/v1/audit", params={"person": "x" * 9000})
        assert response.status_code == 414
        # Limits apply before authentication, and the 413 carries the security headers.
        too_big = client.post("/v1/records", content=b"[" + b" " * (11 * 1024 * 1024) + b"]",
                              headers={"Content-Type": "application/json"})
        assert too_big.status_code == 413
        assert too_big.headers["X-Frame-Options"] == "DENY"
        # Under the records limit, the same body gets as far as authentication.
        ok_size = client.post("/v1/records", content=b"[" + b" " * (1024 * 1024) + b"]",
                              headers={"Content-Type": "application/json"})
        assert ok_size.status_code == 401


def _exhaust(client: TestClient, headers: dict[str, str], limit: int) -> None:
    for _ in range(limit):
        response = client.get("/v1/test-search", params=SEARCH, headers=headers)
        assert response.status_code == 200, response.text
    response = client.get("/v1/test-search", params=SEARCH, headers=headers)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1


def test_rate_limit_per_principal_in_process(sqlite_url: str, tmp_path: Path) -> None:
    with TestClient(make_app(sqlite_url, tmp_path, rate_limit_per_minute="5")) as client:
        one = sign_in(client, "dw.one", "duty_worker")
        two = sign_in(client, "dw.two", "duty_worker")
        _exhaust(client, one, 5)
        # Another person is not affected.
        assert client.get("/v1/test-search", params=SEARCH, headers=two).status_code == 200
        # Bad credentials are limited per client address, so they cannot flood the audit log.
        codes = [client.get("/v1/audit", headers={"Authorization": "Bearer x"}).status_code
                 for _ in range(7)]
        assert codes == [401] * 5 + [429] * 2


def test_rate_limit_shared_through_redis(sqlite_url: str, tmp_path: Path,
                                         broker_url: str) -> None:
    prefix = "t" + uuid.uuid4().hex[:10]
    first = make_app(sqlite_url, tmp_path, rate_limit_per_minute="4", broker_url=broker_url,
                     index_prefix=prefix)
    second = make_app(sqlite_url, tmp_path, rate_limit_per_minute="4", broker_url=broker_url,
                      index_prefix=prefix)
    with TestClient(first) as a, TestClient(second) as b:
        headers = sign_in(a, "shared.user", "hub_analyst")
        codes = [c.get("/v1/test-search", params=SEARCH, headers=headers).status_code
                 for c in (a, b, a, b, a, b)]
    # The two processes share one limit of 4 a minute (unless the minute rolled over).
    assert codes.count(200) in (4, 5, 6) and codes[:4] == [200] * 4
    if codes.count(200) == 4:
        assert codes[4:] == [429, 429]


def test_api_key_authenticates_an_application(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path)
    engine = engine_for(database_url)
    with session_scope(engine) as session:
        row, raw = create_api_key(session, name="police-portal", role="service",
                                  agencies=["pol"])
        key_id = row.id
    with session_scope(engine) as session:
        stored = session.scalars(select(ApiKeyRow)).one()
        assert stored.key_hash == hash_api_key(raw) and raw not in (stored.key_hash,
                                                                    stored.prefix)
        assert stored.agencies == ["POL"]
    with TestClient(app) as client:
        response = client.get("/v1/test-search", params=SEARCH, headers={"X-API-Key": raw})
        assert response.status_code == 200, response.text
        assert client.get("/v1/audit", headers={"X-API-Key": raw}).status_code == 403
        with session_scope(engine) as session:
            from search_api.access.apikeys import revoke_api_key

            assert revoke_api_key(session, key_id) is not None
        response = client.get("/v1/test-search", params=SEARCH, headers={"X-API-Key": raw})
        assert response.status_code == 401
        auditor = sign_in(client, "aud", "auditor")
        searches = client.get("/v1/audit", params={"event": "search"},
                              headers=auditor).json()["entries"]
    assert searches[0]["actor"] == f"apikey:{key_id}"
    assert searches[0]["actor_kind"] == "service" and searches[0]["auth"] == f"apikey:{key_id}"


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[tuple[typer.Typer, str]]:
    with cli_app(monkeypatch, database_url, tmp_path, access_cmd.register) as app:
        yield app, database_url


def test_cli_apikey_create_list_revoke(cli_env: tuple[typer.Typer, str],
                                       tmp_path: Path) -> None:
    app, url = cli_env
    runner = CliRunner()
    created = runner.invoke(app, ["apikey", "create", "--name", "health-feed", "--role",
                                  "service", "--agency", "HEALTH", "--agency", "sc"])
    assert created.exit_code == 0, created.output
    raw = re.search(r"csk_[A-Za-z0-9_-]+", created.stdout)
    assert raw is not None
    listed = runner.invoke(app, ["apikey", "list"])
    assert listed.exit_code == 0 and "health-feed" in listed.stdout
    assert raw.group(0) not in listed.stdout and "HEALTH, SC" in listed.stdout
    bad = runner.invoke(app, ["apikey", "create", "--name", "x", "--role", "king",
                              "--agency", "SC"])
    assert bad.exit_code == 2
    neither = runner.invoke(app, ["apikey", "create", "--name", "x"])
    assert neither.exit_code == 2
    with TestClient(make_app(url, tmp_path / "app")) as client:
        headers = {"X-API-Key": raw.group(0)}
        assert client.get("/v1/test-search", params=SEARCH, headers=headers).status_code == 200
        assert runner.invoke(app, ["apikey", "revoke", "1"]).exit_code == 0
        assert client.get("/v1/test-search", params=SEARCH, headers=headers).status_code == 401
    assert runner.invoke(app, ["apikey", "revoke", "99"]).exit_code == 1
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    engine = engine_for(url)
    with engine.connect() as conn:
        events = conn.execute(text("SELECT event, actor FROM audit_log ORDER BY id")).all()
    assert tuple(
        e for e, _ in events if e.startswith("apikey")) == ("apikey_created", "apikey_revoked")
    assert all(actor.startswith("cli:") for e, actor in events if e.startswith("apikey"))


def test_cli_audit_verify_names_the_first_bad_entry(cli_env: tuple[typer.Typer, str]) -> None:
    app, url = cli_env
    upgrade(url)
    engine = engine_for(url)
    for i in range(4):
        append_committed(engine, event="search", principal=None, criteria={"n": i},
                         result_ids=[])
    runner = CliRunner()
    good = runner.invoke(app, ["audit", "verify"])
    assert good.exit_code == 0 and "4 entries" in good.output
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET result_count = 3 WHERE id = 2"))
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "entry 2" in bad.output
