"""PostgreSQL COPY text for prepared rows, written by the parse workers.

The store sends every row through ``COPY ... FROM STDIN`` (``schemas.ingest.staging``). When
the rows crossed from the parse workers as tuples, the reading process unpickled each value
(a date is a constructor call) and then formatted it again for COPY, on the one process that
also waits for the database. Formatted where they are parsed, the rows cross as one bytes
object each, and the reading process only joins them: at 100,000 people the reading process
spends 4.9 CPU-seconds less (11.4 -> 6.5 s with the larger batches), the workers about 2.5 s
more (formatting, less what pickling the lines saves), so the process that waits for the
database is no longer the one that limits the rate (BENCHMARKS.md, Ingestion, session 5).

The text is psycopg's own: the same formatter and dumpers that ``Copy.write_row`` applies to a
tuple, so PostgreSQL stores the same values either way (tests compare them). A child row is
formatted without its record_id, which is known only once its record is stored; the store
puts ``id<TAB>`` in front of it. A record's child rows of one table travel as one bytes
object, their lines one after another: one object to pickle and one to prefix per table
rather than one per row (COPY text escapes every newline inside a value, so each b"\n" in
it ends a line).

SQLite binds tuples: rows are formatted only for a PostgreSQL store (``ParseJob.copy_text``).
"""

from __future__ import annotations

from typing import Any

from schemas.ingest.prepare import Prepared

try:  # psycopg's COPY text formatter (its C version when psycopg-binary is installed)
    from psycopg._copy_base import format_row_text as _format_row_text
    from psycopg.adapt import Transformer

    AVAILABLE = True
except ImportError:  # pragma: no cover - another psycopg layout: the store formats tuples
    AVAILABLE = False

_transformer: Any = None


def _tx() -> Any:
    # One per process: it caches the dumper of each Python type it meets. No connection: the
    # global adapters, which are the ones a connection starts with; text as UTF-8, the only
    # client encoding for which the store asks for this (``usable``).
    global _transformer
    if _transformer is None:
        _transformer = Transformer()
    return _transformer


def line(row: tuple[Any, ...] | bytes) -> bytes:
    """One COPY text line, newline included, as ``Copy.write_row(row)`` sends it."""
    if isinstance(row, bytes):  # formatted already
        return row
    out = bytearray()
    _format_row_text(row, _tx(), out)
    return bytes(out)


def lines(rows: tuple[tuple[Any, ...], ...]) -> bytes:
    """The COPY text lines of ``rows``, one after another (b"" for none)."""
    if not rows:
        return b""
    out = bytearray()
    tx = _tx()
    for row in rows:
        _format_row_text(row, tx, out)
    return bytes(out)


def for_copy(prepared: Prepared) -> Prepared:
    """``prepared`` with its row as a COPY text line and the child rows of each table as
    COPY text lines in one bytes object (without record_id)."""
    if isinstance(prepared.row, bytes):  # formatted already
        return prepared
    children = tuple([lines(kids) for kids in prepared.children])  # type: ignore[arg-type]
    number, entity, key, version, digest = prepared[:5]
    return Prepared(number, entity, key, version, digest, line(prepared.row), children)


def usable(encoding: str) -> bool:
    """Whether rows may be formatted away from the connection that sends them: the
    formatter is there and the connection exchanges text as UTF-8."""
    return AVAILABLE and encoding.replace("-", "").lower() == "utf8"
