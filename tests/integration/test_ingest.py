"""Ingestion on SQLite and PostgreSQL: every format, every bad input, idempotency, versions."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from schemas.db import engine_for, session_scope, upgrade
from schemas.ingest.readers import FileError
from schemas.ingest.service import ingest_file, ingest_payload
from schemas.ingest.store import UnknownAgency, upsert_batch
from schemas.records import PersonRecord
from schemas.tables import AgencyRow, IdentifierRow, OutboxRow, PersonRecordRow
from tests.integration._ingest_support import HEADER, count, row


@pytest.fixture
def engine(database_url: str) -> Engine:
    upgrade(database_url)
    engine = engine_for(database_url)
    with session_scope(engine) as session:
        for code, kind in (("EDU", "education"), ("POL", "police"), ("HEA", "health")):
            session.add(AgencyRow(code=code, name=code, kind=kind))
    return engine


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_csv_valid_rows_are_kept_and_bad_rows_reported(engine: Engine, tmp_path: Path) -> None:
    lines = [HEADER,
             row(source_id="1"),
             row(source_id="2", date_of_birth="31/02/2016"),       # impossible date
             row(source_id="3", date_of_birth="01/01/2099"),       # future birth date
             row(source_id="4", given_names="x" * 10_000_001),     # a 10 MB field
             row(source_id="5", nhs_number="9434765910"),          # invalid NHS: kept, flagged
             row(source_id="6", gender="martian"),                  # unknown code
             row(source_id="7", date_of_birth="2015")]              # year only
    path = write(tmp_path, "pupils.csv", "\n".join(lines) + "\n")
    rejects = tmp_path / "rejects.csv"
    report = ingest_file(engine, path, "EDU", "csv", rejects)
    assert (report.accepted, report.rejected) == (3, 4)
    reasons = {r.line: (r.field, r.reason) for r in report.rejections}
    assert reasons[3][0] == "date_of_birth"
    assert "day 31 does not exist in February" in reasons[3][1]
    assert reasons[4][0] == "date_of_birth" and "future" in reasons[4][1]
    assert reasons[5][0] == "given_names" and "at most 400 characters" in reasons[5][1]
    assert reasons[7][0] == "gender"
    text = rejects.read_text()
    assert text.splitlines()[0] == "line,source_id,field,reason"
    assert len(text.splitlines()) == 5
    with session_scope(engine) as session:
        ident = session.scalars(select(IdentifierRow)).one()
        assert (ident.value, ident.valid) == ("9434765910", False)
        assert ident.invalid_reason
        year_only = session.scalars(select(PersonRecordRow).where(
            PersonRecordRow.source_id == "7")).one()
        assert year_only.dob_precision == "year"
    assert count(engine, OutboxRow) == 3


def test_a_file_is_read_with_the_relaxed_collector(engine: Engine, tmp_path: Path) -> None:
    import gc

    from schemas.collector import BULK_GC_THRESHOLD

    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        seen: list[int] = []
        path = write(tmp_path, "pupils.csv", "\n".join([HEADER, row(source_id="1")]) + "\n")
        ingest_file(engine, path, "EDU", "csv",
                    on_batch=lambda _n: seen.append(gc.get_threshold()[0]))
        assert seen == [BULK_GC_THRESHOLD]
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


@pytest.mark.parametrize(("content", "words"), [
    ("", "empty"),
    ("source_id;family_name;date_of_birth\n1;Smith;2015\n", "delimited"),
    ("source_id,given_names\n1,Jo\n", "date_of_birth"),
])
def test_whole_file_problems_are_one_clear_error(engine: Engine, tmp_path: Path, content: str,
                                                  words: str) -> None:
    path = write(tmp_path, "bad.csv", content)
    with pytest.raises(FileError, match=words):
        ingest_file(engine, path, "EDU", "csv")
    assert count(engine, PersonRecordRow) == 0


def test_unknown_agency_is_refused_before_reading(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", HEADER + "\n" + row(source_id="1") + "\n")
    with pytest.raises(UnknownAgency, match="XYZ"):
        ingest_file(engine, path, "XYZ", "csv")


def test_invalid_utf8_rejects_the_row_not_the_file(engine: Engine, tmp_path: Path) -> None:
    good = row(source_id="1").encode()
    bad = row(source_id="2", given_names="Zo").encode().replace(b"Zo", b"Zo\xff\xfe")
    path = write(tmp_path, "p.csv", HEADER.encode() + b"\n" + good + b"\n" + bad + b"\n")
    report = ingest_file(engine, path, "EDU", "csv")
    assert (report.accepted, report.rejected) == (1, 1)
    assert "UTF-8" in report.rejections[0].reason
    assert report.rejections[0].field == "given_names"


def test_replay_changes_nothing_and_versions_never_go_backwards(engine: Engine,
                                                                tmp_path: Path) -> None:
    v2 = write(tmp_path, "v2.csv", HEADER + "\n" + row(source_id="1", version="2") + "\n")
    first = ingest_file(engine, v2, "EDU", "csv")
    again = ingest_file(engine, v2, "EDU", "csv")
    assert (first.accepted, again.accepted, again.updated, again.unchanged) == (1, 0, 0, 1)
    older = write(tmp_path, "v1.csv", HEADER + "\n" + row(source_id="1", version="1",
                                                          family_name="Older") + "\n")
    stale = ingest_file(engine, older, "EDU", "csv")
    assert (stale.updated, stale.unchanged) == (0, 1)
    newer = write(tmp_path, "v3.csv", HEADER + "\n" + row(source_id="1", version="3",
                                                          family_name="Newer") + "\n")
    assert ingest_file(engine, newer, "EDU", "csv").updated == 1
    with session_scope(engine) as session:
        stored = session.scalars(select(PersonRecordRow)).one()
        assert (stored.version, stored.family_name) == (3, "Newer")
    assert count(engine, OutboxRow) == 2  # the insert and the one real update


def test_stored_digest_is_the_sha256_of_the_stored_payload(engine: Engine,
                                                          tmp_path: Path) -> None:
    src = {"agency": "POL", "source_system": "niche", "version": 1,
           "received_at": "2026-11-27T08:00:00Z"}
    lines = [{"record_type": "person", "source": {**src, "source_id": "p1"},
              "given_names": "Zoë", "family_name": "Kowalczyk", "date_of_birth": "2015-04-03"},
             {"record_type": "case", "source": {**src, "source_id": "c1"},
              "type": "police_incident", "subject_source_ids": ["p1"]}]
    path = write(tmp_path, "pol.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    assert ingest_file(engine, path, "POL", "jsonl").accepted == 2
    payload_text = "CAST(payload AS TEXT)" if engine.dialect.name == "postgresql" else "payload"
    with engine.connect() as conn:
        stored = {table: conn.execute(text(f"SELECT content_hash, {payload_text} FROM {table}"))
                  .one() for table in ("person_records", "cases")}
    for digest, payload in stored.values():
        assert hashlib.sha256(payload.encode()).hexdigest() == digest
        # received_at has its own column; the payload holds everything else that was sent
        assert "received_at" not in json.loads(payload)["source"]
    person = json.loads(stored["person_records"][1])
    assert (person["given_names"], person["source"]["source_id"]) == ("Zoë", "p1")
    assert json.loads(stored["cases"][1])["subject_source_ids"] == ["p1"]
    with session_scope(engine) as session:
        received = session.scalars(select(PersonRecordRow.received_at)).one()
    if received.tzinfo is not None:  # PostgreSQL's is zoned; SQLite's is UTC without a zone
        received = received.astimezone(dt.UTC).replace(tzinfo=None)
    assert received == dt.datetime(2026, 11, 27, 8, 0)  # the sent time, in its own column


def test_duplicate_rows_within_one_file(engine: Engine, tmp_path: Path) -> None:
    lines = [HEADER, row(source_id="1"), row(source_id="1"),
             row(source_id="1", family_name="Different")]
    path = write(tmp_path, "dup.csv", "\n".join(lines) + "\n")
    report = ingest_file(engine, path, "EDU", "csv")
    assert (report.accepted, report.unchanged, report.rejected) == (1, 1, 1)
    assert "duplicate of line 2" in report.rejections[0].reason
    assert report.rejections[0].line == 4


def test_same_record_sent_twice_concurrently_is_stored_once(engine: Engine) -> None:
    record = PersonRecord.model_validate({
        "source": {"agency": "POL", "source_system": "niche", "source_id": "77", "version": 1},
        "given_names": "Robert", "family_name": "Smyth", "date_of_birth": "2015-04-03"})
    results = []
    barrier = threading.Barrier(4)

    def send() -> None:
        barrier.wait()
        results.append(upsert_batch(engine, [(1, record)]))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.accepted for r in results) == 1
    assert sum(r.unchanged for r in results) == 3
    assert count(engine, PersonRecordRow) == 1
    assert count(engine, OutboxRow) == 1


def test_jsonl_all_record_types_and_wrong_agency(engine: Engine, tmp_path: Path) -> None:
    src = {"agency": "POL", "source_system": "niche", "version": 1}
    lines = [
        {"record_type": "person", "source": {**src, "source_id": "p1"}, "given_names": "Bob",
         "family_name": "Smyth", "date_of_birth": "2015-04-03",
         "names": [{"type": "alias", "given_names": "Robbie", "family_name": "Smith"}]},
        {"record_type": "case", "source": {**src, "source_id": "c1"}, "type": "police_incident",
         "subject_source_ids": ["p1"], "opened": "2024-01-02"},
        {"record_type": "case_note", "source": {**src, "source_id": "n1"},
         "case_source_id": "c1", "recorded_at": "2024-01-02T10:00:00Z", "text": "Seen at home."},
        {"record_type": "person", "source": {**src, "agency": "EDU", "source_id": "p2"},
         "family_name": "Other"},
        {"record_type": "spaceship", "source": {**src, "source_id": "x"}},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\nnot json\n"
    report = ingest_file(engine, write(tmp_path, "pol.jsonl", text), "POL", "jsonl")
    assert (report.accepted, report.rejected) == (3, 3)
    fields = sorted(r.field for r in report.rejections)
    assert fields == ["line", "record_type", "source.agency"]


def test_fhir_bundle_and_ndjson(engine: Engine, tmp_path: Path) -> None:
    patient = {
        "resourceType": "Patient", "id": "h1", "meta": {"versionId": "2"},
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
        "name": [{"use": "official", "family": "Smith", "given": ["Kayley"]},
                 {"use": "old", "family": "Jones", "given": ["Kayley"]}],
        "gender": "female", "birthDate": "2015-04",
        "address": [{"use": "home", "line": ["1 High St"], "postalCode": "LS9 7AB"}],
    }
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": patient},
                        {"resource": {"resourceType": "Observation", "id": "o1"}}]}
    report = ingest_file(engine, write(tmp_path, "b.json", json.dumps(bundle, indent=2)),
                         "HEA", "fhir")
    assert (report.accepted, report.rejected) == (1, 1)
    assert report.rejections[0].field == "resourceType"
    assert "Observation" in report.rejections[0].reason
    with session_scope(engine) as session:
        stored = session.scalars(select(PersonRecordRow)).one()
        assert (stored.given_names, stored.family_name, stored.version) == ("Kayley", "Smith", 2)
        assert stored.dob_precision == "month"
        assert [n.type for n in stored.names] == ["former"]
        assert stored.identifiers[0].valid
        assert stored.addresses[0].postcode == "LS9 7AB"
    ndjson = json.dumps({**patient, "id": "h2"}) + "\n" + json.dumps(
        {"resourceType": "Encounter", "id": "e"}) + "\n"
    report = ingest_file(engine, write(tmp_path, "p.ndjson", ndjson), "HEA", "fhir")
    assert (report.accepted, report.rejected) == (1, 1)


def test_api_payload_keeps_valid_items(engine: Engine) -> None:
    good: dict[str, Any] = {
        "record_type": "person", "family_name": "Ali", "date_of_birth": "2016-04-03",
        "source": {"agency": "POL", "source_system": "niche", "source_id": "a"}}
    bad = {**good, "date_of_birth": "2016-02-31",
           "source": {**good["source"], "source_id": "b"}}
    report = ingest_payload(engine, [good, bad])
    assert (report.accepted, report.rejected) == (1, 1)
    assert report.rejections[0].line == 1
    assert report.rejections[0].field == "date_of_birth"
