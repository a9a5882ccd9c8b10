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

from sqlalchemy import Engine, select, tuple_
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
ENTITY = {PersonRecord: "person_record", Case: "case", CaseNote: "case_note"}
ROW_FOR = {PersonRecord: PersonRecordRow, Case: CaseRow, CaseNote: CaseNoteRow}


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


def upsert_batch(engine: Engine, items: Sequence[tuple[int, Record]]) -> IngestReport:
    """Store a batch; retried once on a unique-key race with a concurrent writer."""
    try:
        return _upsert_once(engine, items)
    except IntegrityError:
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


def _upsert_type(session: Session, model: type, bucket: dict[tuple[str, str, str], Incoming],
                 report: IngestReport) -> None:
    row_type = ROW_FOR[model]
    keys = list(bucket)
    existing: dict[tuple[str, str, str], Any] = {}
    key_cols = (row_type.agency_code, row_type.source_system, row_type.source_id)
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        rows = session.scalars(select(row_type).where(tuple_(*key_cols).in_(chunk)))
        for row in rows:
            existing[(row.agency_code, row.source_system, row.source_id)] = row
    now = utcnow()
    outbox: list[OutboxRow] = []
    new_persons: list[PersonRow] = []
    new_rows: list[Any] = []
    for key, incoming in bucket.items():
        row = existing.get(key)
        record = incoming.record
        if row is None:
            row = row_type(agency_code=key[0], source_system=key[1], source_id=key[2])
            if isinstance(row, PersonRecordRow):
                # Each new record starts as its own identity; linkage merges later.
                person = PersonRow(id=new_person_id(), created_at=now)
                new_persons.append(person)
                row.person_id = person.id
            _fill(row, record, incoming.digest, now)
            new_rows.append(row)
            report.accepted += 1
        elif record.source.version < row.version or incoming.digest == row.content_hash:
            report.unchanged += 1  # stale or replayed: never overwrite
            continue
        else:
            _fill(row, record, incoming.digest, now)
            report.updated += 1
        outbox.append(OutboxRow(entity_type=ENTITY[model], entity_id=0,
                                version=record.source.version, created_at=now))
        outbox[-1]._row = row  # type: ignore[attr-defined]  # id known after flush
    if new_persons:
        # No ORM relationship orders these inserts, so the identities go in first.
        session.add_all(new_persons)
        session.flush()
    session.add_all(new_rows)
    session.flush()
    for entry in outbox:
        entry.entity_id = entry._row.id  # type: ignore[attr-defined]
    session.add_all(outbox)


def _fill(row: Any, record: Record, digest: str, now: dt.datetime) -> None:
    row.version = record.source.version
    row.received_at = record.source.received_at or now
    row.content_hash = digest
    row.sensitivity = record.sensitivity.value
    if isinstance(record, PersonRecord):
        _fill_person(row, record, now)
    elif isinstance(record, Case):
        row.case_number = record.case_number
        row.type = record.type.value
        row.status = record.status.value
        row.opened = record.opened
        row.closed = record.closed
        row.subject_source_ids = list(record.subject_source_ids)
        row.payload = record.model_dump(mode="json")
    else:
        row.case_source_id = record.case_source_id
        row.author = record.author
        row.recorded_at = record.recorded_at
        row.type = record.type
        row.text = record.text


def _fill_person(row: PersonRecordRow, record: PersonRecord, now: dt.datetime) -> None:
    row.updated_at = now
    row.given_names = record.given_names
    row.family_name = record.family_name
    row.date_of_birth = record.date_of_birth
    row.dob_precision = record.dob_precision.value
    row.dob_estimated = record.dob_estimated
    row.dob_disputed = record.dob_disputed
    row.expected_birth_date = record.expected_birth_date
    row.gender = record.gender.value
    row.ethnicity_code = record.ethnicity_code
    row.date_of_death = record.date_of_death
    row.payload = record.model_dump(mode="json")
    row.names = [PersonNameRow(type=n.type.value, given_names=n.given_names,
                               family_name=n.family_name, from_date=n.from_date,
                               to_date=n.to_date) for n in record.names]
    idents = []
    for ident in record.identifiers:
        checked = validate_identifier(ident.type, ident.value)
        # An invalid identifier is kept and flagged, never dropped.
        idents.append(IdentifierRow(
            type=ident.type.value, value=checked.value_normalised or ident.value[:200],
            valid=checked.valid, invalid_reason=checked.reason,
            nhs_verification=ident.nhs_verification.value if ident.nhs_verification else None,
            from_date=ident.from_date, to_date=ident.to_date))
    row.identifiers = idents
    row.addresses = [AddressRow(type=a.type.value, lines=list(a.lines), postcode=a.postcode,
                                uprn=a.uprn, from_date=a.from_date, to_date=a.to_date)
                     for a in record.addresses]
    row.relationships = [RelationshipRow(type=r.type.value,
                                         related_source_id=r.related_source_id)
                         for r in record.relationships]
