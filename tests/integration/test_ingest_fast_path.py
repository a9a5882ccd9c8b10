"""The fast ingest path on SQLite and PostgreSQL: parse workers, one digest, the staging table.

Whatever the path, the store must say and keep exactly what the one-row-at-a-time semantics
say: counts, rejects with their lines, children replaced on update, one outbox row per change.
"""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, func, select, text

from schemas.db import engine_for, session_scope, upgrade
from schemas.ingest.directory import ingest_directory
from schemas.ingest.outcome import IngestReport
from schemas.ingest.prepare import ROW_COLUMNS, prepare
from schemas.ingest.staging import copy_rows, create_stage, insert_sql, update_sql
from schemas.ingest.store import TABLE_FOR, UnknownAgency, upsert_batch, upsert_prepared
from schemas.integrity import dangling_keys
from schemas.records import CaseNote, PersonRecord
from schemas.synthetic import generate_extracts
from schemas.tables import (
    IdentifierRow,
    OutboxRow,
    PersonNameRow,
    PersonRecordRow,
    PersonRow,
    utcnow,
)
from tests.integration._ingest_support import HEADER, count, row, store_with_agency


@pytest.fixture
def engine(database_url: str) -> Engine:
    return store_with_agency(database_url, "POL", "POL", "police")


def person(source_id: str, version: int, family_name: str = "Smyth",
           nhs: str = "9434765919") -> PersonRecord:
    return PersonRecord.model_validate({
        "source": {"agency": "POL", "source_system": "niche", "source_id": source_id,
                   "version": version},
        "given_names": "Robert", "family_name": family_name, "date_of_birth": "2015-04-03",
        "names": [{"type": "alias", "given_names": "Bob", "family_name": family_name}],
        "identifiers": [{"type": "nhs_number", "value": nhs}],
        "addresses": [{"lines": ["1 High St"], "postcode": "LS9 7AB"}]})


def stored(engine: Engine, source_id: str) -> PersonRecordRow:
    with session_scope(engine) as session:
        return session.scalars(select(PersonRecordRow).where(
            PersonRecordRow.source_id == source_id)).one()


def test_one_batch_mixing_new_replayed_stale_newer_and_duplicate_rows(engine: Engine) -> None:
    upsert_batch(engine, [(1, person("a", 2)), (2, person("b", 2)), (3, person("c", 2))])
    report = upsert_batch(engine, [
        (1, person("a", 2)),                       # replay: unchanged
        (2, person("b", 1, "Older")),              # older version: unchanged, not stored
        (3, person("c", 3, "Newer")),              # newer version: updated
        (4, person("c", 2, "Newer")),              # its older duplicate in the batch
        (5, person("d", 1)),                       # new
        (6, person("d", 1, "Different")),          # same key and version, other content
        (7, person("e", 1)), (8, person("e", 1)),  # an exact duplicate row
    ])
    assert (report.accepted, report.updated, report.unchanged, report.rejected) == (2, 1, 4, 1)
    assert [(r.line, r.field) for r in report.rejections] == [(6, "source.source_id")]
    assert "duplicate of line 5" in report.rejections[0].reason
    assert stored(engine, "b").family_name == "Smyth"
    assert (stored(engine, "c").version, stored(engine, "c").family_name) == (3, "Newer")
    assert count(engine, OutboxRow) == 3 + 2 + 1  # every insert and the one real update
    assert count(engine, PersonRow) == count(engine, PersonRecordRow) == 5


def test_update_replaces_children_and_keeps_the_identity(engine: Engine) -> None:
    upsert_batch(engine, [(1, person("a", 1, nhs="9434765919"))])
    before = stored(engine, "a")
    report = upsert_batch(engine, [(1, person("a", 2, "Jones", nhs="9434765910"))])
    assert (report.accepted, report.updated) == (0, 1)
    after = stored(engine, "a")
    assert after.id == before.id
    assert after.person_id == before.person_id  # linkage owns the identity, not the update
    assert after.payload["family_name"] == "Jones"
    with session_scope(engine) as session:
        idents = session.execute(select(IdentifierRow.value, IdentifierRow.valid)).all()
        names = session.scalars(select(PersonNameRow.family_name)).all()
        outbox = session.execute(select(OutboxRow.entity_id, OutboxRow.version)
                                 .order_by(OutboxRow.id)).all()
    assert idents == [("9434765910", False)]
    assert names == ["Jones"]
    assert outbox == [(before.id, 1), (before.id, 2)]


