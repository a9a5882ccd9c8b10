"""The audit log for auditors: ``GET /v1/audit`` (JSON pages) and ``GET /v1/audit.csv``.

Both are filtered by person searched for (criteria text or person id), user, event type and
date range. Reading the log is itself audited (``audit_view``; the CSV as ``export``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.orm import Session

from schemas.db import session_scope
from search_api.access.policy import AUDIT_ROLES, require_roles
from search_api.access.principal import Principal
from search_api.access.tables import AuditRow
from search_api.audit.log import AuditEvent, append, client_ip
from search_api.deps import get_state
from search_api.state import AppState

router = APIRouter(prefix="/v1", tags=["audit"])

Auditor = Annotated[Principal, Depends(require_roles(*AUDIT_ROLES))]
State = Annotated[AppState, Depends(get_state)]

CSV_COLUMNS = ["id", "at", "event", "actor", "actor_name", "actor_kind", "auth", "roles",
               "client_ip", "purpose", "criteria", "result_count", "result_ids", "target",
               "reason", "detail", "prev_hash", "hash"]


class AuditFilters:
    def __init__(
        self,
        person: Annotated[str | None, Query(
            max_length=200, description="person searched for: text of the search criteria, "
            "or a person/record id")] = None,
        user: Annotated[str | None, Query(max_length=200,
                                          description="who: subject or name")] = None,
        event: Annotated[list[str] | None, Query(
            description="event types (repeatable)")] = None,
        date_from: Annotated[str | None, Query(
            alias="from", max_length=40,
            description="from this date (YYYY-MM-DD) or ISO time, inclusive; UTC")] = None,
        date_to: Annotated[str | None, Query(
            alias="to", max_length=40,
            description="to this date (inclusive) or ISO time (exclusive); UTC")] = None,
    ) -> None:
        self.person = person.strip() if person and person.strip() else None
        self.user = user.strip() if user and user.strip() else None
        self.event = [e for e in (event or []) if e]
        self.date_from = _when(date_from, "from")
        self.date_to = _when(date_to, "to")

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in {
            "person": self.person, "user": self.user, "event": self.event or None,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None}.items() if v is not None}


def _when(value: str | None, name: str) -> dt.datetime | dt.date | None:
    """A date (``2025-01-31``) or an ISO date-time (``2025-01-31T10:00:00Z``)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, f"{name}: expected YYYY-MM-DD or an ISO date-time") from None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _bound(value: dt.datetime | dt.date, *, end: bool, sqlite: bool) -> dt.datetime:
    if isinstance(value, dt.datetime):
        at = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    else:
        at = dt.datetime.combine(value + dt.timedelta(days=1) if end else value, dt.time(),
                                 tzinfo=dt.UTC)
    at = at.astimezone(dt.UTC)
    # SQLite keeps timestamps as naive UTC text: compare like with like.
    return at.replace(tzinfo=None) if sqlite else at


def filtered(query: Select[tuple[AuditRow]], f: AuditFilters, sqlite: bool
             ) -> Select[tuple[AuditRow]]:
    if f.person:
        pattern = f"%{_like_escape(f.person.casefold())}%"
        id_pattern = f'%"{_like_escape(f.person)}"%'
        query = query.where(or_(
            AuditRow.criteria_text.like(pattern, escape="\\"),
            AuditRow.target == f.person,
            cast(AuditRow.result_ids, String).like(id_pattern, escape="\\")))
    if f.user:
        query = query.where(or_(AuditRow.actor == f.user,
                                func.lower(AuditRow.actor_name) == f.user.casefold()))
    if f.event:
        query = query.where(AuditRow.event.in_(f.event))
    if f.date_from is not None:
        query = query.where(AuditRow.at >= _bound(f.date_from, end=False, sqlite=sqlite))
    if f.date_to is not None:
        query = query.where(AuditRow.at < _bound(f.date_to, end=True, sqlite=sqlite))
    return query


def _at(row: AuditRow) -> str:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def entry_dict(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id, "at": _at(row), "event": row.event, "actor": row.actor,
        "actor_name": row.actor_name, "actor_kind": row.actor_kind, "auth": row.auth,
        "roles": row.roles, "client_ip": row.client_ip, "purpose": row.purpose,
        "criteria": row.criteria, "result_count": row.result_count,
        "result_ids": row.result_ids, "target": row.target, "reason": row.reason,
        "detail": row.detail, "prev_hash": row.prev_hash, "hash": row.hash,
    }


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


@router.get("/audit", summary="Audit log entries, newest first (auditors only)")
def list_audit(
    request: Request,
    filters: Annotated[AuditFilters, Depends()],
    principal: Auditor,
    state: State,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(
        ge=1, description="page on: entries older than this")] = None,
) -> dict[str, Any]:
    with session_scope(state.engine) as session:
        query = filtered(select(AuditRow), filters, _is_sqlite(session))
        if before_id is not None:
            query = query.where(AuditRow.id < before_id)
        rows = list(session.scalars(query.order_by(AuditRow.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        entries = [entry_dict(r) for r in rows]
        append(session, event=AuditEvent.audit_view, principal=principal,
               criteria={**filters.as_dict(), "before_id": before_id, "limit": limit},
               count=len(entries), client_ip=client_ip(request), target="audit_log")
    return {"entries": entries, "next_before_id": rows[-1].id if more and rows else None}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # no spreadsheet formulas from user-typed criteria
    return value


@router.get("/audit.csv", summary="Export audit log entries as CSV (auditors only; audited)",
            response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def export_audit(
    request: Request,
    filters: Annotated[AuditFilters, Depends()],
    principal: Auditor,
    state: State,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    with session_scope(state.engine) as session:
        query = filtered(select(AuditRow), filters, _is_sqlite(session))
        rows = list(session.scalars(query.order_by(AuditRow.id).limit(limit)))
        for row in rows:
            entry = entry_dict(row)
            writer.writerow([_cell(entry[c]) for c in CSV_COLUMNS])
        append(session, event=AuditEvent.export, principal=principal,
               criteria={**filters.as_dict(), "limit": limit, "format": "csv"},
               count=len(rows), client_ip=client_ip(request), target="audit_log")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'})


__all__ = ["router"]
