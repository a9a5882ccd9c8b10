"""The audit log on SQLite and PostgreSQL: hash chain, append-only, serialised appends, the
auditor's API (filters, CSV export) and what gets audited."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from schemas.db import engine_for, session_scope, upgrade
from search_api.access.principal import Principal, PrincipalKind, Role
from search_api.access.tables import AuditRow
from search_api.audit.log import append, append_committed, entry_hash, verify
from tests.integration.access_support import make_app, sign_in


def person(subject: str, *roles: Role) -> Principal:
    return Principal(subject=subject, display_name=subject.title(), kind=PrincipalKind.user,
                     roles=frozenset(roles), agencies=None)


DW = person("dw", Role.duty_worker)


def test_append_and_verify_the_chain(database_url: str) -> None:
    upgrade(database_url)
    engine = engine_for(database_url)
    assert verify(engine).ok and verify(engine).checked == 0
    with session_scope(engine) as session:
        first = append(session, event="search", principal=DW, purpose="case work",
                       criteria={"given": "Zoë", "family": "Wiśniewska", "dob": "2015-04-03"},
                       result_ids=[], client_ip="10.0.0.1")
        assert (first.id, first.result_count, first.prev_hash) == (1, 0, "0" * 64)
        second = append(session, event="record_view", principal=DW, target="record:17",
                        reason="strategy discussion this morning")
    assert second.prev_hash == first.hash and second.id == 2
    append_committed(engine, event="sign_in_failure", principal=None, reason="token expired")
    result = verify(engine)
    assert result.ok and result.checked == 3, result
    with session_scope(engine) as session:
        rows = session.scalars(select(AuditRow).order_by(AuditRow.id)).all()
        assert rows[0].criteria == {"given": "Zoë", "family": "Wiśniewska", "dob": "2015-04-03"}
        assert rows[0].result_ids == [] and rows[0].result_count == 0
        assert rows[2].actor == "anonymous"
        assert all(entry_hash(r.prev_hash, r) == r.hash for r in rows)


def test_a_rolled_back_append_leaves_no_trace(database_url: str) -> None:
    upgrade(database_url)
    engine = engine_for(database_url)
    append_committed(engine, event="search", principal=DW, result_ids=["P1"])
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        append(session, event="search", principal=DW, result_ids=["P2"])
        raise RuntimeError("the search failed after auditing")
    append_committed(engine, event="search", principal=DW, result_ids=["P3"])
    assert verify(engine).ok and verify(engine).checked == 2


def _fill(engine, n: int = 5) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        append_committed(engine, event="search", principal=DW, purpose="case work",
                         criteria={"name": f"child {i}"}, result_ids=[f"P{i}"])


def test_audit_rows_cannot_be_updated_or_deleted(database_url: str) -> None:
    upgrade(database_url)
    engine = engine_for(database_url)
    _fill(engine, 3)
    for statement in ("UPDATE audit_log SET reason = 'edited' WHERE id = 2",
                      "DELETE FROM audit_log WHERE id = 3"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_log"))
    assert verify(engine).ok and verify(engine).checked == 3


def _bypass_trigger(engine) -> None:  # type: ignore[no-untyped-def]
    """What a tamperer with DDL rights would do first."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # The test role owns the table, so it may disable its triggers.
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))


@pytest.mark.parametrize("column,value", [
    ("reason", "'nothing to see'"), ("actor", "'someone-else'"),
    ("result_count", "7"), ("purpose", "'data quality'"), ("at", "at"),
])
def test_editing_any_entry_breaks_verify(database_url: str, column: str, value: str) -> None:
    upgrade(database_url)
    engine = engine_for(database_url)
    _fill(engine, 5)
    _bypass_trigger(engine)
    if column == "at":
        value = "'2001-01-01 00:00:00'"
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE audit_log SET {column} = {value} WHERE id = 3"))
    result = verify(engine)
    assert not result.ok and result.first_bad_id == 3, result


def test_rehashing_or_deleting_entries_is_detected(database_url: str) -> None:
    upgrade(database_url)
    engine = engine_for(database_url)
    _fill(engine, 5)
    _bypass_trigger(engine)
    # Edit entry 2 and recompute its own hash: entry 3 no longer follows it.
    with session_scope(engine) as session:
        row = session.get(AuditRow, 2)
        assert row is not None
        row.reason = "rewritten"
        row.hash = entry_hash(row.prev_hash, row)
    result = verify(engine)
    assert not result.ok and result.first_bad_id == 3, result
    # Removing the newest entries is caught by the head.
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id >= 2"))
    result = verify(engine)
    assert not result.ok and result.first_bad_id == 2, result
    assert "removed" in result.message


