"""Idempotent upserts into the system of record, each with an outbox row in the same transaction.

A record's natural key is (agency, source_system, source_id). A replay changes nothing; an older
version arriving after a newer one never overwrites it; every change writes an outbox row so the
index will eventually see it, even if the process dies right after the commit.

Records arrive prepared (``schemas.ingest.prepare``). PostgreSQL stores a batch through a
staging table (``schemas.ingest.staging``), SQLite through Core statements
(``schemas.ingest.core``); both are handed one batch per record type, one row per key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from schemas.db import is_postgres, session_scope
from schemas.ingest.outcome import IngestReport, Rejection
from schemas.ingest.prepare import (
    CHILD_COLUMNS,
    ENTITY,
    Key,
    Prepared,
    Record,
    content_hash,
    prepare,
)
from schemas.tables import (
    AddressRow,
    AgencyRow,
    CaseNoteRow,
    CaseRow,
    IdentifierRow,
    PersonNameRow,
    PersonRecordRow,
    RelationshipRow,
    table_of,
    utcnow,
)

__all__ = ["ENTITY", "Record", "UnknownAgency", "content_hash", "known_agencies",
           "upsert_batch", "upsert_prepared"]

TABLE_FOR: dict[str, Table] = {
    "person_record": table_of(PersonRecordRow),
    "case": table_of(CaseRow),
    "case_note": table_of(CaseNoteRow),
}
CHILD_TABLES: tuple[Table, ...] = tuple(
    map(table_of, (PersonNameRow, IdentifierRow, AddressRow, RelationshipRow)))


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
    """Store a batch of validated records (line, record)."""
    return upsert_prepared(engine, [prepare(line, record) for line, record in items])


def upsert_prepared(engine: Engine, items: Sequence[Prepared]) -> IngestReport:
    """Store a batch; retried once on a unique-key race with a concurrent writer."""
    try:
        return _upsert_once(engine, items)
    except _INTEGRITY_ERRORS:
        # Another writer inserted one of our keys between our read and our insert (SQLite;
        # PostgreSQL's INSERT ... ON CONFLICT skips such a key itself): the retry sees its
        # row and becomes an update or a no-op instead.
        return _upsert_once(engine, items)


def dedupe(items: Sequence[Prepared], report: IngestReport) -> dict[str, dict[Key, Prepared]]:
    """One row per key and entity: the newest version wins, as a replay would decide."""
    by_entity: dict[str, dict[Key, Prepared]] = {}
    for incoming in items:
        bucket = by_entity.setdefault(incoming.entity, {})
        earlier = bucket.get(incoming.key)
        if earlier is None:
            bucket[incoming.key] = incoming
        elif earlier.digest == incoming.digest:
            report.unchanged += 1  # an exact duplicate row within the batch
        elif incoming.version > earlier.version:
            bucket[incoming.key] = incoming
            report.unchanged += 1  # the older duplicate is superseded, as a replay would be
        elif incoming.version < earlier.version:
            report.unchanged += 1
        else:
            report.reject(Rejection(
                incoming.line, "source.source_id",
                f"duplicate of line {earlier.line} with different content and the same "
                "version; send a higher version to change a record",
                incoming.key[2]))
    return by_entity


def _upsert_once(engine: Engine, items: Sequence[Prepared]) -> IngestReport:
    report = IngestReport()
    by_entity = dedupe(items, report)
    with session_scope(engine) as session:
        postgres = is_postgres(session)
        _lock_agencies(session, {key[0] for bucket in by_entity.values() for key in bucket})
        now = utcnow()
        for entity, bucket in by_entity.items():
            if postgres:
                from schemas.ingest.staging import upsert_entity
            else:
                from schemas.ingest.core import upsert_entity
            upsert_entity(session, entity, bucket, report, now)
    return report


def _lock_agencies(session: Session, codes: set[str]) -> None:
    """Refuse a batch with an unknown agency, and hold its agencies until it commits.

    What the foreign key agency_code -> agencies did for each row, done once a batch: the
    readers and the API reject a row of an unknown agency before it gets here, so this
    guards the store itself. FOR KEY SHARE (PostgreSQL) makes a concurrent delete or rename
    of one of these agencies wait for this batch, and its trigger then sees the batch's rows
    (migration 0006); SQLite has one writer at a time.
    """
    if not codes:
        return
    query = select(AgencyRow.code).where(AgencyRow.code.in_(sorted(codes)))
    if is_postgres(session):
        query = query.with_for_update(key_share=True)
    missing = codes - set(session.scalars(query))
    if missing:
        listed = ", ".join(map(repr, sorted(missing)))
        raise UnknownAgency(f"source.agency: unknown agency {listed}; the batch was not stored")


def child_rows(changed: Sequence[tuple[int, Prepared]]) -> list[list[Any]]:
    """Each child table's rows, record_id first, for the stored person records (id, prepared):
    tuples, or COPY text when the children came as such (``schemas.ingest.copytext``: the
    lines of one record's rows of a table in one bytes object, or one line each)."""
    tables: list[list[Any]] = [[] for _ in CHILD_COLUMNS]
    for row_id, incoming in changed:
        for rows, kids in zip(tables, incoming.children, strict=True):
            if isinstance(kids, bytes):
                if kids:  # each line ends in b"\n": put "id<TAB>" at the start of each
                    prefix = b"%d\t" % row_id
                    rows.append(prefix + kids[:-1].replace(b"\n", b"\n" + prefix) + b"\n")
                continue
            for kid in kids:
                rows.append(b"%d\t%b" % (row_id, kid) if isinstance(kid, bytes)
                            else (row_id, *kid))
    return tables
