"""Idempotent upserts into the system of record, each with an outbox row in the same transaction.

A record's natural key is (agency, source_system, source_id). A replay changes nothing; an older
version arriving after a newer one never overwrites it; every change writes an outbox row so the
index will eventually see it, even if the process dies right after the commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Engine, Table, delete, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from analyzers.identifiers import validate_identifier
from schemas.db import session_scope
from schemas.ingest.outcome import IngestReport, Rejection
from schemas.records import Case, CaseNote, PersonRecord
from schemas.tables import (
    AddressRow,
    AgencyRow,
    CaseNoteRow,
    CaseRow,
    IdentifierRow,
    OutboxRow,
    PersonNameRow,
    PersonRecordRow,
    PersonRow,
    RelationshipRow,
    utcnow,
)

Record = PersonRecord | Case | CaseNote
RowType = type[PersonRecordRow] | type[CaseRow] | type[CaseNoteRow]
ENTITY: dict[type, str] = {PersonRecord: "person_record", Case: "case",
                           CaseNote: "case_note"}
ROW_FOR: dict[type, Any] = {PersonRecord: PersonRecordRow, Case: CaseRow,
                            CaseNote: CaseNoteRow}


def new_person_id() -> str:
    return "P" + uuid.uuid4().hex[:15].upper()


def content_hash(record: Record) -> str:
    # received_at is transport metadata: a replay received later is still the same content.
    data = record.model_dump(mode="json", exclude={"source": {"received_at"}})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Incoming:
    line: int
    record: Record
    digest: str


class UnknownAgency(ValueError):
    pass


def known_agencies(engine: Engine) -> set[str]:
    with session_scope(engine) as session:
        return set(session.scalars(select(AgencyRow.code)))


try:  # COPY goes through the driver directly, so its errors are the driver's own
    from psycopg.errors import IntegrityError as _PsycopgIntegrityError

    _INTEGRITY_ERRORS: tuple[type[Exception], ...] = (IntegrityError, _PsycopgIntegrityError)
except ImportError:  # pragma: no cover - psycopg is a dependency, but SQLite needs none
    _INTEGRITY_ERRORS = (IntegrityError,)


def upsert_batch(engine: Engine, items: Sequence[tuple[int, Record]]) -> IngestReport:
    """Store a batch; retried once on a unique-key race with a concurrent writer."""
    try:
        return _upsert_once(engine, items)
    except _INTEGRITY_ERRORS:
        # Another writer inserted one of our keys between our read and our insert: the
        # retry sees its row and becomes an update or a no-op instead.
        return _upsert_once(engine, items)


def _upsert_once(engine: Engine, items: Sequence[tuple[int, Record]]) -> IngestReport:
    report = IngestReport()
    by_type: dict[type, dict[tuple[str, str, str], Incoming]] = {}
    for line, record in items:
        key = (record.source.agency, record.source.source_system, record.source.source_id)
        incoming = Incoming(line, record, content_hash(record))
        bucket = by_type.setdefault(type(record), {})
        earlier = bucket.get(key)
        if earlier is None:
            bucket[key] = incoming
        elif earlier.digest == incoming.digest:
            report.unchanged += 1  # an exact duplicate row within the batch
        elif incoming.record.source.version > earlier.record.source.version:
            bucket[key] = incoming
            report.unchanged += 1  # the older duplicate is superseded, as a replay would be
        elif incoming.record.source.version < earlier.record.source.version:
            report.unchanged += 1
        else:
            report.reject(Rejection(
                incoming.line, "source.source_id",
                f"duplicate of line {earlier.line} with different content and the same "
                "version; send a higher version to change a record",
                record.source.source_id))
    with session_scope(engine) as session:
        for model, bucket in by_type.items():
            _upsert_type(session, model, bucket, report)
    return report


def _bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many rows: COPY on PostgreSQL, executemany elsewhere.

    psycopg sends an executemany as one statement per row; COPY is an order of magnitude
    faster for extracts, and runs inside the same transaction as everything else here.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    driver = session.connection().connection.driver_connection
    assert driver is not None
    names = ", ".join(f'"{c}"' for c in columns)
    with driver.cursor() as cursor, cursor.copy(
            f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c]) if c in json_columns and row[c] is not None
                            else row[c] for c in columns])


def _upsert_type(session: Session, model: type, bucket: dict[tuple[str, str, str], Incoming],
                 report: IngestReport) -> None:
    """Bulk Core statements per batch: the ORM unit of work was 20x too slow for extracts."""
    table: Table = ROW_FOR[model].__table__
    keys = list(bucket)
    existing: dict[tuple[str, str, str], tuple[int, int, str]] = {}
    key_cols = (table.c.agency_code, table.c.source_system, table.c.source_id)
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        rows = session.execute(
            select(*key_cols, table.c.id, table.c.version, table.c.content_hash)
            .where(tuple_(*key_cols).in_(chunk)))
        for agency, system, source_id, row_id, version, digest in rows:
            existing[(agency, system, source_id)] = (row_id, version, digest)
    now = utcnow()
    inserts: list[tuple[Incoming, dict[str, Any]]] = []
    updates: list[tuple[Incoming, dict[str, Any]]] = []
    for key, incoming in bucket.items():
        record = incoming.record
        values = _columns(record, incoming.digest, now)
        current = existing.get(key)
        if current is None:
            values.update(agency_code=key[0], source_system=key[1], source_id=key[2])
            inserts.append((incoming, values))
            report.accepted += 1
        elif record.source.version < current[1] or incoming.digest == current[2]:
            report.unchanged += 1  # stale or replayed: never overwrite
        else:
            values["id"] = current[0]
            updates.append((incoming, values))
            report.updated += 1
    if not inserts and not updates:
        return
    if inserts and model is PersonRecord:
        # Each new record starts as its own identity; linkage merges identities later.
        persons = [{"id": new_person_id(), "created_at": now} for _ in inserts]
        _bulk_insert(session, PersonRow.__table__, persons)
        for (_, values), person in zip(inserts, persons, strict=True):
            values["person_id"] = person["id"]
    ids: list[int] = []
    if inserts:
        # executemany without RETURNING batches on every driver; read the ids back by key.
        _bulk_insert(session, table, [values for _, values in inserts])
        new_keys = [(v["agency_code"], v["source_system"], v["source_id"]) for _, v in inserts]
        found: dict[tuple[str, str, str], int] = {}
        for start in range(0, len(new_keys), 500):
            chunk = new_keys[start:start + 500]
            for agency, system, source_id, row_id in session.execute(
                    select(*key_cols, table.c.id).where(tuple_(*key_cols).in_(chunk))):
                found[(agency, system, source_id)] = row_id
        ids = [found[key] for key in new_keys]
    if updates:
        for _, values in updates:
            session.execute(update(table).where(table.c.id == values["id"]).values(
                {k: v for k, v in values.items() if k != "id"}))
    changed = list(zip(ids, (i for i, _ in inserts), strict=True)) + [
        (values["id"], incoming) for incoming, values in updates]
    if model is PersonRecord:
        _replace_children(session, changed, [values["id"] for _, values in updates])
    _bulk_insert(session, OutboxRow.__table__, [
        {"entity_type": ENTITY[model], "entity_id": row_id,
         "version": incoming.record.source.version, "created_at": now, "attempts": 0}
        for row_id, incoming in changed])


def _columns(record: Record, digest: str, now: dt.datetime) -> dict[str, Any]:
    values: dict[str, Any] = {
        "version": record.source.version,
        "received_at": record.source.received_at or now,
        "content_hash": digest,
        "sensitivity": record.sensitivity.value,
    }
    if isinstance(record, PersonRecord):
        values.update(
            updated_at=now, given_names=record.given_names, family_name=record.family_name,
            date_of_birth=record.date_of_birth, dob_precision=record.dob_precision.value,
            dob_estimated=record.dob_estimated, dob_disputed=record.dob_disputed,
            expected_birth_date=record.expected_birth_date, gender=record.gender.value,
            ethnicity_code=record.ethnicity_code, date_of_death=record.date_of_death,
            payload=record.model_dump(mode="json"))
    elif isinstance(record, Case):
        values.update(
            case_number=record.case_number, type=record.type.value,
            status=record.status.value, opened=record.opened, closed=record.closed,
            subject_source_ids=list(record.subject_source_ids),
            payload=record.model_dump(mode="json"))
    else:
        values.update(
            case_source_id=record.case_source_id, author=record.author,
            recorded_at=record.recorded_at, type=record.type, text=record.text)
    return values


_CHILD_TABLES: tuple[Table, ...] = tuple(
    row.__table__ for row in (PersonNameRow, IdentifierRow, AddressRow, RelationshipRow))  # type: ignore[misc]


def _replace_children(session: Session, changed: list[tuple[int, Incoming]],
                      updated_ids: list[int]) -> None:
    if updated_ids:
        for child in _CHILD_TABLES:
            session.execute(delete(child).where(child.c.record_id.in_(updated_ids)))
    names: list[dict[str, Any]] = []
    idents: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []
    relations: list[dict[str, Any]] = []
    for row_id, incoming in changed:
        record = incoming.record
        assert isinstance(record, PersonRecord)
        names += [{"record_id": row_id, "type": n.type.value, "given_names": n.given_names,
                   "family_name": n.family_name, "from_date": n.from_date,
                   "to_date": n.to_date} for n in record.names]
        for ident in record.identifiers:
            checked = validate_identifier(ident.type, ident.value)
            # An invalid identifier is kept and flagged, never dropped.
            idents.append({
                "record_id": row_id, "type": ident.type.value,
                "value": (checked.value_normalised or ident.value)[:200],
                "valid": checked.valid, "invalid_reason": checked.reason,
                "nhs_verification": (ident.nhs_verification.value
                                     if ident.nhs_verification else None),
                "from_date": ident.from_date, "to_date": ident.to_date})
        addresses += [{"record_id": row_id, "type": a.type.value, "lines": list(a.lines),
                       "postcode": a.postcode, "uprn": a.uprn, "from_date": a.from_date,
                       "to_date": a.to_date} for a in record.addresses]
        relations += [{"record_id": row_id, "type": r.type.value,
                       "related_source_id": r.related_source_id} for r in record.relationships]
    for child, rows in zip(_CHILD_TABLES, (names, idents, addresses, relations), strict=True):
        _bulk_insert(session, child, rows)
