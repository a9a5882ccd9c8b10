"""The append-only, hash-chained audit log.

Every entry stores ``hash = sha256(prev_hash + canonical JSON of the entry)``; the one-row
``audit_head`` table holds the newest id and hash. Appends lock that row (``SELECT ... FOR
UPDATE`` on PostgreSQL; on SQLite the write transaction is taken first), so ids are gapless and
the chain never forks. There is no update or delete code path, and on PostgreSQL a trigger
refuses UPDATE, DELETE and TRUNCATE of ``audit_log``.

``append`` joins the caller's transaction: the entry commits with the caller's work (or not at
all). Commit promptly after appending: the head lock is held until then.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Request
from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.orm import Session

from schemas.db import session_scope
from schemas.tables import table_of
from search_api.access.principal import Principal
from search_api.access.tables import GENESIS_HASH, AuditHeadRow, AuditRow

HEAD_ID = 1
_EVENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class AuditEvent(StrEnum):
    search = "search"
    match = "match"
    record_view = "record_view"
    person_view = "person_view"
    link_decision = "link_decision"
    unlink = "unlink"
    export = "export"
    sign_in = "sign_in"
    sign_in_failure = "sign_in_failure"
    permission_refused = "permission_refused"
    audit_view = "audit_view"
    apikey_created = "apikey_created"
    apikey_revoked = "apikey_revoked"


def _jsonable(value: Any) -> Any:
    """What the JSON column will give back, so the hash covers exactly what is stored."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _flatten_text(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _flatten_text(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _flatten_text(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def criteria_text(criteria: Any) -> str | None:
    if criteria is None:
        return None
    return " | ".join(" ".join(part.split()) for part in _flatten_text(criteria)).casefold()


def _utc_text(at: dt.datetime) -> str:
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def canonical(row: AuditRow) -> str:
    """The canonical JSON of every column except ``hash`` (sorted keys, no spaces)."""
    entry = {
        "id": row.id, "at": _utc_text(row.at), "event": row.event, "actor": row.actor,
        "actor_name": row.actor_name, "actor_kind": row.actor_kind, "auth": row.auth,
        "roles": row.roles, "client_ip": row.client_ip, "purpose": row.purpose,
        "criteria": row.criteria, "criteria_text": row.criteria_text,
        "result_ids": row.result_ids, "result_count": row.result_count, "target": row.target,
        "reason": row.reason, "detail": row.detail, "prev_hash": row.prev_hash,
    }
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, row: AuditRow) -> str:
    return hashlib.sha256((prev_hash + canonical(row)).encode("utf-8")).hexdigest()


_AUDIT, _HEAD = table_of(AuditRow), table_of(AuditHeadRow)
# The statements of an append, built once (parameters bound per entry): building them per
# call cost about as much as running them.
_TAKE_SQLITE_LOCK = (update(_HEAD).where(_HEAD.c.id == HEAD_ID)
                     .values(last_id=_HEAD.c.last_id))
_LOCK_HEAD = (select(_HEAD.c.last_id, _HEAD.c.last_hash)
              .where(_HEAD.c.id == HEAD_ID).with_for_update())
_INSERT = insert(_AUDIT).values({c.name: bindparam(f"entry_{c.name}", type_=c.type)
                                 for c in _AUDIT.columns})
_MOVE_HEAD = (update(_HEAD)
              .where(_HEAD.c.id == HEAD_ID, _HEAD.c.last_id == bindparam("prev_id"))
              .values(last_id=bindparam("head_id"), last_hash=bindparam("head_hash")))
# PostgreSQL: the insert runs as a CTE of the head's update, one round trip for both.
_INSERT_AND_MOVE_HEAD = _MOVE_HEAD.add_cte(_INSERT.cte("inserted"))


def _lock_head(session: Session) -> tuple[int, str]:
    """The newest entry's id and hash, with the head row locked until the caller commits."""
    if session.get_bind().dialect.name == "sqlite":
        # Take SQLite's write lock before reading the head (a deferred transaction that reads
        # first could not upgrade once another writer committed).
        session.execute(_TAKE_SQLITE_LOCK)
    head = session.execute(_LOCK_HEAD).first()
    if head is None:  # the migration inserts it; this covers a hand-made schema
        session.execute(insert(_HEAD).values(id=HEAD_ID, last_id=0, last_hash=GENESIS_HASH))
        return 0, GENESIS_HASH
    return int(head.last_id), str(head.last_hash)


