"""Turn a validated record into the rows the store writes, once, where it was validated.

This runs in the parse workers, so the costly part of storing a record (serialising it,
hashing it, validating its identifiers) is spread over the cores and the store only routes
ready-made rows. A Prepared is plain tuples: cheap to pickle, no pydantic model crosses
processes. Column orders are fixed here; tests check them against schemas.tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

from pydantic import BaseModel

from analyzers.identifiers import IdentifierType, ValidatedIdentifier, validate_identifier
from schemas.ingest.canonical import canonical_writer, reference_json
from schemas.records import Case, CaseNote, PersonRecord

Record = PersonRecord | Case | CaseNote
Key = tuple[str, str, str]
Values = tuple[Any, ...]
ENTITY: dict[type, str] = {PersonRecord: "person_record", Case: "case", CaseNote: "case_note"}

KEY_COLUMNS = ("agency_code", "source_system", "source_id")
_COMMON = ("version", "content_hash", "sensitivity")
# The columns of Prepared.row, per entity. received_at may be None: the store stamps it;
# person_id is a fresh identity, used only if the record turns out to be new.
ROW_COLUMNS: dict[str, tuple[str, ...]] = {
    "person_record": KEY_COLUMNS + _COMMON + (
        "given_names", "family_name", "date_of_birth", "dob_precision", "dob_estimated",
        "dob_disputed", "expected_birth_date", "gender", "ethnicity_code", "date_of_death",
        "payload", "received_at", "person_id"),
    "case": KEY_COLUMNS + _COMMON + (
        "case_number", "type", "status", "opened", "closed", "subject_source_ids", "payload",
        "received_at"),
    "case_note": KEY_COLUMNS + _COMMON + (
        "case_source_id", "author", "recorded_at", "type", "text", "received_at"),
}
# Child rows of a person record, without record_id (known only once stored).
CHILD_COLUMNS: tuple[tuple[str, ...], ...] = (
    ("type", "given_names", "family_name", "from_date", "to_date"),  # person_names
    ("type", "value", "valid", "invalid_reason", "nhs_verification", "from_date",
     "to_date"),  # identifiers
    ("type", "lines", "postcode", "uprn", "from_date", "to_date"),  # addresses
    ("type", "related_source_id"),  # relationships
)
# Columns stored as JSON: their values travel as JSON text.
JSON_COLUMNS = frozenset({"payload", "subject_source_ids", "lines"})


class Prepared(NamedTuple):
    line: int
    entity: str  # person_record | case | case_note
    key: Key  # (agency, source_system, source_id)
    version: int
    digest: str
    # In ROW_COLUMNS[entity] order: a tuple, or for a PostgreSQL store its COPY text line
    # (schemas.ingest.copytext); the child rows then are each table's lines in one bytes
    # object (without record_id).
    row: Values | bytes
    # Person records: per CHILD_COLUMNS table, its rows (tuples), or their COPY text.
    children: tuple[tuple[Values | bytes, ...] | bytes, ...] = ()


def new_person_id() -> str:
    """"P" and 15 upper-case hex digits, the 13th a 4: the shape of the first 15 hex digits
    of a random UUID, as linkage makes them, without building a UUID object."""
    random = os.urandom(7).hex().upper()
    return "P" + random[:12] + "4" + random[12:]


def json_text(value: Any) -> str:
    # What SQLAlchemy's JSON type writes; used for the small JSON columns.
    return json.dumps(value)


# received_at is transport metadata: a replay received later is still the same content.
_NOT_HASHED = {"source": frozenset({"received_at"})}


def text_digest(text: str) -> str:
    """The content hash of a record's canonical text (its payload, for persons and cases)."""
    return hashlib.sha256(text.encode()).hexdigest()


def digest_of(dumped: dict[str, Any]) -> str:
    """Content hash of a record dumped with model_dump(mode="json"): the definition.

    The bytes hashed are the ones hashed before this function existed (sorted keys, default
    separators), so digests already stored still recognise a replay.
    """
    return text_digest(reference_json(dumped, _NOT_HASHED))