def test_a_gap_in_the_middle_is_named(database_url: str) -> None:
    upgrade(database_url)
    engine = engine_for(database_url)
    _fill(engine, 5)
    _bypass_trigger(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 3"))
    result = verify(engine)
    assert not result.ok and result.first_bad_id == 3 and "missing" in result.message


def test_concurrent_appends_keep_one_unbroken_chain(database_url: str) -> None:
    upgrade(database_url)
    engine = engine_for(database_url)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(25):
                append_committed(engine, event="search", principal=person(f"w{n}"),
                                 criteria={"name": f"w{n}-{i}"}, result_ids=[])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    result = verify(engine)
    assert result.ok and result.checked == 100, result
    with session_scope(engine) as session:
        ids = session.scalars(select(AuditRow.id).order_by(AuditRow.id)).all()
        hashes = session.scalars(select(AuditRow.prev_hash)).all()
    assert ids == list(range(1, 101))
    assert len(set(hashes)) == 100  # no two entries claim the same predecessor: no fork


def test_a_search_that_found_nothing_is_audited(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path)
    with TestClient(app) as client:
        worker = sign_in(client, "dw.one", "duty_worker", agencies="SC")
        response = client.get("/v1/test-search", params={"q": "Jaydon Smyth",
                                                         "purpose": "mash ENQUIRY"},
                              headers=worker)
        assert response.status_code == 200 and response.json()["total"] == 0
        # A purpose outside the configured list is refused before anything runs.
        bad = client.get("/v1/test-search", params={"q": "x", "purpose": "curiosity"},
                         headers=worker)
        assert bad.status_code == 422 and "MASH enquiry" in bad.json()["detail"]["purposes"]
        missing = client.get("/v1/test-search", params={"q": "x"}, headers=worker)
        assert missing.status_code == 422
        auditor = sign_in(client, "aud", "auditor")
        entries = client.get("/v1/audit", params={"event": "search"},
                             headers=auditor).json()["entries"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["actor"] == "dw.one" and entry["roles"] == ["duty_worker"]
    assert entry["purpose"] == "MASH enquiry"
    assert entry["criteria"] == {"name": "Jaydon Smyth"}
    assert entry["result_ids"] == [] and entry["result_count"] == 0
    assert entry["client_ip"] == "testclient"
    assert dt.datetime.fromisoformat(entry["at"]) <= dt.datetime.now(dt.UTC)


def test_only_auditors_read_the_log_and_refusals_are_audited(database_url: str,
                                                             tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path)
    with TestClient(app) as client:
        for role in ("duty_worker", "hub_analyst", "records_admin", "reviewer", "service"):
            headers = sign_in(client, f"u-{role}", role)
            for path in ("/v1/audit", "/v1/audit.csv"):
                assert client.get(path, headers=headers).status_code == 403
        auditor = sign_in(client, "aud", "auditor")
        # ... and the auditor, who reads the log, cannot search.
        assert client.get("/v1/test-search", params={"q": "x", "purpose": "case work"},
                          headers=auditor).status_code == 403
        refused = client.get("/v1/audit", params={"event": "permission_refused"},
                             headers=auditor).json()["entries"]
    assert len(refused) == 11
    by_actor = {(e["actor"], e["target"]) for e in refused}
    assert ("u-duty_worker", "GET /v1/audit") in by_actor
    assert ("u-service", "GET /v1/audit.csv") in by_actor
    assert ("aud", "GET /v1/test-search") in by_actor
    assert refused[0]["detail"]["needed_roles"] in (["auditor"], sorted(
        ["duty_worker", "hub_analyst", "records_admin", "reviewer", "service"]))


def test_sign_in_failures_are_audited(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path)
    with TestClient(app) as client:
        client.get("/v1/audit", headers={"Authorization": "Bearer garbage"})
        client.get("/v1/audit", headers={"X-API-Key": "csk_" + "y" * 43})
        client.get("/v1/audit")  # no credentials at all: refused, not a sign-in attempt
        auditor = sign_in(client, "aud", "auditor")
        failures = client.get("/v1/audit", params={"event": "sign_in_failure"},
                              headers=auditor).json()["entries"]
    assert [(f["reason"], f["actor"]) for f in reversed(failures)] == [
        ("malformed token", "anonymous"), ("unknown or revoked API key", "anonymous")]
    assert failures[0]["detail"] == {"method": "apikey", "key_prefix": "csk_yyyyyyyy"}
    assert all(f["target"] == "GET /v1/audit" for f in failures)


def test_audit_filters_and_paging(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path)
    engine = engine_for(database_url)
    analyst = person("hub.analyst", Role.hub_analyst)
    append_committed(engine, event="search", principal=DW, purpose="case work",
                     criteria={"given": "Amelia", "family": "O'Hart"}, result_ids=["P-1"])
    append_committed(engine, event="search", principal=analyst, purpose="MASH enquiry",
                     criteria={"given": "Amelia", "family": "Hartley"}, result_ids=[])
    append_committed(engine, event="record_view", principal=analyst, target="P-1",
                     reason="MASH strategy discussion")
    append_committed(engine, event="search", principal=analyst, purpose="case work",
                     criteria={"given": "Bo", "family": "50%_off"}, result_ids=["P-2"])
    with TestClient(app) as client:
        auditor = sign_in(client, "aud", "auditor")

        def ids(**params: object) -> list[int]:
            response = client.get("/v1/audit", params=params, headers=auditor)
            assert response.status_code == 200, response.text
            return [e["id"] for e in response.json()["entries"] if e["event"] != "audit_view"
                    and e["event"] != "sign_in"]

        assert ids(person="amelia") == [2, 1]
        assert ids(person="HART") == [2, 1]
        assert ids(person="P-1") == [3, 1]  # the record viewed, and the search that found it
        assert ids(person="50%_") == [4]  # LIKE wildcards are matched literally
        assert ids(person="%x") == []
        assert ids(user="hub.analyst") == [4, 3, 2]
        assert ids(user="DW") == [1]  # the display name, case-insensitively
        assert ids(event=["record_view", "search"], user="hub.analyst") == [4, 3, 2]
        assert ids(event="record_view") == [3]
        today = dt.datetime.now(dt.UTC).date()
        assert ids(**{"from": today.isoformat(), "to": today.isoformat()}) == [4, 3, 2, 1]
        tomorrow = (today + dt.timedelta(days=1)).isoformat()
        assert ids(**{"from": tomorrow}) == []
        assert ids(**{"to": (today - dt.timedelta(days=1)).isoformat()}) == []
        assert ids(**{"from": "2000-01-01T00:00:00Z", "event": "search"}) == [4, 2, 1]
        page = client.get("/v1/audit", params={"event": "search", "limit": 2},
                          headers=auditor).json()
        assert [e["id"] for e in page["entries"]] == [4, 2]
        assert page["next_before_id"] == 2
        rest = client.get("/v1/audit", params={"event": "search", "limit": 2,
                                               "before_id": page["next_before_id"]},
                          headers=auditor).json()
        assert [e["id"] for e in rest["entries"]] == [1] and rest["next_before_id"] is None
        assert client.get("/v1/audit", params={"from": "yesterday"},
                          headers=auditor).status_code == 422
        # Looking at the log is itself on the log.
        views = client.get("/v1/audit", params={"event": "audit_view"},
                           headers=auditor).json()["entries"]
        assert views and {v["actor"] for v in views} == {"aud"}
        assert any(v["criteria"].get("person") == "amelia" for v in views)
        assert any(v["criteria"].get("event") == ["record_view", "search"] for v in views)
    assert verify(engine).ok


def test_csv_export_is_filtered_safe_and_audited(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path)
    engine = engine_for(database_url)
    append_committed(engine, event="search", principal=DW, purpose="case work",
                     criteria={"name": "=HYPERLINK(\"http://x\")"}, result_ids=["P-9"])
    append_committed(engine, event="search", principal=DW, purpose="case work",
                     criteria={"name": "Zoë Wiśniewska"}, result_ids=[])
    with TestClient(app) as client:
        auditor = sign_in(client, "aud", "auditor")
        response = client.get("/v1/audit.csv", params={"event": "search"}, headers=auditor)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["content-disposition"].startswith("attachment;")
        assert response.headers["cache-control"] == "no-store"
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [r["id"] for r in rows] == ["1", "2"]
        assert rows[1]["criteria"] == '{"name": "Zoë Wiśniewska"}'
        assert rows[1]["result_count"] == "0"
        assert not any(v.startswith(("=", "+", "@")) for r in rows for v in r.values())
        exports = client.get("/v1/audit", params={"event": "export"},
                             headers=auditor).json()["entries"]
    assert len(exports) == 1
    assert exports[0]["actor"] == "aud" and exports[0]["result_count"] == 2
    assert exports[0]["criteria"]["event"] == ["search"]
    assert exports[0]["criteria"]["format"] == "csv"
    assert verify(engine).ok
