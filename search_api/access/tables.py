"""Storage for access control and the audit log (migration 0002)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from schemas.tables import Base, IdType, utcnow

GENESIS_HASH = "0" * 64


class AuditRow(Base):
    """One audit entry. Append-only: no code path updates or deletes these rows.

    ``hash`` = sha256(prev_hash + canonical JSON of every other column); ids are assigned
    in order under the ``audit_head`` lock, so the chain has no gaps and never forks.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_event", "event"),
        Index("ix_audit_log_actor", "actor"),
        Index("ix_audit_log_target", "target"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    actor_kind: Mapped[str | None] = mapped_column(String(20))
    auth: Mapped[str | None] = mapped_column(String(60))
    roles: Mapped[list[Any] | None] = mapped_column(JSON)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(100))
    criteria: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Lower-cased text of the criteria values, for "who searched for this person?".
    criteria_text: Mapped[str | None] = mapped_column(Text)
    result_ids: Mapped[list[Any] | None] = mapped_column(JSON)
    result_count: Mapped[int | None] = mapped_column(Integer)
    target: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHeadRow(Base):
    """The single row that points at the newest audit entry; locked to serialise appends."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class ApiKeyRow(Base):
    """An application's API key. Only the SHA-256 hash of the key is stored."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    # Agency codes in scope; NULL means every agency.
    agencies: Mapped[list[Any] | None] = mapped_column(JSON)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
