"""Indexing against real OpenSearch and SQL: external versions, the outbox when OpenSearch is
down, zero-downtime reindex, 503s, and the mapping contract."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from analyzers.opensearch import person_mappings
from indexer.bulk import bulk_index
from indexer.client import make_client
from indexer.documents import (
    IndexDoc,
    iter_note_doc_chunks,
    iter_person_doc_chunks,
    load_note_docs,
    load_person_docs,
    person_document,
    resolve_person_ids,
)
from indexer.lifecycle import ensure_indices, reindex
from schemas.db import engine_for, session_scope
from schemas.settings import Settings
from schemas.tables import AgencyRow, CaseNoteRow, OutboxRow, PersonRecordRow
from search_api.access.tables import AuditRow
from tests.integration._search_support import (
    PURPOSE,
    api,
    auth,
    case,
    drop_indices,
    index,
    make_settings,
    note,
    person,
    prepare_database,
    store,
    unique_prefix,
)
from workers.outbox import drain, drain_in_process, drain_once, lag

pytestmark = pytest.mark.integration

CLOSED = "http://127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture
def settings(opensearch_url: str, database_url: str, tmp_path: Path) -> Any:
    s = make_settings(opensearch_url, database_url, unique_prefix("indexing"), tmp_path)
    prepare_database(s)
    yield s
    drop_indices(s)
    engine_for(s.resolved_database_url).dispose()  # so the per-test database can be dropped


def _get(settings: Settings, record_id: int) -> dict[str, Any]:
    client = make_client(settings.resolved_opensearch_url, 30)
    doc: dict[str, Any] = client.get(index=f"{settings.index_prefix}-persons",
                                     id=str(record_id))
    return doc


def _record_id(settings: Settings, source_id: str) -> int:
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        return int(session.scalars(select(PersonRecordRow.id).where(
            PersonRecordRow.source_id == source_id)).one())


def test_document_follows_the_contract(settings: Settings) -> None:
    store(settings, [person("SC", "C1", "Anna-Maria", "Smith-Jones", "2015-04-03",
                            names=[{"type": "alias", "given_names": "Annie",
                                    "family_name": "Jones"}],
                            postcode="LS9 7AB", nhs="943 476 5919")])
    index(settings)
    source = _get(settings, _record_id(settings, "C1"))["_source"]
    assert set(source) <= set(person_mappings()["properties"])
    assert source["dob_full"] == "2015-04-03" and source["dob_swapped"] == "2015-03-04"
    assert source["dob_ym"] == "2015-04" and source["dob_y"] == "2015"
    assert source["postcode_sector"] == ["LS9 7"] and source["postcode_outward"] == ["LS9"]
    assert source["valid_identifiers"] == ["nhs_number:9434765919"]
    assert "Annie" in source["all_given"] and "Jones" in source["all_family"]
    assert "smithjones" in source["all_family"]
    assert any(k.startswith("metaphone:") for k in source["family_keys"])


def test_strict_mapping_rejects_unknown_fields(settings: Settings) -> None:
    client = make_client(settings.resolved_opensearch_url, 30)
    ensure_indices(client, settings.index_prefix)
    result = bulk_index(client, f"{settings.index_prefix}-persons",
                        [IndexDoc("x1", 1, {"record_id": "x1", "surprise": True})])
    assert result.indexed == 0 and len(result.errors) == 1
    assert "strict" in result.errors[0][1]


def test_out_of_order_versions_keep_the_newest(settings: Settings) -> None:
    store(settings, [person("SC", "V1", "Third", "Version", version=3)])
    index(settings)
    rid = _record_id(settings, "V1")
    # An older version arriving later is refused by the store ...
    report = store(settings, [person("SC", "V1", "Second", "Version", version=2)])
    assert report.unchanged == 1
    # ... and, written straight to the index (a slow worker holding a stale document), by
    # OpenSearch: version 2 never overwrites version 3.
    client = make_client(settings.resolved_opensearch_url, 30)
    stale = IndexDoc(str(rid), 2, {**_get(settings, rid)["_source"], "given_names": "Second",
                                   "version": 2})
    result = bulk_index(client, f"{settings.index_prefix}-persons", [stale])
    assert result.conflicts == 1 and not result.errors
    doc = _get(settings, rid)
    assert doc["_version"] == 3 and doc["_source"]["given_names"] == "Third"
    # Replaying the same version is harmless (external_gte), and a newer one wins.
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        current = load_person_docs(session, [rid])
    assert bulk_index(client, f"{settings.index_prefix}-persons", current).indexed == 1
    store(settings, [person("SC", "V1", "Fourth", "Version", version=4)])
    index(settings)
    assert _get(settings, rid)["_source"]["given_names"] == "Fourth"


def test_opensearch_down_during_ingestion_then_drained(settings: Settings,
                                                       tmp_path: Path) -> None:
    down = make_settings(CLOSED, settings.resolved_database_url, settings.index_prefix, tmp_path)
    client = api(down)
    records = [person("SC", f"D{i}", "Kayleigh", f"Downtime{i}", "2016-01-02") for i in range(3)]
    started = time.perf_counter()
    response = client.post("/v1/records", json={"records": records},
                           headers=auth(client, ["service"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 3 and body["indexing"] == "pending"
    assert time.perf_counter() - started < 10
    # Stored, waiting in the outbox with the failure recorded; the CLI path never raises.
    assert drain_in_process(down).processed == 0
    pending = lag(engine_for(settings.resolved_database_url))
    assert pending["pending"] == 3 and pending["oldest_pending_age_seconds"] is not None
    assert "unavailable" in (pending["last_error"] or "")
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        attempts = set(session.scalars(select(OutboxRow.attempts)))
    assert attempts == {0}  # an outage does not use up the rows' attempts
    # OpenSearch is back: the same rows are indexed and marked processed.
    result = index(settings)
    assert result.processed == 3
    assert lag(engine_for(settings.resolved_database_url))["pending"] == 0
    live = api(settings)
    found = live.post("/v1/search", json={"purpose": PURPOSE, "family_name": "Downtime1"},
                      headers=auth(live, ["hub_analyst"])).json()
    assert found["results"][0]["records"][0]["source_id"] == "D1"


def test_records_api_indexes_at_once_in_embedded_mode(settings: Settings) -> None:
    client = api(settings)
    headers = auth(client, ["service"])
    response = client.post("/v1/records", headers=headers, json={"records": [
        person("POL", "R1", "Callum", "Quickindex", "2014-02-02"),
        {"record_type": "person", "source": {"agency": "POL", "source_system": "x",
                                             "source_id": "bad"}, "date_of_birth": "2099-01-01"},
    ]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1 and body["rejected"] == 1 and body["indexing"] == "done"
    assert body["rejections"][0]["index"] == 1
    make_client(settings.resolved_opensearch_url).indices.refresh(
        index=f"{settings.index_prefix}-persons")
    found = client.post("/v1/search", json={"purpose": PURPOSE, "text": "callum quickindex"},
                        headers=auth(client, ["hub_analyst"])).json()
    assert found["results"][0]["records"][0]["source_id"] == "R1"
    # Outside the caller's agency scope: rejected, naming the field.
    scoped = auth(client, ["service"], agencies=["SC"])
    response = client.post("/v1/records", headers=scoped, json={"records": [
        person("POL", "R2", "Out", "Ofscope")]})
    assert response.json()["rejections"][0]["field"] == "source.agency"
    assert client.post("/v1/records", headers=auth(client, ["duty_worker"]),
                       json={"records": [person("SC", "R3", "No", "Role")]}).status_code == 403


def test_drain_is_idempotent_and_shared(settings: Settings) -> None:
    store(settings, [person("EDU", f"I{i}", "Ivy", f"Idem{i}", "2013-03-03")
                     for i in range(40)])
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(drain(settings, batch_size=7, link=False).processed)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    engine = engine_for(settings.resolved_database_url)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).where(OutboxRow.processed_at.is_(None))) == 0
    if engine.dialect.name == "postgresql":
        assert sum(results) == 40  # SKIP LOCKED: no row processed twice
    assert drain(settings, link=False).processed == 0  # nothing left; running again is a no-op
    client = make_client(settings.resolved_opensearch_url)
    client.indices.refresh(index=f"{settings.index_prefix}-persons")
    assert client.count(index=f"{settings.index_prefix}-persons")["count"] == 40


def test_search_503_when_opensearch_down(settings: Settings, tmp_path: Path) -> None:
    down = make_settings(CLOSED, settings.resolved_database_url, settings.index_prefix, tmp_path)
    client = api(down)
    started = time.perf_counter()
    response = client.post("/v1/search", json={"purpose": PURPOSE, "text": "smith"},
                           headers=auth(client, ["hub_analyst"]))
    assert response.status_code == 503
    assert time.perf_counter() - started < 1.0
    assert response.json()["detail"]["error"] == "search_unavailable"
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        row = session.scalars(select(AuditRow).where(AuditRow.event == "search")
                              .order_by(AuditRow.id.desc()).limit(1)).one()
    assert row.detail and row.detail.get("error") == "search_unavailable"


def test_reindex_with_zero_downtime(settings: Settings) -> None:
    store(settings, [person("HEA", f"Z{i}", "Zara", "Continuous", f"2012-01-{1 + i % 28:02d}")
                     for i in range(300)])
    index(settings)
    client = make_client(settings.resolved_opensearch_url, 30)
    engine = engine_for(settings.resolved_database_url)
    before = set(client.indices.get_alias(name=f"{settings.index_prefix}-persons"))
    app = api(settings)
    headers = auth(app, ["hub_analyst"])
    stop = threading.Event()
    failures: list[str] = []
    searches = [0]

    def search_forever() -> None:
        while not stop.is_set():
            response = app.post("/v1/search", headers=headers,
                                json={"purpose": PURPOSE, "family_name": "Continuous"})
            searches[0] += 1
            if response.status_code != 200:
                failures.append(f"{response.status_code}: {response.text[:200]}")
            elif not response.json()["results"]:
                failures.append("empty results")

    thread = threading.Thread(target=search_forever)
    thread.start()
    try:
        time.sleep(0.3)
        # A change made while the new index is being built must reach it too.
        store(settings, [person("HEA", "Z-late", "Zara", "Latecomer", "2012-02-02")])
        phases: dict[str, int] = {}
        result = reindex(client, engine, settings.index_prefix, chunk_size=50,
                         progress=lambda phase, n, total: phases.update(
                             {phase: phases.get(phase, 0) + n}))
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join()
    assert not failures, failures[:5]
    assert searches[0] > 3
    after = set(client.indices.get_alias(name=f"{settings.index_prefix}-persons"))
    assert after == {result.new_indices["persons"]} and after != before
    assert not client.indices.exists(index=",".join(before))
    assert result.persons >= 300
    assert phases["merging segments"] == 2  # both new indices merged before the swap
    client.indices.refresh(index=f"{settings.index_prefix}-persons")
    assert client.count(index=f"{settings.index_prefix}-persons")["count"] == 301


def test_celery_drain_task(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from schemas.settings import get_settings
    from workers.outbox import IndexUnavailable
    from workers.tasks import drain_outbox

    assert IndexUnavailable in drain_outbox.autoretry_for
    assert drain_outbox.acks_late and drain_outbox.retry_backoff
    store(settings, [person("SC", "T1", "Tess", "Taskdrained", "2011-11-11")])
    for key, value in {"OPENSEARCH_URL": settings.resolved_opensearch_url,
                       "DATABASE_URL": settings.resolved_database_url,
                       "INDEX_PREFIX": settings.index_prefix,
                       "DATA_DIR": str(settings.data_dir)}.items():
        monkeypatch.setenv(f"CASESEARCH_{key}", value)
    get_settings.cache_clear()
    try:
        result = drain_outbox.apply().get()
    finally:
        get_settings.cache_clear()
    assert result["processed"] == 1
    assert lag(engine_for(settings.resolved_database_url))["pending"] == 0


def test_batched_documents_equal_one_record_at_a_time(settings: Settings) -> None:
    store(settings, [
        person("SC", "B1", "Anna-Maria", "Smith-Jones", "2015-04-03",
               names=[{"type": "alias", "given_names": "Annie", "family_name": "Jones"}],
               postcode="LS9 7AB", nhs="943 476 5919"),
        person("POL", "B2", "Baby of Smith", "Smith", "2016-01-01", sensitivity="restricted"),
        person("HEA", "B3", "Zoë", "O'Brien", "2014", postcode="M1 1AE"),
        person("EDU", "B4", "Jon", "Smith", lines=["1 High St"], postcode="LS1 4AP"),
        person("SC", "B5", "Kai", "Smith"),
        case("SC", "K1", ["B1", "B5", "NOT-HELD"]),
        note("SC", "N1", "K1", "seen at home"), note("SC", "N2", "K1", "school visit"),
        note("SC", "N3", "NO-SUCH-CASE", "orphan note"),
    ])
    engine = engine_for(settings.resolved_database_url)
    with session_scope(engine) as session:
        ids = list(session.scalars(select(PersonRecordRow.id)))
        note_ids = list(session.scalars(select(CaseNoteRow.id)))
        batched = {d.id: d for docs in iter_person_doc_chunks(session, ids, chunk=2)
                   for d in docs}
        notes_batched = {d.id: d for docs in iter_note_doc_chunks(session, note_ids, chunk=2)
                         for d in docs}
    single: dict[str, IndexDoc] = {}
    for rid in ids:  # each alone, in a fresh session, relationships loaded the default way
        with session_scope(engine) as session:
            row = session.get(PersonRecordRow, rid)
            assert row is not None
            agency = session.get(AgencyRow, row.agency_code)
            pid = resolve_person_ids(session, [row.person_id]).get(row.person_id or "",
                                                                   row.person_id)
            single[str(rid)] = IndexDoc(str(rid), int(row.version), person_document(
                row, agency.kind if agency else None, pid))
    assert len(batched) == len(ids) == 5
    assert batched == single
    notes_single: dict[str, IndexDoc] = {}
    for nid in note_ids:
        with session_scope(engine) as session:
            notes_single.update({d.id: d for d in load_note_docs(session, [nid])})
    assert len(notes_batched) == 3 and notes_batched == notes_single
    subjects = {len(d.source["record_ids"]) for d in notes_batched.values()}
    assert subjects == {0, 2}  # the orphan note has no case; N1/N2 name B1 and B5


def test_a_rejected_document_fails_only_its_own_row(settings: Settings) -> None:
    store(settings, [person("EDU", f"J{i}", "Jay", f"Rejected{i}", "2013-03-03")
                     for i in range(3)])
    bad = _record_id(settings, "J1")
    client = make_client(settings.resolved_opensearch_url, 30)
    ensure_indices(client, settings.index_prefix)
    real_bulk = client.bulk

    def bulk(*args: Any, **kwargs: Any) -> Any:
        response = real_bulk(*args, **kwargs)
        for item in response["items"]:
            if item["index"]["_id"] == str(bad):
                item["index"] = {"_id": str(bad), "status": 400, "error": {
                    "type": "mapper_parsing_exception", "reason": "refused for the test"}}
                response["errors"] = True
        return response

    client.bulk = bulk
    engine = engine_for(settings.resolved_database_url)
    result = drain_once(engine, client, settings.index_prefix)
    assert result.processed == 2 and result.failed == 1 and bad not in result.record_ids
    with session_scope(engine) as session:
        rows = {r.entity_id: r for r in session.scalars(select(OutboxRow))}
    assert rows[bad].processed_at is None and rows[bad].attempts == 1
    assert "mapper_parsing_exception" in (rows[bad].last_error or "")
    assert all(r.processed_at is not None and r.attempts == 0
               for rid, r in rows.items() if rid != bad)
    client.bulk = real_bulk
    again = drain_once(engine, client, settings.index_prefix)  # retried alone, now accepted
    assert again.processed == 1 and again.record_ids == [bad]


def test_a_note_is_written_once_when_its_case_came_first_and_follows_later_changes(
        settings: Settings) -> None:
    def versioned(record: dict[str, Any], version: int) -> dict[str, Any]:
        return {**record, "source": {**record["source"], "version": version}}

    def note_doc() -> dict[str, Any]:
        client = make_client(settings.resolved_opensearch_url, 30)
        (hit,) = client.search(index=f"{settings.index_prefix}-notes",
                               body={"query": {"match_all": {}}, "version": True}
                               )["hits"]["hits"]
        return {"_version": hit["_version"], **hit["_source"]}

    store(settings, [person("SC", "W1", "Willow", "Once", "2016-06-06")])
    store(settings, [case("SC", "CW1", ["W1"])])
    store(settings, [note("SC", "NW1", "CW1", "Home visit: Willow well.")])
    # One row a batch: the case's row writes its note, then the note's own row meets that
    # same version in the index and is refused instead of being indexed again.
    result = drain(settings, batch_size=1, link=False)
    assert (result.processed, result.indexed, result.conflicts) == (3, 3, 1)
    make_client(settings.resolved_opensearch_url, 30).indices.refresh(
        index=f"{settings.index_prefix}-notes")
    first = note_doc()
    assert first["_version"] == first["version"] < 2  # the version the store gave it
    assert first["record_ids"] == [str(_record_id(settings, "W1"))]
    # A new version of the note is written ...
    store(settings, [versioned(note("SC", "NW1", "CW1", "Second visit: Willow at school."), 2)])
    assert drain(settings, batch_size=1, link=False).conflicts == 0
    # ... and so is a change of its case's subjects, which leaves the note's version as it is.
    store(settings, [person("SC", "W2", "Rowan", "Once", "2014-04-04")])
    store(settings, [versioned(case("SC", "CW1", ["W1", "W2"]), 2)])
    assert drain(settings, batch_size=1, link=False).conflicts == 0
    make_client(settings.resolved_opensearch_url, 30).indices.refresh(
        index=f"{settings.index_prefix}-notes")
    last = note_doc()
    assert last["_version"] == 2 and last["text"].startswith("Second visit")
    assert sorted(last["record_ids"]) == sorted(str(_record_id(settings, s))
                                                for s in ("W1", "W2"))


def test_a_note_and_its_case_changed_in_one_batch_gets_the_new_subjects(
        settings: Settings) -> None:
    store(settings, [person("SC", "X1", "Ash", "Batch", "2016-06-06")])
    store(settings, [case("SC", "CX1", ["X1"])])
    # The case's row writes the note before the note's own row comes up.
    store(settings, [note("SC", "NX1", "CX1", "Home visit.")])
    assert drain(settings, batch_size=2, max_batches=1, link=False).processed == 2
    # Now the note's own row, a new person and the case's new subjects share one batch:
    # the note's version is the one already indexed, its subjects are not.
    store(settings, [person("SC", "X2", "Birch", "Batch", "2014-04-04")])
    store(settings, [{**case("SC", "CX1", ["X1", "X2"]),
                      "source": {**case("SC", "CX1", [])["source"], "version": 2}}])
    assert drain(settings, batch_size=10, link=False).processed == 3
    client = make_client(settings.resolved_opensearch_url, 30)
    client.indices.refresh(index=f"{settings.index_prefix}-notes")
    (hit,) = client.search(index=f"{settings.index_prefix}-notes",
                           body={"query": {"match_all": {}}})["hits"]["hits"]
    assert sorted(hit["_source"]["record_ids"]) == sorted(
        str(_record_id(settings, s)) for s in ("X1", "X2"))


def test_drain_and_reindex_run_with_the_relaxed_collector(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    import workers.outbox as outbox
    from schemas.collector import BULK_GC_THRESHOLD

    store(settings, [person("EDU", f"G{i}", "Gail", f"Collect{i}", "2014-04-04")
                     for i in range(5)])
    seen: dict[str, int] = {}
    real_drain_once = outbox.drain_once

    def drain_once(*args: Any, **kwargs: Any) -> Any:
        seen["drain"] = gc.get_threshold()[0]
        return real_drain_once(*args, **kwargs)

    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        monkeypatch.setattr(outbox, "drain_once", drain_once)
        assert drain(settings, link=False).processed == 5
        client = make_client(settings.resolved_opensearch_url, 30)
        reindex(client, engine_for(settings.resolved_database_url), settings.index_prefix,
                progress=lambda phase, n, total: seen.setdefault(phase, gc.get_threshold()[0]))
        assert seen["drain"] == seen["persons"] == BULK_GC_THRESHOLD
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
