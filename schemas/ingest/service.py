"""One ingestion path behind two doors (the CLI and POST /v1/records)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine

from schemas.collector import relaxed_collector
from schemas.ingest.outcome import (
    IngestReport,
    Rejection,
    RejectsWriter,
    rejections_from_validation,
)
from schemas.ingest.pipeline import MIN_PARALLEL_BYTES, default_workers, parse_pool, parse_stream
from schemas.ingest.prepare import Prepared, Record, prepare
from schemas.ingest.readers import FileError, Parsed, open_reader
from schemas.ingest.store import UnknownAgency, known_agencies, upsert_prepared
from schemas.records import AnyRecord

log = logging.getLogger("casesearch.ingest")

# Rows per transaction. Each batch costs a fixed handful of statements and a commit: 4,000
# rather than 1,000 saved about 8 % of PostgreSQL's CPU and 7-19 % of the reading process's
# (20,000 people); memory stays small (a batch is a few MB of prepared rows).
BATCH_SIZE = 4000
_any_record: TypeAdapter[Record] = TypeAdapter(AnyRecord)


def check_agency(engine: Engine, agency: str) -> None:
    known = known_agencies(engine)
    if agency not in known:
        listed = ", ".join(sorted(known)) or "none yet: add one with `casesearch agency add`"
        raise UnknownAgency(f"--agency: unknown agency {agency!r} (known: {listed})")


def _store(engine: Engine, parsed: Iterable[Parsed], rejects: RejectsWriter,
           batch_size: int, on_batch: Callable[[int], None] | None) -> IngestReport:
    """Store the parsed rows in batches, each batch in a thread while the next is gathered.

    One batch at a time is being stored, in file order. The thread mostly waits on the
    database, which leaves this one free to gather the next batch meanwhile; without parse
    workers, where gathering means parsing, that is 20 % more records a second (BENCHMARKS.md,
    Ingestion, session 19). The rejects file reads as if each batch had been stored before
    the next row was read: the rejections the store finds in a batch come before those of the
    rows after it.
    """
    report = IngestReport()
    batch: list[Prepared] = []
    storing: tuple[int, Future[IngestReport]] | None = None
    held: list[Rejection] = []  # rows rejected while the batch before them is stored

    def settle() -> None:
        """Wait for the batch being stored; count and write what it and the rows after it
        rejected. Its error, if it failed, is raised here."""
        nonlocal storing
        if storing is not None:
            size, stored = storing
            storing = None
            outcome = stored.result()
            for r in outcome.rejections:
                rejects.write(r)
            report.add(outcome)
            if on_batch:
                on_batch(size)
        for r in held:
            rejects.write(r)
        held.clear()

    with ThreadPoolExecutor(1, thread_name_prefix="ingest-store") as store:

        def send() -> None:
            """Store the gathered batch, once the one before it is stored."""
            nonlocal storing, batch
            settle()
            storing = (len(batch), store.submit(upsert_prepared, engine, batch))
            batch = []

        try:
            for item in parsed:
                if item.prepared is None:
                    for r in item.rejections[:1] or [Rejection(item.line, "row", "rejected")]:
                        report.reject(r)
                    if storing is None:
                        for r in item.rejections:
                            rejects.write(r)
                    else:
                        held.extend(item.rejections)
                    continue
                batch.append(item.prepared)
                if len(batch) >= batch_size:
                    send()
            if batch:
                send()
            settle()
        except BaseException:
            # Stopped by an error (the file, an interrupt, the store): the batch being stored
            # still ends, committed or not, and what it and the rows after it rejected is
            # written; the error that stopped the ingest is the one raised.
            try:
                settle()
            except Exception as exc:
                log.warning("the batch being stored when the ingest stopped failed too",
                            extra={"error": type(exc).__name__})
            raise
    return report


def copy_text_for(engine: Engine) -> bool:
    """Whether the parse workers should hand the store COPY text (a PostgreSQL store whose
    connections speak UTF-8) rather than tuples."""
    if engine.dialect.name != "postgresql":
        return False
    from schemas.ingest import copytext

    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        encoding = getattr(getattr(driver, "info", None), "encoding", "")
    return copytext.usable(str(encoding))


def workers_for(size: int, workers: int | None) -> int:
    """Parse workers for a file of ``size`` bytes: None means one per core if worth it."""
    if workers is not None:
        return workers
    return default_workers() if size >= MIN_PARALLEL_BYTES else 0


def ingest_file(engine: Engine, path: Path, agency: str, fmt: str,
                rejects_path: Path | None = None, batch_size: int = BATCH_SIZE,
                on_batch: Callable[[int], None] | None = None,
                on_bytes: Callable[[int], None] | None = None,
                workers: int | None = None, pool: Executor | None = None) -> IngestReport:
    """Stream a file into the store. Raises FileError / UnknownAgency for whole-file problems.

    Rows are parsed in ``pool`` if given, else in a pool of ``workers`` processes (default:
    one per core for a large file, none for a small one); either way in file order.
    """
    check_agency(engine, agency)
    if not path.is_file():
        raise FileError(f"FILE: {path} does not exist or is not a file")
    raw, source = open_reader(path, fmt, agency)  # checks the header before any pool starts
    if copy_text_for(engine):
        source.job = dataclasses.replace(source.job, copy_text=True)
    rejects = RejectsWriter(rejects_path)
    try:
        own_workers = 0 if pool is not None else workers_for(path.stat().st_size, workers)
        with parse_pool(own_workers) as own, relaxed_collector():
            items: Iterator[Parsed] = parse_stream(source, pool or own)
            if on_bytes is not None:
                items = _track_bytes(items, raw, on_bytes)
            return _store(engine, items, rejects, batch_size, on_batch)
    finally:
        raw.close()
        rejects.close()


def _track_bytes(reader: Iterator[Parsed], raw: Any, on_bytes: Callable[[int], None]
                 ) -> Iterator[Parsed]:
    for item in reader:
        with contextlib.suppress(OSError, ValueError):
            on_bytes(raw.tell())
        yield item


def ingest_payload(engine: Engine, records: list[Any], agency: str | None = None) -> IngestReport:
    """Validate and store a batch posted to the API; rejected items are reported by index."""
    parsed: list[Parsed] = []
    known = known_agencies(engine)
    for index, data in enumerate(records):
        try:
            record = _any_record.validate_python(data)
        except ValidationError as exc:
            parsed.append(Parsed(index, rejections=rejections_from_validation(index, exc)))
            continue
        if record.source.agency not in known:
            parsed.append(Parsed(index, rejections=[Rejection(
                index, "source.agency", f"unknown agency {record.source.agency!r}",
                record.source.source_id)]))
        elif agency is not None and record.source.agency != agency:
            parsed.append(Parsed(index, rejections=[Rejection(
                index, "source.agency", f"is {record.source.agency!r}, outside your agency "
                f"scope {agency!r}", record.source.source_id)]))
        else:
            parsed.append(Parsed(index, prepare(index, record)))
    report = _store(engine, parsed, RejectsWriter(None), BATCH_SIZE, None)
    # Keep every rejection for the API answer, not just the first per row.
    report.rejections = [r for p in parsed for r in p.rejections] + [
        r for r in report.rejections if r.field == "source.source_id"]
    return report