# The same text written straight from each record type (schemas.ingest.canonical), or None
# for a type that module cannot write exactly; those are dumped and sorted.
_CANONICAL: dict[type, Callable[[BaseModel], str] | None] = {
    model: canonical_writer(model, _NOT_HASHED) for model in (PersonRecord, Case, CaseNote)}


def canonical_text(record: Record) -> str:
    """The text a record's content hash is taken of (``digest_of``'s), written straight from
    the record: no dump, no sort. A person record's or case's payload is this text too."""
    write = _CANONICAL.get(type(record))
    if write is not None:
        try:
            return write(record)
        except (AttributeError, TypeError, ValueError):  # a value not of its field's type
            pass
    return reference_json(record.model_dump(mode="json"), _NOT_HASHED)


def content_hash(record: Record) -> str:
    """digest_of(record.model_dump(mode="json")), without the dump and the sort."""
    return text_digest(canonical_text(record))


@lru_cache(maxsize=16_384)
def checked_identifier(kind: IdentifierType, value: str) -> ValidatedIdentifier:
    # The same child's NHS number or UPN arrives from several agencies: validate it once.
    return validate_identifier(kind, value)


def prepare(line: int, record: Record) -> Prepared:
    """The digest, the payload and the row tuples of one record.

    The payload (persons and cases) is the very text the digest is taken of: the record's
    JSON with sorted keys, without ``source.received_at`` (the row has its own column). One
    serialisation serves both; a stored row's digest is the sha256 of its payload.
    """
    text = canonical_text(record)
    digest = text_digest(text)
    source = record.source
    # Enum members' _value_, not .value: the same string without the enum property's cost.
    head = (source.agency, source.source_system, source.source_id, source.version, digest,
            record.sensitivity._value_)
    row: Values
    children: tuple[tuple[Values, ...], ...] = ()
    if isinstance(record, PersonRecord):
        row = head + (
            record.given_names, record.family_name, record.date_of_birth,
            record.dob_precision._value_, record.dob_estimated, record.dob_disputed,
            record.expected_birth_date, record.gender._value_, record.ethnicity_code,
            record.date_of_death, text, source.received_at, new_person_id())
        children = _children(record)
    elif isinstance(record, Case):
        row = head + (
            record.case_number, record.type._value_, record.status._value_, record.opened,
            record.closed, json_strings(record.subject_source_ids), text,
            source.received_at)
    else:  # a case note keeps its text in its own column, no payload
        row = head + (record.case_source_id, record.author, record.recorded_at, record.type,
                      record.text, source.received_at)
    return Prepared(line, ENTITY[type(record)], row[:3], source.version, digest, row, children)


def json_strings(values: list[str]) -> str:
    """json_text(values) for a list of strings: the same text, without the encoder's set-up."""
    return "[" + ", ".join(map(encode_basestring_ascii, values)) + "]"


def _children(record: PersonRecord) -> tuple[tuple[Values, ...], ...]:
    idents = []
    for ident in record.identifiers:
        checked = checked_identifier(ident.type, ident.value)
        verification = ident.nhs_verification
        # An invalid identifier is kept and flagged, never dropped.
        idents.append((
            ident.type._value_, (checked.value_normalised or ident.value)[:200], checked.valid,
            checked.reason, verification._value_ if verification else None,
            ident.from_date, ident.to_date))
    return (
        tuple([(n.type._value_, n.given_names, n.family_name, n.from_date, n.to_date)
               for n in record.names]),
        tuple(idents),
        tuple([(a.type._value_, json_strings(a.lines), a.postcode, a.uprn, a.from_date,
                a.to_date) for a in record.addresses]),
        tuple([(r.type._value_, r.related_source_id) for r in record.relationships]),
    )


def stamped(row: Values, columns: tuple[str, ...], now: dt.datetime) -> dict[str, Any]:
    """A row as a dict with received_at defaulted to ``now`` (the Core path binds dicts)."""
    values = dict(zip(columns, row, strict=True))
    values["received_at"] = values["received_at"] or now
    return values
