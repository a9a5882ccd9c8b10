"""Rows formatted as COPY text by the parse workers (schemas.ingest.copytext).

PostgreSQL must store exactly what it stores from the same rows sent as tuples (psycopg's
``Copy.write_row``), on insert and on update, awkward text included; SQLite never gets them.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from schemas.ingest import copytext
from schemas.ingest.prepare import Prepared, prepare
from schemas.ingest.readers import open_reader, parse_all
from schemas.ingest.service import copy_text_for, ingest_file
from schemas.ingest.staging import copy_rows
from schemas.ingest.store import upsert_prepared
from schemas.records import Case, CaseNote, PersonRecord
from tests.conftest import fresh_postgres_database
from tests.integration._ingest_support import store_with_agency

# Every character COPY text escapes, non-ASCII, and a value that looks like NULL.
AWKWARD = "O'Brien\tSmith\\n \\N back\\slash\r\nnew line é ß 李 \U0001f600"


def _engine(url: str) -> Engine:
    return store_with_agency(url, "POL", "POL", "police")


def _records(version: int, family: str) -> list[Any]:
    source = {"agency": "POL", "source_system": "niche", "version": version}
    return [
        PersonRecord.model_validate({
            "source": {**source, "source_id": "p1",
                       "received_at": "2025-01-02T03:04:05.678901+01:00"},
            "given_names": AWKWARD, "family_name": family, "date_of_birth": "04/2015",
            "dob_estimated": True,
            "names": [{"type": "alias", "given_names": "Bob\\", "family_name": AWKWARD,
                       "from_date": "2019-02-28"}],
            "identifiers": [{"type": "nhs_number", "value": "943 476 5919",
                             "nhs_verification": "verified"},
                            {"type": "upn", "value": "bad\tupn"}],
            "addresses": [{"lines": [AWKWARD, "2\\b"], "postcode": "ls9 7ab", "uprn": "123"}],
            "relationships": [{"type": "mother", "related_source_id": "m\\1"}]}),
        PersonRecord.model_validate({  # no received_at: the store stamps it
            "source": {**source, "source_id": "p2"}, "family_name": family}),
        Case.model_validate({
            "source": {**source, "source_id": "c1"}, "case_number": AWKWARD,
            "opened": "2024-01-01", "subject_source_ids": ["p1", AWKWARD]}),
        CaseNote.model_validate({  # a naive time stamp, read in the session's time zone
            "source": {**source, "source_id": "n1"}, "case_source_id": "c1",
            "recorded_at": "2024-01-02T10:00:00", "text": AWKWARD + family}),
    ]


def _stored(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored column but ids, identities and the store's own time stamps."""
    queries = {
        "person_records": "SELECT * FROM person_records ORDER BY source_id",
        "cases": "SELECT * FROM cases ORDER BY source_id",
        "case_notes": "SELECT * FROM case_notes ORDER BY source_id",
        "person_names": "SELECT * FROM person_names ORDER BY id",
        "identifiers": "SELECT * FROM identifiers ORDER BY id",
        "addresses": "SELECT * FROM addresses ORDER BY id",
        "relationships": "SELECT * FROM relationships ORDER BY id",
        "outbox": "SELECT entity_type, version FROM outbox ORDER BY id",
    }
    # received_at is compared where the record sent one (p1), else it is the time of storing.
    skip = {"id", "record_id", "person_id", "updated_at", "created_at", "received_at"}
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        conn.exec_driver_sql("SET TIME ZONE 'UTC'")
        for name, sql in queries.items():
            result = conn.execute(text(sql))
            keep = [i for i, col in enumerate(result.keys()) if col not in skip]
            out[name] = [tuple(json.dumps(row[i]) if isinstance(row[i], (dict, list))
                               else row[i] for i in keep) for row in result]
        out["received"] = [tuple(conn.execute(text(
            "SELECT received_at FROM person_records WHERE source_id = 'p1'")))]
    return out


def _store_twice(engine: Engine, as_text: bool) -> None:
    for version, family in ((1, "Smyth"), (2, "Jones\\\t")):  # insert, then update
        batch: list[Prepared] = [prepare(i, r) for i, r in
                                 enumerate(_records(version, family), start=1)]
        if as_text:
            batch = [copytext.for_copy(p) for p in batch]
            assert all(isinstance(p.row, bytes) for p in batch)
        report = upsert_prepared(engine, batch)
        assert (report.accepted, report.updated) == ((4, 0) if version == 1 else (0, 4))


