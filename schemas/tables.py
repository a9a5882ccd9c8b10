"""Storage: SQLAlchemy 2 tables of the system of record (SQLite by default, PostgreSQL in prod).

The SQL store is the truth; OpenSearch is derived from it through the outbox.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from schemas import limits


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def table_of(row_class: Any) -> Table:
    """The Core table of a mapped class (the ORM types ``__table__`` as a FromClause)."""
    table = row_class.__table__
    assert isinstance(table, Table)
    return table


# BigInteger ids on PostgreSQL, INTEGER (rowid alias) on SQLite.
IdType = BigInteger().with_variant(Integer(), "sqlite")

# Keys checked by the store. Records' agency_code (-> agencies.code) and the child rows'
# record_id (-> person_records.id) have no foreign keys: PostgreSQL checks a foreign key one
# row at a time, and those checks were a quarter of its CPU in an ingest (BENCHMARKS.md,
# Ingestion, session 11). Instead:
# * the store locks the agencies of each batch (FOR KEY SHARE, as a foreign key would) and
#   refuses the whole batch if one is unknown (schemas.ingest.store);
# * child rows are written only by the store, in the transaction that writes their record;
# * triggers (migration 0006) refuse deleting or renaming an agency that holds records, and
#   delete a person record's child rows with it (the old ON DELETE CASCADE);
# * ``schemas.integrity.dangling_keys`` counts any row these rules would have refused.
# The identity keys (person_records.person_id, persons.merged_into) keep their foreign keys.


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class AgencyRow(Base):
    __tablename__ = "agencies"
    code: Mapped[str] = mapped_column(String(limits.AGENCY_CODE), primary_key=True)
    name: Mapped[str] = mapped_column(String(limits.AGENCY_NAME))
    kind: Mapped[str] = mapped_column(String(20))


class PersonRow(Base):
    """An identity: the cluster of agency records believed to be one child."""

    __tablename__ = "persons"
    __table_args__ = (Index("ix_persons_merged_into", "merged_into"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set when this identity was merged into an older one; the id stays resolvable.
    merged_into: Mapped[str | None] = mapped_column(String(40), ForeignKey("persons.id"))


class PersonRecordRow(Base):
    __tablename__ = "person_records"
    __table_args__ = (
        UniqueConstraint("agency_code", "source_system", "source_id", name="uq_person_source"),
        Index("ix_person_records_person", "person_id"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # Refers to agencies.code; checked by the store once a batch, not by a foreign key
    # ("Keys checked by the store" above).
    agency_code: Mapped[str] = mapped_column(String(limits.AGENCY_CODE))
    source_system: Mapped[str] = mapped_column(String(limits.SOURCE_SYSTEM))
    source_id: Mapped[str] = mapped_column(String(limits.SOURCE_ID))
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("persons.id"))
    given_names: Mapped[str | None] = mapped_column(String(limits.NAME))
    family_name: Mapped[str | None] = mapped_column(String(limits.NAME))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    dob_precision: Mapped[str] = mapped_column(String(10), default="unknown")
    dob_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    dob_disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    expected_birth_date: Mapped[dt.date | None] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(20), default="not_recorded")
    ethnicity_code: Mapped[str | None] = mapped_column(String(limits.ETHNICITY_CODE))
    date_of_death: Mapped[dt.date | None] = mapped_column(Date)
    sensitivity: Mapped[str] = mapped_column(String(12), default="normal")
    # The full validated wire record, so nothing the agency sent is ever lost: its JSON with
    # sorted keys, without source.received_at (that has its column), the very text
    # content_hash is the sha256 of (schemas.ingest.prepare). Rows written before 2026-11-29
    # hold pydantic's JSON of the record, received_at included.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)

    names: Mapped[list[PersonNameRow]] = relationship(
        primaryjoin="PersonRecordRow.id == foreign(PersonNameRow.record_id)",
        cascade="all, delete-orphan", order_by="PersonNameRow.id", lazy="selectin")
    identifiers: Mapped[list[IdentifierRow]] = relationship(
        primaryjoin="PersonRecordRow.id == foreign(IdentifierRow.record_id)",
        cascade="all, delete-orphan", order_by="IdentifierRow.id", lazy="selectin")
    addresses: Mapped[list[AddressRow]] = relationship(
        primaryjoin="PersonRecordRow.id == foreign(AddressRow.record_id)",
        cascade="all, delete-orphan", order_by="AddressRow.id", lazy="selectin")
    relationships: Mapped[list[RelationshipRow]] = relationship(
        primaryjoin="PersonRecordRow.id == foreign(RelationshipRow.record_id)",
        cascade="all, delete-orphan", order_by="RelationshipRow.id", lazy="selectin")


class PersonNameRow(Base):
    __tablename__ = "person_names"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(IdType, index=True)  # person_records.id
    type: Mapped[str] = mapped_column(String(12))
    given_names: Mapped[str | None] = mapped_column(String(limits.NAME))
    family_name: Mapped[str | None] = mapped_column(String(limits.NAME))
    from_date: Mapped[dt.date | None] = mapped_column(Date)
    to_date: Mapped[dt.date | None] = mapped_column(Date)


class IdentifierRow(Base):
    __tablename__ = "identifiers"
    __table_args__ = (Index("ix_identifiers_value", "type", "value"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(IdType, index=True)  # person_records.id
    type: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(limits.IDENTIFIER_VALUE))
    valid: Mapped[bool] = mapped_column(Boolean)
    invalid_reason: Mapped[str | None] = mapped_column(String(200))
    nhs_verification: Mapped[str | None] = mapped_column(String(20))
    from_date: Mapped[dt.date | None] = mapped_column(Date)
    to_date: Mapped[dt.date | None] = mapped_column(Date)


class AddressRow(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(IdType, index=True)  # person_records.id
    type: Mapped[str] = mapped_column(String(12))
    lines: Mapped[list[Any]] = mapped_column(JSON)
    postcode: Mapped[str | None] = mapped_column(String(limits.POSTCODE), index=True)
    uprn: Mapped[str | None] = mapped_column(String(limits.UPRN))
    from_date: Mapped[dt.date | None] = mapped_column(Date)
    to_date: Mapped[dt.date | None] = mapped_column(Date)


class RelationshipRow(Base):
    __tablename__ = "relationships"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(IdType, index=True)  # person_records.id
    type: Mapped[str] = mapped_column(String(20))
    # Resolved against the same agency and source system when read.
    related_source_id: Mapped[str] = mapped_column(String(limits.SOURCE_ID))


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("agency_code", "source_system", "source_id", name="uq_case_source"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # Refers to agencies.code; checked by the store once a batch, not by a foreign key
    # ("Keys checked by the store" above).
    agency_code: Mapped[str] = mapped_column(String(limits.AGENCY_CODE))
    source_system: Mapped[str] = mapped_column(String(limits.SOURCE_SYSTEM))
    source_id: Mapped[str] = mapped_column(String(limits.SOURCE_ID))
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))
    case_number: Mapped[str | None] = mapped_column(String(limits.CASE_NUMBER))
    type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(10))
    opened: Mapped[dt.date | None] = mapped_column(Date)
    closed: Mapped[dt.date | None] = mapped_column(Date)
    sensitivity: Mapped[str] = mapped_column(String(12), default="normal")
    subject_source_ids: Mapped[list[Any]] = mapped_column(JSON)
    # The record as hashed (schemas.ingest.prepare): its JSON with sorted keys, without
    # source.received_at (the column above); content_hash is the sha256 of this text. Rows
    # written before 2026-11-29 hold pydantic's JSON of the record, received_at included.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class CaseNoteRow(Base):
    __tablename__ = "case_notes"
    __table_args__ = (
        UniqueConstraint("agency_code", "source_system", "source_id", name="uq_note_source"),
        Index("ix_case_notes_case", "agency_code", "source_system", "case_source_id"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # Refers to agencies.code; checked by the store once a batch, not by a foreign key
    # ("Keys checked by the store" above).
    agency_code: Mapped[str] = mapped_column(String(limits.AGENCY_CODE))
    source_system: Mapped[str] = mapped_column(String(limits.SOURCE_SYSTEM))
    source_id: Mapped[str] = mapped_column(String(limits.SOURCE_ID))
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))
    case_source_id: Mapped[str] = mapped_column(String(limits.SOURCE_ID))
    author: Mapped[str | None] = mapped_column(String(limits.AUTHOR))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    type: Mapped[str] = mapped_column(String(limits.NOTE_TYPE))
    text: Mapped[str] = mapped_column(Text)
    sensitivity: Mapped[str] = mapped_column(String(12), default="normal")


class OutboxRow(Base):
    """Changes waiting to reach OpenSearch, written in the same transaction as the change."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "processed_at", "id"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    entity_type: Mapped[str] = mapped_column(String(20))  # person_record | case | case_note
    entity_id: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
