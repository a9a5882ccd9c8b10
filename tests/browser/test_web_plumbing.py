"""The web pages' plumbing without a browser or search engine: session cookies, CSRF, page
access rules, escaping and formatting. (Kept beside the browser tests they support; these need
only SQLite.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from schemas.db import engine_for, session_scope, upgrade
from schemas.settings import load_settings
from search_api.access.tables import AuditRow
from search_api.web.auth import CSRF_COOKIE, SESSION_COOKIE, csrf_token_for, safe_next
from search_api.web.pages import fmt_date, fmt_percent, highlight
from tests.browser.support import misspell


@pytest.fixture
def client(sqlite_url: str, tmp_path: Path) -> Iterator[TestClient]:
    from search_api.app import create_app

    upgrade(sqlite_url)
    settings = load_settings({"CASESEARCH_DATABASE_URL": sqlite_url,
                              "CASESEARCH_DATA_DIR": str(tmp_path),
                              "CASESEARCH_OPENSEARCH_URL": "http://127.0.0.1:9",
                              "CASESEARCH_LOG_LEVEL": "WARNING"})
    with TestClient(create_app(settings), base_url="http://testserver") as c:
        yield c


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token in the form"
    return found.group(1)


def _sign_in(client: TestClient, user: str) -> None:
    token = _token(client.get("/sign-in").text)
    response = client.post("/sign-in", data={"csrf_token": token, "user": user},
                           follow_redirects=False)
    assert response.status_code == 303, response.text


def _events(sqlite_url: str) -> list[tuple[str, str | None]]:
    with session_scope(engine_for(sqlite_url)) as session:
        return [(e, a) for e, a in session.execute(
            select(AuditRow.event, AuditRow.auth).order_by(AuditRow.id))]


def test_session_cookie_is_httponly_samesite_strict_and_sign_in_is_audited(
        client: TestClient, sqlite_url: str) -> None:
    token = _token(client.get("/sign-in").text)
    response = client.post("/sign-in", data={"csrf_token": token, "user": "dee.duty"},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookies = [h for k, h in response.headers.multi_items() if k == "set-cookie"]
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Max-Age=28800" in session
    assert "Secure" not in session  # plain http on loopback; https and production set it
    assert any(c.startswith(CSRF_COOKIE + "=") for c in cookies)  # a new key per session
    assert ("sign_in", "jwt") in _events(sqlite_url)
    assert client.get("/", follow_redirects=False).headers["location"] == "/search"


def test_every_post_form_needs_its_csrf_token(client: TestClient) -> None:
    _sign_in(client, "rory.reviewer")
    page = client.get("/reviews")
    assert page.status_code == 200
    good = _token(page.text)
    assert client.post("/sign-out", data={}).status_code == 400
    assert client.post("/sign-out", data={"csrf_token": "0" * 64}).status_code == 400
    cross_site = client.post("/sign-out", data={"csrf_token": good},
                             headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 400
    other_origin = client.post("/sign-out", data={"csrf_token": good},
                               headers={"Origin": "https://evil.example"})
    assert other_origin.status_code == 400
    done = client.post("/sign-out", data={"csrf_token": good}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/sign-in?signed_out=1"


def test_token_is_bound_to_the_session() -> None:
    assert csrf_token_for("k" * 43, "session-a") != csrf_token_for("k" * 43, "session-b")
    assert csrf_token_for("k" * 43, None) == csrf_token_for("k" * 43, "")


def test_pages_without_a_session_answer_401_with_the_sign_in_form(client: TestClient) -> None:
    for path in ("/search", "/persons/P1", "/reviews", "/audit", "/audit.csv"):
        response = client.get(path, headers={"Authorization": "Bearer not-a-token"})
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert 'action="/sign-in"' in response.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/sign-in"


def test_a_forged_session_cookie_is_refused_and_audited(client: TestClient,
                                                        sqlite_url: str) -> None:
    client.cookies.set(SESSION_COOKIE, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    response = client.get("/search")
    assert response.status_code == 401 and "Your session has ended" in response.text
    cookies = [h for k, h in response.headers.multi_items() if k == "set-cookie"]
    assert any(c.startswith(f'{SESSION_COOKIE}=""') and "Max-Age=0" in c for c in cookies)
    assert ("sign_in_failure", None) in _events(sqlite_url)


def test_roles_decide_the_pages_and_refusals_are_audited(client: TestClient,
                                                          sqlite_url: str) -> None:
    _sign_in(client, "audrey.auditor")
    assert client.get("/", follow_redirects=False).headers["location"] == "/audit"
    refused = client.get("/search")
    assert refused.status_code == 403 and "You cannot see this page" in refused.text
    audit = client.get("/audit")
    assert audit.status_code == 200 and "Audit log" in audit.text
    events = _events(sqlite_url)
    assert ("permission_refused", "jwt-cookie") in events
    assert ("audit_view", "jwt-cookie") in events
    bad = client.get("/audit?from=31/02/2026")
    assert bad.status_code == 422 and 'href="#audit-from"' in bad.text
    csv = client.get("/audit.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")


def test_security_headers_and_cached_static_files(client: TestClient) -> None:
    page = client.get("/sign-in")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    script = client.get("/static/app/app.mjs")
    assert script.status_code == 200 and "initAll" in script.text
    assert script.headers["cache-control"] == "public, max-age=3600"


def test_safe_next_only_goes_to_local_paths() -> None:
    assert safe_next("/persons/P1?purpose=case+work") == "/persons/P1?purpose=case+work"
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "", None,
                "javascript:alert(1)"):
        assert safe_next(bad) == "/"


def test_highlights_keep_only_mark_tags() -> None:
    shown = str(highlight("bruising &lt;script&gt; on <mark>left</mark> arm <b>x</b>"))
    assert shown == ("bruising &lt;script&gt; on <mark>left</mark> arm "
                     "&lt;b&gt;x&lt;/b&gt;")


def test_dates_and_probabilities_read_naturally() -> None:
    assert fmt_date("2015-04-03") == "3 April 2015"
    assert fmt_date("2015-04") == "April 2015"
    assert fmt_date("2015") == "2015"
    assert fmt_percent(0.999999) == "over 99.99%"
    assert fmt_percent(0.217) == "21.7%"
    assert misspell("Johnny") == "johny" and misspell("Torie") == "tory"
