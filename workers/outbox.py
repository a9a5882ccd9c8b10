"""Drain the outbox: index the current SQL state of every changed entity, then mark it done.

Every change in the SQL store writes an ``outbox`` row in the same transaction. Draining:

1. takes a batch of pending rows in id order (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
   several drainers share the work without waiting on each other);
2. loads the *current* state of each entity from SQL (the truth; the row's version only says
   that something changed) and bulk-writes it with ``external_gte`` versions, so running twice,
   or out of order, is harmless. Documents are read and built a chunk at a time (a few
   queries per chunk, not per record) while the previous chunk is being written;
3. only after every write was answered, marks the rows processed in the same transaction (one
   UPDATE per few hundred rows), or, if OpenSearch is down, leaves them pending with
   ``last_error`` updated (a row whose document was rejected gets ``attempts`` + 1);
4. calls the linkage hook for the person records it indexed, when linkage provides one.

A row that fails ``MAX_ATTEMPTS`` times for a per-document reason (a document OpenSearch
rejects) stops being retried and is counted as ``failed`` in the lag metric. An outage of
OpenSearch only sets ``last_error``: it does not use up attempts, so nothing is given up on
however long the cluster is down.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import TransportError
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from indexer.bulk import BulkResult, bulk_index_pipelined
from indexer.client import make_client
from indexer.documents import (
    IndexDoc,
    iter_note_doc_chunks,
    iter_person_doc_chunks,
    note_ids_for_cases,
)
from indexer.lifecycle import IndexNames, ensure_indices, index_names
from schemas.collector import relaxed_collector
from schemas.db import engine_for, is_postgres, session_scope
from schemas.settings import Settings
from schemas.tables import OutboxRow, utcnow

__all__ = [
    "BATCH_SIZE",
    "MAX_ATTEMPTS",
    "DrainResult",
    "IndexUnavailable",
    "OutboxDrainer",
    "drain",
    "drain_in_process",
    "drain_once",
    "lag",
]

log = logging.getLogger("casesearch.outbox")

# Rows per transaction. Large enough that a case and its notes (close together in the outbox)
# usually share a batch, so the notes are written once, not again with the case.
BATCH_SIZE = 2000
# Documents per bulk request; the next chunk is read and built while one is being written.
DOC_CHUNK = 500
# A bulk request legitimately takes longer than a search; a node that does not answer at all
# still fails fast (connection refused).
BULK_TIMEOUT = 60.0
MAX_ATTEMPTS = 20
_ID_CHUNK = 500


class IndexUnavailable(RuntimeError):
    """OpenSearch could not be reached; the batch stays pending (retry later)."""


@dataclass
class DrainResult:
    processed: int = 0  # outbox rows marked done
    indexed: int = 0  # documents written (or already newer in the index)
    conflicts: int = 0  # of those, the ones already there at this version or newer
    failed: int = 0  # rows that got a per-document error this round
    batches: int = 0
    record_ids: list[int] = field(default_factory=list)
    # The person documents this batch wrote, by record id, handed to linkage so it need not
    # read them back; one batch's only (``add`` does not gather them).
    person_sources: dict[int, Mapping[str, Any]] = field(default_factory=dict, repr=False)

    def add(self, other: DrainResult) -> None:
        self.processed += other.processed
        self.indexed += other.indexed
        self.conflicts += other.conflicts
        self.failed += other.failed
        self.batches += other.batches
        self.record_ids.extend(other.record_ids)


def _client_for(settings: Settings) -> OpenSearch:
    return make_client(settings.resolved_opensearch_url, settings.opensearch_timeout)


_ensured: set[tuple[str, str]] = set()
_ensured_lock = threading.Lock()


def _ensure(client: OpenSearch, settings: Settings) -> None:
    # Writing to a missing alias would auto-create a concrete index with a guessed mapping.
    key = (settings.resolved_opensearch_url, settings.index_prefix)
    with _ensured_lock:
        if key in _ensured:
            return
    ensure_indices(client, settings.index_prefix)
    with _ensured_lock:
        _ensured.add(key)


def forget_ensured() -> None:
    """Forget which index sets were checked (after they are deleted, in tests)."""
    with _ensured_lock:
        _ensured.clear()


class _Pending(NamedTuple):
    id: int
    entity_type: str
    entity_id: int


def _pending(session: Session, batch_size: int) -> list[_Pending]:
    # Only the columns needed: rows are marked with one UPDATE, not through ORM objects.
    stmt = (select(OutboxRow.id, OutboxRow.entity_type, OutboxRow.entity_id)
            .where(OutboxRow.processed_at.is_(None), OutboxRow.attempts < MAX_ATTEMPTS)
            .order_by(OutboxRow.id).limit(batch_size))
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return [_Pending(int(i), str(t), int(e)) for i, t, e in session.execute(stmt)]


class _Entities(NamedTuple):
    records: set[int]  # person records
    notes: set[int]  # case notes that changed, of cases that did not
    case_notes: set[int]  # every note of the cases that changed


def _entities(session: Session, rows: Iterable[_Pending]) -> _Entities:
    """The person records and case notes whose current documents the rows call for."""
    records = {r.entity_id for r in rows if r.entity_type == "person_record"}
    cases = {r.entity_id for r in rows if r.entity_type == "case"}
    notes = {r.entity_id for r in rows if r.entity_type == "case_note"}
    # A case's subjects change what its notes point at. (A person record arriving after its
    # notes needs nothing: notes are mapped to persons through their ``subjects`` keys at query
    # time; the record_ids/person_ids they carry are informative and refreshed by reindex.)
    of_cases = set(note_ids_for_cases(session, cases))
    # A note whose case changed too is written as its case's: its subjects may be new while
    # its version is not.
    return _Entities(records, notes - of_cases, of_cases)


def _doc_chunks(session: Session, names: IndexNames, entities: _Entities
                ) -> Iterator[tuple[str, list[IndexDoc]]]:
    """Documents a chunk at a time, read lazily: each chunk is built while the previous one
    is being written.

    A note written for its own row is refused as a conflict when the index holds its
    version already: its case's row, in an earlier batch, wrote that same version (with
    subjects as current then, or newer: a later subject change has its own case row). At
    100k people that was 73,434 of 100,312 notes written twice."""
    for docs in iter_person_doc_chunks(session, entities.records, DOC_CHUNK):
        yield names.persons, docs
    for docs in iter_note_doc_chunks(session, entities.notes, DOC_CHUNK, replace_equal=False):
        yield names.notes, docs
    for docs in iter_note_doc_chunks(session, entities.case_notes, DOC_CHUNK):
        yield names.notes, docs


def _mark(session: Session, ids: Sequence[int], **values: Any) -> None:
    """One UPDATE per chunk of ids (not one per row)."""
    for start in range(0, len(ids), _ID_CHUNK):
        session.execute(update(OutboxRow).where(OutboxRow.id.in_(ids[start:start + _ID_CHUNK]))
                        .values(**values).execution_options(synchronize_session=False))


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OSConnectionError):
        return True
    if isinstance(exc, TransportError):
        status = exc.status_code
        return not isinstance(status, int) or status >= 500 or status == 429
    return False


def drain_once(engine: Engine, client: OpenSearch, prefix: str,
               batch_size: int = BATCH_SIZE) -> DrainResult:
    """Process one batch. Raises IndexUnavailable if OpenSearch cannot be reached (the rows
    then stay pending with last_error updated)."""
    names = index_names(prefix)
    result = DrainResult()
    error: BaseException | None = None
    with session_scope(engine) as session:
        rows = _pending(session, batch_size)
        if not rows:
            return result
        result.batches = 1
        entities = _entities(session, rows)
        records = entities.records
        written: dict[str, BulkResult] = {}
        sources: dict[int, Mapping[str, Any]] = {}

        def chunks() -> Iterator[tuple[str, list[IndexDoc]]]:
            for index, docs in _doc_chunks(session, names, entities):
                if index == names.persons:
                    sources.update((int(d.id), d.source) for d in docs)
                yield index, docs

        try:
            written = bulk_index_pipelined(client, chunks(), request_timeout=BULK_TIMEOUT)
        except Exception as exc:
            if not _is_unavailable(exc):
                raise
            error = exc
        if error is not None:
            # An outage is not the rows' fault: it does not use up their attempts.
            _mark(session, [r.id for r in rows],
                  last_error=f"opensearch unavailable: {type(error).__name__}")
        else:
            person_bulk = written.get(names.persons, BulkResult())
            bulk = BulkResult()
            for part in written.values():
                bulk.add(part)
            failed_people = {int(i) for i, _ in person_bulk.errors if i.isdigit()}
            reasons = dict(person_bulk.errors)
            done: list[int] = []
            for row in rows:
                if row.entity_type == "person_record" and row.entity_id in failed_people:
                    session.execute(
                        update(OutboxRow).where(OutboxRow.id == row.id)
                        .values(attempts=OutboxRow.attempts + 1,
                                last_error=reasons.get(str(row.entity_id), "rejected")[:500])
                        .execution_options(synchronize_session=False))
                    result.failed += 1
                else:
                    done.append(row.id)
            _mark(session, done, processed_at=utcnow())
            result.processed = len(done)
            if bulk.errors:
                log.warning("documents rejected by OpenSearch",
                            extra={"count": len(bulk.errors)})
            result.indexed = bulk.indexed + bulk.conflicts
            result.conflicts = bulk.conflicts
            result.record_ids = sorted(r for r in records if r not in failed_people)
            # A conflict means the index holds a newer version than the one in hand.
            stale = failed_people | {int(i) for i in person_bulk.conflict_ids if i.isdigit()}
            result.person_sources = {r: src for r, src in sources.items() if r not in stale}
    if error is not None:
        raise IndexUnavailable(str(type(error).__name__)) from error
    return result


def _note_outage(engine: Engine, message: str, batch_size: int) -> None:
    """Record why the next batch is still pending (shown by the lag metric)."""
    with session_scope(engine) as session:
        _mark(session, [r.id for r in _pending(session, batch_size)], last_error=message)


def _link(settings: Settings, record_ids: list[int],
          sources: Mapping[int, Mapping[str, Any]]) -> None:
    """Call the linkage hook for freshly indexed records, if linkage provides one, with the
    documents just written for them."""
    if not record_ids:
        return
    try:
        from linkage.incremental import link_records  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    try:
        link_records(settings, record_ids, sources=sources)
    except Exception:  # linkage failures must not undo indexing; linkage retries its own way
        log.exception("linkage hook failed", extra={"records": len(record_ids)})


def drain(settings: Settings, *, engine: Engine | None = None,
          client: OpenSearch | None = None, batch_size: int = BATCH_SIZE,
          max_batches: int | None = None, link: bool = True) -> DrainResult:
    """Drain until the outbox is empty (or ``max_batches``). Raises IndexUnavailable."""
    engine = engine or engine_for(settings.resolved_database_url)
    client = client or _client_for(settings)
    total = DrainResult()
    try:
        _ensure(client, settings)
    except Exception as exc:
        if _is_unavailable(exc):
            _note_outage(engine, f"opensearch unavailable: {type(exc).__name__}", batch_size)
            raise IndexUnavailable(type(exc).__name__) from exc
        raise
    with relaxed_collector():
        while max_batches is None or total.batches < max_batches:
            result = drain_once(engine, client, settings.index_prefix, batch_size)
            total.add(result)
            if link:
                _link(settings, result.record_ids, result.person_sources)
            if result.batches == 0 or (result.processed == 0 and result.failed):
                break
    return total


def drain_in_process(settings: Settings, **kwargs: Any) -> DrainResult:
    """Best-effort drain for the embedded mode (after `casesearch ingest`, after POST
    /v1/records). Never raises: if OpenSearch is down the changes wait in the outbox."""
    try:
        return drain(settings, **kwargs)
    except IndexUnavailable:
        log.warning("OpenSearch unreachable: changes wait in the outbox")
    except Exception:
        log.exception("outbox drain failed: changes wait in the outbox")
    return DrainResult()


def lag(engine: Engine) -> dict[str, Any]:
    """Pending outbox rows, the age of the oldest, and rows that gave up after MAX_ATTEMPTS."""
    with session_scope(engine) as session:
        pending, oldest = session.execute(
            select(func.count(), func.min(OutboxRow.created_at)).where(
                OutboxRow.processed_at.is_(None), OutboxRow.attempts < MAX_ATTEMPTS)).one()
        failed = session.scalar(select(func.count()).where(
            OutboxRow.processed_at.is_(None), OutboxRow.attempts >= MAX_ATTEMPTS))
        last_error = None
        if pending:
            last_error = session.scalar(
                select(OutboxRow.last_error).where(OutboxRow.processed_at.is_(None),
                                                   OutboxRow.last_error.is_not(None))
                .order_by(OutboxRow.id.desc()).limit(1))
    age = None
    if oldest is not None:
        if oldest.tzinfo is None:  # SQLite returns naive datetimes (stored as UTC)
            oldest = oldest.replace(tzinfo=dt.UTC)
        age = max(0.0, (utcnow() - oldest).total_seconds())
    return {"pending": int(pending or 0), "oldest_pending_age_seconds": age,
            "failed": int(failed or 0), "last_error": last_error}


class OutboxDrainer:
    """A background thread draining the outbox every ``interval`` seconds (embedded mode's
    worker, and the loop `casesearch worker` runs beside Celery). Backs off while OpenSearch
    is down, up to ``max_interval``."""

    def __init__(self, settings: Settings, interval: float = 1.0,
                 max_interval: float = 30.0) -> None:
        self.settings = settings
        self.interval = interval
        self.max_interval = max_interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-drainer", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = self.interval
        while not self._stop.is_set():
            try:
                drain(self.settings)
                delay = self.interval
            except IndexUnavailable:
                delay = min(self.max_interval, delay * 2)
            except Exception:
                log.exception("outbox drainer round failed")
                delay = min(self.max_interval, delay * 2)
            self._wake.wait(delay)
            self._wake.clear()


def attach_drainer(app: Any, settings: Settings, interval: float = 1.0) -> OutboxDrainer:
    """Run an OutboxDrainer for the lifetime of a FastAPI app (embedded mode's worker)."""
    drainer = OutboxDrainer(settings, interval=interval)
    app.router.on_startup.append(drainer.start)
    app.router.on_shutdown.append(drainer.stop)
    app.state.outbox_drainer = drainer
    return drainer