def test_a_failed_batch_leaves_nothing_behind(engine: Engine) -> None:
    """A batch that fails (unknown agency, which the store checks itself) stores nothing;
    the next one is counted exactly."""
    bad = PersonRecord.model_validate({**person("z", 1).model_dump(),
                                       "source": {"agency": "ZZZ", "source_system": "niche",
                                                  "source_id": "z", "version": 1}})
    with pytest.raises(UnknownAgency, match="source.agency: unknown agency 'ZZZ'"):
        upsert_batch(engine, [(1, person("a", 1)), (2, bad)])
    assert count(engine, PersonRecordRow) == count(engine, OutboxRow) == 0
    assert count(engine, PersonRow) == 0
    report = upsert_batch(engine, [(1, person("b", 1))])
    assert (report.accepted, report.updated, report.unchanged) == (1, 0, 0)
    assert count(engine, PersonRecordRow) == count(engine, OutboxRow) == 1


def test_concurrent_versions_of_one_record_end_at_the_newest(engine: Engine) -> None:
    upsert_batch(engine, [(1, person("a", 1))])
    results = []
    barrier = threading.Barrier(4)

    def send(version: int) -> None:
        barrier.wait()
        results.append(upsert_batch(engine, [(1, person("a", version, f"V{version}"))]))

    threads = [threading.Thread(target=send, args=(v,)) for v in (2, 5, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert all(r.accepted + r.updated + r.unchanged == 1 for r in results)
    assert (stored(engine, "a").version, stored(engine, "a").family_name) == (5, "V5")
    # One outbox row per write that really happened, never one for a skipped write.
    assert count(engine, OutboxRow) == 1 + sum(r.updated for r in results)


def test_prepared_rows_are_retried_as_they_were(engine: Engine) -> None:
    """The same prepared batch stored twice: the second time is a replay (same digest)."""
    batch = [prepare(1, person("a", 1)), prepare(2, person("b", 1))]
    first = upsert_prepared(engine, batch)
    again = upsert_prepared(engine, batch)
    assert (first.accepted, again.accepted, again.unchanged) == (2, 0, 2)


def _snapshot(engine: Engine) -> dict[str, Any]:
    """Stored content without ids, identities and time stamps."""
    queries = {
        "records": "SELECT agency_code, source_system, source_id, version, content_hash, "
                   "given_names, family_name, date_of_birth, dob_precision, gender, payload "
                   "FROM person_records",
        "children": "SELECT r.source_id, i.type, i.value, i.valid, a.postcode "
                    "FROM person_records r LEFT JOIN identifiers i ON i.record_id = r.id "
                    "LEFT JOIN addresses a ON a.record_id = r.id",
        "cases": "SELECT source_id, version, content_hash, subject_source_ids FROM cases",
        "notes": "SELECT source_id, version, content_hash, text FROM case_notes",
        "outbox": "SELECT entity_type, version FROM outbox",
    }
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for name, sql in queries.items():
            out[name] = sorted(tuple(_plain(v) for v in row) for row in conn.execute(text(sql)))
    return out


def _plain(value: Any) -> str:
    # JSON columns come back parsed on PostgreSQL and as text on SQLite.
    if isinstance(value, str) and value[:1] in "{[":
        value = json.loads(value)
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


def test_parallel_and_serial_ingest_store_the_same(database_url: str, tmp_path: Path) -> None:
    """Workers or not, the same extracts give the same rows and the planted rejects' lines."""
    out = tmp_path / "gen"
    generate_extracts(150, 7, out)
    with open(out / "planted_rejects.csv", encoding="utf-8", newline="") as fh:
        planted = {(row["file"], int(row["line"])) for row in csv.DictReader(fh)}
    snapshots, reports = [], []
    for workers in (0, 2):
        engine = engine_for(database_url)
        if workers:
            _empty(engine)
        upgrade(database_url)
        rejects_dir = tmp_path / f"rejects-{workers}"
        reports.append({name: r.as_dict() for name, r in ingest_directory(
            engine, out, rejects_dir=rejects_dir, workers=workers).items()})
        seen = set()
        for path in rejects_dir.glob("*.rejects.csv"):
            with open(path, encoding="utf-8", newline="") as fh:
                seen |= {(path.name.removesuffix(".rejects.csv"), int(row["line"]))
                         for row in csv.DictReader(fh)}
        assert seen == planted, workers
        assert set(dangling_keys(engine).values()) == {0}, workers
        snapshots.append(_snapshot(engine))
        # A replay through the other path changes nothing.
        replay = ingest_directory(engine, out, workers=2 - workers)
        assert all(r.accepted == r.updated == 0 for r in replay.values())
    assert reports[0] == reports[1]
    assert snapshots[0] == snapshots[1]


@pytest.mark.parametrize("second", ["bad header", "unknown agency", "missing"])
def test_a_bad_next_file_fails_in_its_own_turn(database_url: str, tmp_path: Path,
                                               second: str) -> None:
    """A file that cannot be ingested (unknown agency, no such file, bad header) fails in its
    own turn, with the parse pool running, and the file before it is stored whole. A guard
    for any future overlap of one file's parsing with the previous file's storing."""
    from schemas.ingest.readers import FileError

    upgrade(database_url)
    engine = engine_for(database_url)
    out = tmp_path / "extracts"
    out.mkdir()
    rows = [row(source_id=str(i), given_names=f"Child{i}")
            for i in range(700)]  # three parse chunks of 256 rows
    (out / "first.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    if second == "bad header":
        (out / "second.csv").write_text("given_names;family_name\nAnn;Lee\n")
    elif second == "unknown agency":
        (out / "second.csv").write_text("\n".join([HEADER, rows[0]]) + "\n")
    (out / "agencies.json").write_text(json.dumps(
        [{"code": "EDU", "name": "Education", "kind": "education"}]))
    (out / "manifest.json").write_text(json.dumps({"files": [
        {"agency": "EDU", "path": "first.csv", "format": "csv"},
        {"agency": "XYZ" if second == "unknown agency" else "EDU", "path": "second.csv",
         "format": "csv"}]}))
    with pytest.raises(UnknownAgency if second == "unknown agency" else FileError):
        ingest_directory(engine, out, workers=2)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(PersonRecordRow)) == 700


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in ("outbox", "relationships", "addresses", "identifiers", "person_names",
                      "case_notes", "cases", "person_records", "persons"):
            conn.execute(text(f"DELETE FROM {table}"))


# --- PostgreSQL: plans that do not depend on statistics the database does not have yet ---------

def _note(source_id: str, version: int, text: str = "Seen at home.") -> CaseNote:
    return CaseNote.model_validate({
        "source": {"agency": "POL", "source_system": "niche", "source_id": source_id,
                   "version": version},
        "case_source_id": "c1", "recorded_at": "2024-01-02T10:00:00Z", "text": text})


def _has_statistics(engine: Engine, table: str) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() "
            "AND tablename = :t AND attname = 'source_id'"), {"t": table}).scalar())


