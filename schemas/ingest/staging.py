"""PostgreSQL: store a batch through a staging table, in a fixed handful of round trips.

Per batch and record type: COPY the rows into a temporary table, then one INSERT of the keys
not yet stored (with their persons and outbox rows) and, only if some keys already existed,
one UPDATE of the rows this batch makes newer (with their outbox rows, and their child rows
deleted). Each statement decides against the rows as they are when it runs, so:

* a replay or an older version matches no row of the UPDATE (``s.version >= t.version AND
  s.content_hash <> t.content_hash``), and is counted unchanged;
* a concurrent writer that commits the same new key first makes our INSERT fail on the
  unique key; the caller retries the batch, which then sees that row;
* a concurrent writer updating the same row makes our UPDATE wait and then re-check its
  condition against the committed row, so an older version never overwrites a newer one.

The earlier SELECT ... WHERE (key) IN (...) round trips were most of the ingest time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from schemas.ingest.outcome import IngestReport
from schemas.ingest.prepare import CHILD_COLUMNS, KEY_COLUMNS, ROW_COLUMNS, Key, Prepared
from schemas.ingest.store import CHILD_TABLES, TABLE_FOR, child_rows

_MATCH = " AND ".join(f"t.{c} = s.{c}" for c in KEY_COLUMNS)
_OUTBOX = ("queued AS (INSERT INTO outbox (entity_type, entity_id, version, created_at, "
           "attempts) SELECT %(entity)s, id, version, %(now)s, 0 FROM {source}) ")


def _stage_name(table: Table) -> str:
    return f"stage_{table.name}"


def _create_stage(cursor: Any, table: Table, columns: tuple[str, ...]) -> None:
    # Temporary, so per connection and never seen by other sessions; emptied at every commit.
    cursor.execute(
        f'CREATE TEMP TABLE IF NOT EXISTS "{_stage_name(table)}" ON COMMIT DELETE ROWS AS '
        f'SELECT {", ".join(columns)} FROM "{table.name}" WITH NO DATA', prepare=False)


def copy_rows(cursor: Any, table_name: str, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f'COPY "{table_name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def _stored(cursor: Any) -> list[tuple[int, Key]]:
    return [(row_id, (agency, system, source_id))
            for row_id, agency, system, source_id in cursor.fetchall()]


def _insert_new(cursor: Any, table: Table, entity: str, columns: tuple[str, ...],
                now: dt.datetime) -> list[tuple[int, Key]]:
    person = entity == "person_record"
    target = ", ".join(columns) + (", updated_at" if person else "")
    source = ", ".join("COALESCE(received_at, %(now)s)" if c == "received_at" else c
                       for c in columns) + (", %(now)s" if person else "")
    persons = ("new_persons AS (INSERT INTO persons (id, created_at) "
               "SELECT person_id, %(now)s FROM new_rows), " if person else "")
    cursor.execute(
        f'WITH new_rows AS (SELECT * FROM "{_stage_name(table)}" s WHERE NOT EXISTS '
        f'(SELECT 1 FROM "{table.name}" t WHERE {_MATCH})), {persons}'
        f'inserted AS (INSERT INTO "{table.name}" ({target}) SELECT {source} FROM new_rows '
        f'RETURNING id, agency_code, source_system, source_id, version), '
        + _OUTBOX.format(source="inserted")
        + "SELECT id, agency_code, source_system, source_id FROM inserted",
        {"now": now, "entity": entity}, prepare=False)
    return _stored(cursor)


def _update_newer(cursor: Any, table: Table, entity: str, columns: tuple[str, ...],
                  now: dt.datetime) -> list[tuple[int, Key]]:
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
    cursor.execute(
        f'WITH changed AS (UPDATE "{table.name}" t SET {sets} FROM "{_stage_name(table)}" s '
        f'WHERE {_MATCH} AND s.version >= t.version AND s.content_hash <> t.content_hash '
        f'RETURNING t.id, t.agency_code, t.source_system, t.source_id, t.version), {children}'
        + _OUTBOX.format(source="changed")
        + "SELECT id, agency_code, source_system, source_id FROM changed",
        {"now": now, "entity": entity}, prepare=False)
    return _stored(cursor)


def upsert_entity(session: Session, entity: str, bucket: dict[Key, Prepared],
                  report: IngestReport, now: dt.datetime) -> None:
    """Store one batch's records of one type (one row per key) and count what happened."""
    table = TABLE_FOR[entity]
    columns = ROW_COLUMNS[entity]
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        _create_stage(cursor, table, columns)
        copy_rows(cursor, _stage_name(table), columns, (p.row for p in bucket.values()))
        inserted = _insert_new(cursor, table, entity, columns, now)
        # When every key was new there is nothing left to update: skip that round trip.
        updated = (_update_newer(cursor, table, entity, columns, now)
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
