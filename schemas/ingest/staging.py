"""PostgreSQL: store a batch through a staging table, in a fixed handful of round trips.

Per batch and record type: COPY the rows into a temporary table, then one INSERT ... ON
CONFLICT DO NOTHING of every staged row (writing the persons and outbox rows of the rows it
really inserted) and, only if some keys already existed, one UPDATE of the rows this batch
makes newer (with their outbox rows, and their child rows deleted). Each statement decides
against the rows as they are when it runs, so:

* a replay or an older version matches no row of the UPDATE (``s.version >= t.version AND
  s.content_hash <> t.content_hash``), and is counted unchanged;
* a concurrent writer that commits the same new key first makes our INSERT skip that row
  (ON CONFLICT waits for its transaction); the UPDATE then treats it as any stored row;
* a concurrent writer updating the same row makes our UPDATE wait and then re-check its
  condition against the committed row, so an older version never overwrites a newer one.

The INSERT finds existing keys through ON CONFLICT, i.e. always through the unique key's
index. It used to be ``INSERT ... SELECT ... WHERE NOT EXISTS``, whose anti-join the planner
could serve with another index sharing the key's first columns (case_notes'
``ix_case_notes_case``: agency and system, then the case) while the table had no statistics
yet (until autovacuum first analyzes it, about a minute into a fresh database): every
probe then read all of the agency's notes. A 20,000-people ingest spent 5 to 55 CPU-seconds
in PostgreSQL, depending on when autovacuum came by, against 4.3 now. The UPDATE's join can
only be planned from statistics, so the first UPDATE of a table that has none yet runs
ANALYZE first (``ensure_statistics``).

The earlier SELECT ... WHERE (key) IN (...) round trips were most of the ingest time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from schemas.ingest.outcome import IngestReport
from schemas.ingest.prepare import CHILD_COLUMNS, KEY_COLUMNS, ROW_COLUMNS, Key, Prepared
from schemas.ingest.store import CHILD_TABLES, TABLE_FOR, child_rows

log = logging.getLogger("casesearch.ingest")
_MATCH = " AND ".join(f"t.{c} = s.{c}" for c in KEY_COLUMNS)
_OUTBOX = ("queued AS (INSERT INTO outbox (entity_type, entity_id, version, created_at, "
           "attempts) SELECT %(entity)s, id, version, %(now)s, 0 FROM {source}) ")


def _stage_name(table: Table) -> str:
    return f"stage_{table.name}"


def create_stage(cursor: Any, table: Table, columns: tuple[str, ...]) -> None:
    # Temporary, so per connection and never seen by other sessions; emptied at every commit.
    cursor.execute(
        f'CREATE TEMP TABLE IF NOT EXISTS "{_stage_name(table)}" ON COMMIT DELETE ROWS AS '
        f'SELECT {", ".join(columns)} FROM "{table.name}" WITH NO DATA', prepare=False)


def copy_rows(cursor: Any, table_name: str, columns: Sequence[str],
              rows: Iterable[Sequence[Any] | bytes]) -> None:
    """COPY tuples, or lines already in COPY text (``schemas.ingest.copytext``), not mixed."""
    names = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f'COPY "{table_name}" ({names}) FROM STDIN') as copy:
        lines: list[bytes] = []
        tuples = False
        for row in rows:
            if isinstance(row, bytes):
                lines.append(row)
            else:
                tuples = True
                copy.write_row(row)
            if tuples and lines:  # write_row buffers: a line could overtake a row
                raise TypeError("COPY rows mix tuples and text lines")
        if lines:
            copy.write(b"".join(lines))


def _stored(cursor: Any) -> list[tuple[int, Key]]:
    return [(row_id, (agency, system, source_id))
            for row_id, agency, system, source_id in cursor.fetchall()]


def insert_sql(table: Table, entity: str, columns: tuple[str, ...]) -> str:
    """INSERT every staged row whose key is new, with its person and outbox rows."""
    person = entity == "person_record"
    target = ", ".join(columns) + (", updated_at" if person else "")
    source = ", ".join("COALESCE(received_at, %(now)s)" if c == "received_at" else c
                       for c in columns) + (", %(now)s" if person else "")
    # Each new record starts as its own identity; linkage merges identities later. Only the
    # rows really inserted get one (RETURNING), and the foreign key from person_records to
    # persons is checked at the end of the statement, after both inserts.
    persons = ("new_persons AS (INSERT INTO persons (id, created_at) "
               "SELECT person_id, %(now)s FROM inserted), " if person else "")
    return (
        f'WITH inserted AS (INSERT INTO "{table.name}" ({target}) SELECT {source} '
        f'FROM "{_stage_name(table)}" ON CONFLICT ({", ".join(KEY_COLUMNS)}) DO NOTHING '
        f'RETURNING id, agency_code, source_system, source_id, version'
        f'{", person_id" if person else ""}), {persons}'
        + _OUTBOX.format(source="inserted")
        + "SELECT id, agency_code, source_system, source_id FROM inserted")


def update_sql(table: Table, entity: str, columns: tuple[str, ...]) -> str:
    """UPDATE the stored rows a staged row makes newer, with their outbox rows; for person
    records, delete their child rows (the caller writes the new ones)."""
    person = entity == "person_record"
    # The key never changes, and person_id is the identity linkage assigned.
    sets = ", ".join(
        f"{c} = COALESCE(s.received_at, %(now)s)" if c == "received_at" else f"{c} = s.{c}"
        for c in columns if c not in KEY_COLUMNS and c != "person_id")
    if person:
        sets += ", updated_at = %(now)s"
    children = "".join(
        f'gone_{child.name} AS (DELETE FROM "{child.name}" WHERE record_id IN '
        f'(SELECT id FROM changed)), ' for child in CHILD_TABLES) if person else ""
    return (
        f'WITH changed AS (UPDATE "{table.name}" t SET {sets} FROM "{_stage_name(table)}" s '
        f'WHERE {_MATCH} AND s.version >= t.version AND s.content_hash <> t.content_hash '
        f'RETURNING t.id, t.agency_code, t.source_system, t.source_id, t.version), {children}'
        + _OUTBOX.format(source="changed")
        + "SELECT id, agency_code, source_system, source_id FROM changed")


def ensure_statistics(session: Session, cursor: Any, table: Table) -> None:
    """ANALYZE ``table`` if PostgreSQL holds no statistics on its key yet.

    Without them the planner guesses every equality at 1 in 200 and may join the UPDATE
    through an index that shares only the key's first columns, reading all of an agency's
    rows per staged row. Autovacuum analyzes a growing table only about once a minute, so a
    file sent twice into a fresh database would meet exactly that. Once there are
    statistics this is one catalog lookup per UPDATE. ANALYZE (at most 30,000 sampled rows)
    runs on its own autocommit connection, so its lock is not held until our commit; it
    sees the committed rows, which are the ones an UPDATE can match. A role that does not
    own the table gets a warning from PostgreSQL, not an error, and the UPDATE runs as before.
    """
    cursor.execute(
        "SELECT 1 FROM pg_stats WHERE schemaname = current_schema() AND tablename = %s "
        "AND attname = 'source_id'", (table.name,), prepare=False)
    if cursor.fetchone() is None:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        try:
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    f'ANALYZE "{table.name}"')
        except SQLAlchemyError as exc:  # statistics only speed the UPDATE up: carry on
            log.warning("could not analyze a table before updating it",
                        extra={"table": table.name, "error": type(exc).__name__})


def _insert_new(cursor: Any, table: Table, entity: str, columns: tuple[str, ...],
                now: dt.datetime) -> list[tuple[int, Key]]:
    cursor.execute(insert_sql(table, entity, columns), {"now": now, "entity": entity},
                   prepare=False)
    return _stored(cursor)


def _update_newer(session: Session, cursor: Any, table: Table, entity: str,
                  columns: tuple[str, ...], now: dt.datetime) -> list[tuple[int, Key]]:
    ensure_statistics(session, cursor, table)
    cursor.execute(update_sql(table, entity, columns), {"now": now, "entity": entity},
                   prepare=False)
    return _stored(cursor)


def upsert_entity(session: Session, entity: str, bucket: dict[Key, Prepared],
                  report: IngestReport, now: dt.datetime) -> None:
    """Store one batch's records of one type (one row per key) and count what happened."""
    table = TABLE_FOR[entity]
    columns = ROW_COLUMNS[entity]
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        create_stage(cursor, table, columns)
        copy_rows(cursor, _stage_name(table), columns, (p.row for p in bucket.values()))
        inserted = _insert_new(cursor, table, entity, columns, now)
        # When every key was new there is nothing left to update: skip that round trip.
        updated = (_update_newer(session, cursor, table, entity, columns, now)
                   if len(inserted) < len(bucket) else [])
        report.accepted += len(inserted)
        report.updated += len(updated)
        report.unchanged += len(bucket) - len(inserted) - len(updated)
        if entity == "person_record":
            changed = [(row_id, bucket[key]) for row_id, key in inserted + updated]
            for child, cols, rows in zip(CHILD_TABLES, CHILD_COLUMNS, child_rows(changed),
                                         strict=True):
                if rows:
                    copy_rows(cursor, child.name, ("record_id", *cols), rows)
