"""Storage for linkage (migration 0003): link events, record membership history, the review
queue and human constraints.

* ``link_events``: every merge and split, when, why and by whom (None = automatic).
* ``record_memberships``: which person each record belonged to over time (valid_from /
  valid_to), so "the identity of record R as at date D" is one indexed query.
* ``link_reviews``: pairs waiting for (or given) a human decision, with the explanation.
* ``link_constraints``: must_link / cannot_link between two records, from people. They
  survive every re-link, retrain and threshold change; a later decision on the same pair
  supersedes an earlier one (``superseded_at``), never deletes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from schemas.tables import Base, IdType, utcnow

__all__ = [
    "LinkConstraintRow",
    "LinkEventRow",
    "LinkReviewRow",
    "RecordMembershipRow",
    "REVIEW_STATUSES",
]

REVIEW_STATUSES = ("pending", "confirmed", "rejected", "unsure", "obsolete")


class LinkEventRow(Base):
    __tablename__ = "link_events"
    __table_args__ = (
        Index("ix_link_events_person", "person_id"),
        Index("ix_link_events_other", "other_person_id"),
        Index("ix_link_events_at", "at"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # merge: other_person_id was merged into person_id. split: record_ids left person_id
    # for other_person_id (a new identity).
    kind: Mapped[str] = mapped_column(String(12))
    person_id: Mapped[str] = mapped_column(String(40))
    other_person_id: Mapped[str] = mapped_column(String(40))
    record_ids: Mapped[list[Any]] = mapped_column(JSON)
    # auto | review | unlink | reject | full_relink
    source: Mapped[str] = mapped_column(String(20))
    probability: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class RecordMembershipRow(Base):
    __tablename__ = "record_memberships"
    __table_args__ = (
        Index("ix_record_memberships_record", "record_id", "valid_from"),
        Index("ix_record_memberships_person", "person_id"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[str] = mapped_column(String(40))
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[int | None] = mapped_column(BigInteger)


class LinkReviewRow(Base):
    __tablename__ = "link_reviews"
    __table_args__ = (
        UniqueConstraint("record_a", "record_b", name="uq_link_reviews_pair"),
        Index("ix_link_reviews_status", "status", "probability"),
        # A merge finds its records' pending pairs by either side (record_a leads the pair).
        Index("ix_link_reviews_b", "record_b"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    record_a: Mapped[int] = mapped_column(BigInteger)  # record_a < record_b
    record_b: Mapped[int] = mapped_column(BigInteger)
    probability: Mapped[float] = mapped_column(Float)
    match_weight: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(16))
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    explanation: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Why it is queued ("between the review and auto-link thresholds", "safety rule: ...").
    queued_reason: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)  # the reviewer's stated reason
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LinkConstraintRow(Base):
    __tablename__ = "link_constraints"
    __table_args__ = (
        Index("ix_link_constraints_a", "record_a"),
        Index("ix_link_constraints_b", "record_b"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    record_a: Mapped[int] = mapped_column(BigInteger)  # record_a < record_b
    record_b: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(12))  # must_link | cannot_link
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    review_id: Mapped[int | None] = mapped_column(BigInteger)
    superseded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