def _write(session: Session, row: AuditRow, prev_id: int) -> None:
    """Insert the entry and move the head to it: Core statements, on PostgreSQL one. The
    ORM's two flushes and their round trips were most of an audited request's audit cost."""
    params: dict[str, Any] = {f"entry_{c.name}": getattr(row, c.name) for c in _AUDIT.columns}
    params.update(prev_id=prev_id, head_id=row.id, head_hash=row.hash)
    if session.get_bind().dialect.name == "postgresql":
        moved = session.execute(_INSERT_AND_MOVE_HEAD, params)
    else:
        session.execute(_INSERT, params)
        moved = session.execute(_MOVE_HEAD, params)
    if getattr(moved, "rowcount", 1) != 1:  # the head lock makes this unreachable
        raise RuntimeError("audit: the chain head moved while it was locked")


def append(session: Session, *, event: AuditEvent | str, principal: Principal | None,
           purpose: str | None = None, criteria: Any = None,
           result_ids: Iterable[Any] | None = None, count: int | None = None,
           target: str | None = None, reason: str | None = None,
           client_ip: str | None = None, detail: Mapping[str, Any] | None = None) -> AuditRow:
    """Append one entry in the caller's transaction and return it (written, not committed;
    the returned row is not attached to the session).

    ``principal=None`` records an anonymous caller (e.g. a failed sign-in). For a search,
    pass ``result_ids`` (an empty list when nothing was found); ``count`` defaults to its
    length.
    """
    event = str(event)
    if not _EVENT_RE.match(event):
        raise ValueError(f"bad audit event name {event!r}")
    ids = None if result_ids is None else [str(i) for i in result_ids]
    if count is None and ids is not None:
        count = len(ids)
    last_id, last_hash = _lock_head(session)
    row = AuditRow(
        id=last_id + 1,
        at=dt.datetime.now(dt.UTC),
        event=event,
        actor=principal.subject if principal else "anonymous",
        actor_name=principal.display_name if principal else None,
        actor_kind=str(principal.kind) if principal else None,
        auth=principal.auth if principal else None,
        roles=sorted(str(r) for r in principal.roles) if principal else None,
        client_ip=client_ip,
        purpose=purpose,
        criteria=_jsonable(criteria),
        criteria_text=criteria_text(_jsonable(criteria)),
        result_ids=ids,
        result_count=count,
        target=target,
        reason=reason,
        detail=_jsonable(dict(detail)) if detail is not None else None,
        prev_hash=last_hash,
    )
    row.hash = entry_hash(last_hash, row)
    _write(session, row, last_id)
    return row


def append_committed(engine: Engine, **fields: Any) -> int:
    """Append one entry in its own transaction (for refusals and failed sign-ins)."""
    with session_scope(engine) as session:
        return append(session, **fields).id


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    message: str = ""


def verify(engine: Engine) -> VerifyResult:
    """Walk the whole chain: ids gapless from 1, each prev_hash and hash recomputed, and the
    head pointing at the last entry (so entries removed from the end are noticed too)."""
    prev = GENESIS_HASH
    expected_id = 1
    checked = 0
    with Session(engine) as session:
        rows = session.execute(select(AuditRow).order_by(AuditRow.id)
                               .execution_options(yield_per=1000)).scalars()
        for row in rows:
            if row.id != expected_id:
                return VerifyResult(False, checked, expected_id,
                                    f"entry {expected_id} is missing (next is {row.id})")
            if row.prev_hash != prev:
                return VerifyResult(False, checked, row.id,
                                    f"entry {row.id}: prev_hash does not match entry "
                                    f"{row.id - 1}")
            if entry_hash(prev, row) != row.hash:
                return VerifyResult(False, checked, row.id,
                                    f"entry {row.id}: contents do not match its hash")
            prev = row.hash
            expected_id += 1
            checked += 1
        head = session.get(AuditHeadRow, HEAD_ID)
    last_id = expected_id - 1
    if head is not None and (head.last_id != last_id or head.last_hash != prev):
        bad = last_id if head.last_id == last_id else min(head.last_id, last_id) + 1
        return VerifyResult(False, checked, bad,
                            f"the head says the last entry is {head.last_id} but the log "
                            f"ends at {last_id}: entries were removed or altered")
    return VerifyResult(True, checked, None, f"{checked} entries, chain intact")