def _stored_notes(postgres_url: str, count: int) -> tuple[Engine, IngestReport]:
    """A fresh database holding ``count`` case notes (no statistics gathered yet)."""
    engine = store_with_agency(postgres_url, "POL", "POL", "police")
    return engine, upsert_batch(engine, [(i, _note(f"n{i}", 1)) for i in range(count)])


def _plan_for_staged_note(engine: Engine, note: CaseNote,
                          sql_of: Callable[[Table, str, tuple[str, ...]], str]) -> str:
    """EXPLAIN of a staging statement (insert_sql / update_sql) with ``note`` staged."""
    with session_scope(engine) as session:
        driver = session.connection().connection.driver_connection
        assert driver is not None
        table, columns = TABLE_FOR["case_note"], ROW_COLUMNS["case_note"]
        with driver.cursor() as cursor:
            create_stage(cursor, table, columns)
            copy_rows(cursor, "stage_case_notes", columns, [prepare(1, note).row])
            cursor.execute("EXPLAIN " + sql_of(table, "case_note", columns),
                           {"now": utcnow(), "entity": "case_note"})
            return "\n".join(row[0] for row in cursor.fetchall())


def test_postgres_insert_finds_existing_keys_by_the_unique_key(postgres_url: str) -> None:
    """Case notes share their key's first columns with ix_case_notes_case: without
    statistics the planner once probed that index for the insert, reading every note of the
    agency per row. ON CONFLICT always arbitrates on the unique key."""
    engine, _ = _stored_notes(postgres_url, 300)
    plan = _plan_for_staged_note(engine, _note("n5", 2), insert_sql)
    assert "Conflict Arbiter Indexes: uq_note_source" in plan
    assert "ix_case_notes_case" not in plan


def test_postgres_first_update_of_a_fresh_table_gathers_statistics(postgres_url: str) -> None:
    engine, first = _stored_notes(postgres_url, 300)
    assert first.accepted == 300
    # Autovacuum may have analyzed the new rows in the meantime, but rarely within a second.
    replay = upsert_batch(engine, [(1, _note("n1", 1)), (2, _note("n2", 2, "Changed."))])
    assert (replay.accepted, replay.updated, replay.unchanged) == (0, 1, 1)
    assert _has_statistics(engine, "case_notes")
    plan = _plan_for_staged_note(engine, _note("n5", 3), update_sql)
    assert "ix_case_notes_case" not in plan, plan