def test_copy_text_stores_what_tuples_store(postgres_admin_url: str) -> None:


    stored = []
    for as_text in (False, True):
        with fresh_postgres_database(postgres_admin_url) as url:
            engine = _engine(url)
            _store_twice(engine, as_text)
            stored.append(_stored(engine))
            engine.dispose()
    tuples, lines = stored
    assert tuples["person_records"][0][2] == "p1"  # the query reads what it should
    assert len(tuples["identifiers"]) == 2 and len(tuples["outbox"]) == 8
    assert tuples["received"] == [((dt.datetime(2025, 1, 2, 2, 4, 5, 678901, tzinfo=dt.UTC),),)]
    for name in tuples:
        assert lines[name] == tuples[name], name


def test_copy_refuses_tuples_mixed_with_lines(postgres_url: str) -> None:
    """psycopg buffers write_row: a line written next to tuples could overtake them."""
    engine = _engine(postgres_url)
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE t (s text, i int)")
            for rows in ([("a", 1), b"b\t2\n"], [b"b\t2\n", ("a", 1)]):
                with pytest.raises(TypeError, match="mix"):
                    copy_rows(cursor, "t", ("s", "i"), rows)
                driver.rollback()
                cursor.execute("CREATE TEMP TABLE IF NOT EXISTS t (s text, i int)")
            copy_rows(cursor, "t", ("s", "i"), [b"b\t2\n", b"c\t3\n"])
            cursor.execute("SELECT s, i FROM t ORDER BY s")
            assert cursor.fetchall() == [("b", 2), ("c", 3)]


def test_copy_text_line_is_what_write_row_sends(postgres_url: str) -> None:
    """PostgreSQL reads the worker's line for a row as the values write_row sends."""
    engine = _engine(postgres_url)
    row = (AWKWARD, None, True, False, 7, dt.date(2015, 4, 3),
           dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC), '{"a": "\\t"}')
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE t (s text, n text, b bool, f bool, i int, "
                           "d date, ts timestamptz, j json)")
            with cursor.copy("COPY t FROM STDIN") as copy:
                copy.write_row(row)
            with cursor.copy("COPY t FROM STDIN") as copy:
                copy.write(copytext.line(row))
            cursor.execute("SELECT s, n, b, f, i, d, ts, j::text FROM t")
            first, second = cursor.fetchall()
    assert first == second
    assert first[0] == AWKWARD and first[1] is None and first[5] == dt.date(2015, 4, 3)
    assert first[7] == '{"a": "\\t"}'
    assert copytext.line(row).count(b"\n") == 1  # escaped inside, one line
    assert copytext.line(copytext.line(row)) == copytext.line(row)


def test_postgres_ingest_hands_the_store_copy_text(postgres_url: str, sqlite_url: str,
                                                   tmp_path: Path) -> None:
    path = tmp_path / "pol.jsonl"
    path.write_text(json.dumps({
        "record_type": "person", "source": {"agency": "POL", "source_system": "niche",
                                            "source_id": "a\tb", "version": 1},
        "family_name": AWKWARD, "identifiers": [{"type": "nhs_number", "value": "9434765919"}],
    }) + "\n", encoding="utf-8")
    postgres, sqlite = _engine(postgres_url), _engine(sqlite_url)
    assert copy_text_for(postgres) and not copy_text_for(sqlite)
    for engine in (postgres, sqlite):
        report = ingest_file(engine, path, "POL", "jsonl", workers=0)
        assert (report.accepted, report.rejected) == (1, 0)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT source_id, family_name FROM person_records")
                                ).one() == ("a\tb", AWKWARD)
            assert conn.execute(text("SELECT value FROM identifiers")).scalar() == "9434765919"


def test_sqlite_refuses_copy_text(sqlite_url: str, tmp_path: Path) -> None:
    """Text lines are for PostgreSQL only: SQLite must not store them as values."""
    engine = _engine(sqlite_url)
    path = tmp_path / "pol.jsonl"
    path.write_text(json.dumps({"record_type": "person", "source": {
        "agency": "POL", "source_system": "niche", "source_id": "a", "version": 1},
        "family_name": "Smyth"}) + "\n", encoding="utf-8")
    raw, source = open_reader(path, "jsonl", "POL")
    try:
        import dataclasses

        source.job = dataclasses.replace(source.job, copy_text=True)
        parsed = [p.prepared for p in parse_all(source)]
    finally:
        raw.close()
    assert parsed and parsed[0] is not None and isinstance(parsed[0].row, bytes)
    with pytest.raises(TypeError, match="tuples"):
        upsert_prepared(engine, [parsed[0]])
