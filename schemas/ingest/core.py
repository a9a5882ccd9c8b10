"""SQLite (any backend but PostgreSQL): store a batch with Core statements.

Read the stored versions by key, insert the new rows with executemany and read their ids
back, update the newer ones one by one (re-checking the version in the UPDATE), then write
the child rows and one outbox row per change, all in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, tuple_, update
from sqlalchemy.orm import Session
from sqlalchemy.types import Text

from schemas.ingest.outcome import IngestReport
from schemas.ingest.prepare import (
    CHILD_COLUMNS,
    JSON_COLUMNS,
    KEY_COLUMNS,
    ROW_COLUMNS,
    Key,
    Prepared,
    stamped,
)
from schemas.ingest.store import CHILD_TABLES, TABLE_FOR, child_rows
from schemas.tables import OutboxRow, PersonRow, table_of

_OUTBOX, _PERSONS = table_of(OutboxRow), table_of(PersonRow)


def _bulk_insert(session: Session, table: Table, columns: Sequence[str],
                 rows: Sequence[Sequence[Any]]) -> None:
    """executemany of positional rows, converted by SQLAlchemy's own bind processors.

    Binding dicts through a compiled insert cost more than SQLite itself (per-row parameter
    processing); the stored values are the same, as the same processors convert them. JSON
    columns arrive as JSON text already and are bound as they are.
    """
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    convert = [(i, proc) for i, c in enumerate(columns) if c not in JSON_COLUMNS
               and (proc := table.c[c].type.dialect_impl(dialect).bind_processor(dialect))]
    if convert:
        converted = []
        for row in rows:
            values = list(row)
            for i, proc in convert:
                values[i] = proc(values[i])
            converted.append(tuple(values))
        rows = converted
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(f'"{c}"' for c in columns)
    conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) '
                         f'VALUES ({", ".join([mark] * len(columns))})', list(rows))


def _values(prepared: Prepared) -> tuple[Any, ...]:
    # COPY text is made only for a PostgreSQL store (ParseJob.copy_text).
    if not isinstance(prepared.row, tuple):
        raise TypeError("SQLite stores rows given as tuples, not as COPY text")
    return prepared.row


def _by_key(session: Session, table: Table, keys: list[Key], *extra: Any
            ) -> dict[Key, tuple[Any, ...]]:
    """(id, *extra) of the stored rows among ``keys``, read in chunks of 500 keys."""
    key_cols = [table.c[c] for c in KEY_COLUMNS]
    found: dict[Key, tuple[Any, ...]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        for agency, system, source_id, *rest in session.execute(
                select(*key_cols, table.c.id, *extra).where(tuple_(*key_cols).in_(chunk))):
            found[(agency, system, source_id)] = tuple(rest)
    return found


def upsert_entity(session: Session, entity: str, bucket: dict[Key, Prepared],
                 report: IngestReport, now: dt.datetime) -> None:
    """Bulk Core statements per batch: the ORM unit of work was 20x too slow for extracts."""
    table = TABLE_FOR[entity]
    existing = _by_key(session, table, list(bucket), table.c.version, table.c.content_hash)
    inserts: list[Prepared] = []
    updates: list[tuple[int, Prepared]] = []
    for key, incoming in bucket.items():
        current = existing.get(key)
        if current is None:
            inserts.append(incoming)
        elif incoming.version < current[1] or incoming.digest == current[2]:
            report.unchanged += 1  # stale or replayed: never overwrite
        else:
            updates.append((current[0], incoming))
    inserted = _insert_core(session, table, entity, inserts, now)
    report.accepted += len(inserted)
    updated = [(row_id, p) for row_id, p in updates if _update_core(session, table, entity,
                                                                     row_id, p, now)]
    report.updated += len(updated)
    report.unchanged += len(updates) - len(updated)
    changed = inserted + updated
    if entity == "person_record" and changed:
        updated_ids = [row_id for row_id, _ in updated]
        if updated_ids:
            for child in CHILD_TABLES:
                session.execute(delete(child).where(child.c.record_id.in_(updated_ids)))
        for child, cols, rows in zip(CHILD_TABLES, CHILD_COLUMNS, child_rows(changed),
                                     strict=True):
            _bulk_insert(session, child, ("record_id", *cols), rows)
    _bulk_insert(session, _OUTBOX,
                 ("entity_type", "entity_id", "version", "created_at", "attempts"),
                 [(entity, row_id, incoming.version, now, 0) for row_id, incoming in changed])


def _insert_core(session: Session, table: Table, entity: str, inserts: list[Prepared],
                 now: dt.datetime) -> list[tuple[int, Prepared]]:
    if not inserts:
        return []
    columns = ROW_COLUMNS[entity]
    received = columns.index("received_at")
    rows = [row[:received] + (row[received] or now,) + row[received + 1:]
            for row in map(_values, inserts)]
    if entity == "person_record":
        person = columns.index("person_id")
        # Each new record starts as its own identity; linkage merges identities later.
        _bulk_insert(session, _PERSONS,
                     ("id", "created_at"), [(row[person], now) for row in rows])
        columns += ("updated_at",)
        rows = [(*row, now) for row in rows]
    # executemany without RETURNING batches on every driver; read the ids back by key.
    _bulk_insert(session, table, columns, rows)
    ids = _by_key(session, table, [p.key for p in inserts])
    return [(ids[p.key][0], p) for p in inserts]


def _update_core(session: Session, table: Table, entity: str, row_id: int,
                 incoming: Prepared, now: dt.datetime) -> bool:
    """Overwrite one row; False if a concurrent writer stored this version or a newer one."""
    values = stamped(_values(incoming), ROW_COLUMNS[entity], now)
    if entity == "person_record":
        values["updated_at"] = now
    # The key never changes, and person_id is the identity linkage assigned.
    sets = {k: bindparam(f"v_{k}", v, type_=Text()) if k in JSON_COLUMNS else v
            for k, v in values.items() if k not in KEY_COLUMNS and k != "person_id"}
    # The version is checked again here, not only in our earlier SELECT: an older version
    # must never overwrite a newer one another writer committed in between.
    done = session.execute(update(table).where(
        table.c.id == row_id, table.c.version <= incoming.version,
        table.c.content_hash != incoming.digest).values(sets))
    return bool(done.rowcount)  # type: ignore[attr-defined]
