"""Identity clusters in SQL: merges, splits, the review queue, human constraints, history.

Person ids are stable: a merge keeps the OLDER person id (``persons.created_at``, then id),
sets ``merged_into`` on the absorbed one (so it stays resolvable) and writes a ``merge`` event;
a split moves records to a new person and writes a ``split`` event. Every move closes the
record's membership row and opens a new one, so ``identity_as_at(record, when)`` is exact.

Every change to a record's person id writes an outbox row (entity ``person_record``) in the
same transaction, so the index catches up.

All functions join the caller's session/transaction; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    String,
    Table,
    and_,
    any_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from linkage.clustering import ClusterPlan, ScoredEdge, plan_clusters
from linkage.features import RecordFeatures, features_from_source
from linkage.model import PairScore
from linkage.tables import (
    LinkConstraintRow,
    LinkEventRow,
    LinkReviewRow,
    RecordMembershipRow,
)
from schemas.db import in_values, is_postgres, value_chunks
from schemas.tables import OutboxRow, PersonRecordRow, PersonRow, table_of, utcnow

__all__ = [
    "LinkConfig",
    "LinkConflict",
    "LinkOutcome",
    "add_constraint",
    "apply_edges",
    "current_persons",
    "identity_as_at",
    "load_features",
    "lock_linkage",
    "members_of",
    "new_person_id",
    "split_records",
]

_CHUNK = 500  # pairs per tuple IN list
_LOCK_KEY = 7_201_311  # pg advisory lock: one linkage transaction at a time


class LinkConflict(ValueError):
    """A human decision that cannot be applied (it contradicts another human decision)."""


@dataclass(frozen=True)
class LinkConfig:
    auto_threshold: float = 0.99
    review_threshold: float = 0.6
    cluster_cap: int = 12

    @classmethod
    def from_settings(cls, settings: Any) -> LinkConfig:
        auto = float(getattr(settings, "link_auto_threshold", 0.99))
        review = float(getattr(settings, "link_review_threshold", 0.6))
        return cls(auto, min(review, auto), int(getattr(settings, "link_cluster_cap", 12)))


@dataclass
class LinkOutcome:
    merges: int = 0
    splits: int = 0
    reviews_queued: int = 0
    refused: int = 0
    records_moved: list[int] = field(default_factory=list)

    def add(self, other: LinkOutcome) -> None:
        self.merges += other.merges
        self.splits += other.splits
        self.reviews_queued += other.reviews_queued
        self.refused += other.refused
        self.records_moved += other.records_moved


def new_person_id() -> str:
    return "P" + uuid.uuid4().hex[:15].upper()


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


# From this many rows PostgreSQL gets one ``UPDATE ... FROM unnest(...)`` a chunk instead of a
# statement a row: a full re-link re-points a record and a person for every one of its
# hundreds of thousands of merges, and each single-row UPDATE cost ~0.1-0.2 ms on its own.
_SET_BASED_AT = 64
_SET_BASED_CHUNK = 10_000


def _unnested(name: str, column: Any) -> Any:
    """One column of rows passed as an array parameter (PostgreSQL zips unnests in a select)."""
    return func.unnest(bindparam(name, type_=ARRAY(column.type)))


def _update_many(session: Session, table: Table, match: str, column: str,
                 pairs: Sequence[tuple[Any, Any]]) -> None:
    """``SET column = new WHERE match = key`` for each (key, new). Distinct keys, none of them
    also a new value (as in every caller), make the rows independent of each other's order."""
    if not pairs:
        return
    key_col, new_col = table.c[match], table.c[column]
    keys = [k for k, _ in pairs]
    if (not is_postgres(session) or len(pairs) < _SET_BASED_AT
            or len(set(keys)) != len(keys)):
        session.execute(update(table).where(key_col == bindparam("k"))
                        .values({column: bindparam("v")}),
                        [{"k": k, "v": v} for k, v in pairs])
        return
    rows = (select(_unnested("keys", key_col).label("k"), _unnested("news", new_col).label("v"))
            .subquery("given"))
    stmt = update(table).where(key_col == rows.c.k).values({column: rows.c.v})
    for start in range(0, len(pairs), _SET_BASED_CHUNK):
        chunk = pairs[start:start + _SET_BASED_CHUNK]
        session.execute(stmt, {"keys": [k for k, _ in chunk], "news": [v for _, v in chunk]})


def lock_linkage(session: Session) -> None:
    """Serialise linkage transactions (PostgreSQL advisory lock; SQLite serialises writers)."""
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


def load_features(session: Session, record_ids: Iterable[int]) -> dict[int, RecordFeatures]:
    """Features of records built from SQL through the indexer's document builder, so they are
    exactly what the index holds."""
    from indexer.documents import load_person_docs

    return {int(doc.id): features_from_source(doc.source)
            for doc in load_person_docs(session, record_ids)}


def _resolve(session: Session, person_ids: Iterable[str]) -> dict[str, str]:
    from indexer.documents import resolve_person_ids

    return resolve_person_ids(session, person_ids)


def current_persons(session: Session, record_ids: Iterable[int]) -> dict[int, str]:
    """The (surviving) person id of each record."""
    ids = sorted(set(record_ids))
    raw: dict[int, str] = {}
    absorbed: set[str] = set()
    for chunk in value_chunks(session, ids):
        # The person's merged_into comes with the record: only the rare record still pointing
        # at an absorbed person needs the chain followed (one query fewer per call).
        for rid, pid, into in session.execute(
                select(PersonRecordRow.id, PersonRecordRow.person_id, PersonRow.merged_into)
                .outerjoin(PersonRow, PersonRow.id == PersonRecordRow.person_id)
                .where(in_values(session, PersonRecordRow.id, chunk))):
            if pid:
                raw[int(rid)] = pid
                if into:
                    absorbed.add(pid)
    resolved = _resolve(session, absorbed) if absorbed else {}
    return {rid: resolved.get(pid, pid) for rid, pid in raw.items()}


def members_of(session: Session, person_ids: Iterable[str]) -> dict[str, list[int]]:
    """Record ids of each person, following merges (absorbed persons' records count)."""
    wanted = sorted(set(person_ids))
    if not wanted:
        return {}
    # Persons merged into a wanted one may still be referenced by records (older rows).
    absorbed: dict[str, str] = {}
    frontier = list(wanted)
    while frontier:
        nxt: list[str] = []
        for chunk in value_chunks(session, frontier):
            for pid, into in session.execute(
                    select(PersonRow.id, PersonRow.merged_into)
                    .where(in_values(session, PersonRow.merged_into, chunk))):
                if pid not in absorbed:
                    absorbed[pid] = str(into)
                    nxt.append(pid)
        frontier = nxt
    out: dict[str, list[int]] = {p: [] for p in wanted}
    all_ids = [*wanted, *absorbed]
    resolved = _resolve(session, all_ids)
    for chunk in value_chunks(session, all_ids):
        for rid, pid in session.execute(
                select(PersonRecordRow.id, PersonRecordRow.person_id)
                .where(in_values(session, PersonRecordRow.person_id, chunk))):
            root = resolved.get(pid, pid)
            if root in out:
                out[root].append(int(rid))
    for v in out.values():
        v.sort()
    return out


_MAX_MERGE_DEPTH = 64  # a longer merged_into chain would be a data error (or a cycle)


@lru_cache(maxsize=2)
def _identities_statement(postgres: bool) -> Any:
    """One statement for what ``current_persons`` + ``members_of`` + ``active_constraints``
    read in five or more: rows ("s", record, surviving person) for the records bound to
    ``ids``; ("m", record, surviving person) for every record of those surviving persons
    (absorbed persons' records count); and ("must_link" | "cannot_link", record_a, record_b
    as text) for the constraints in force touching any of them. Built once: constructing it
    cost more than running it (~3 ms a call)."""
    records, persons = table_of(PersonRecordRow), table_of(PersonRow)

    def bound(column: Any) -> Any:
        return (column == any_(bindparam("ids", type_=ARRAY(records.c.id.type)))
                if postgres else column.in_(bindparam("ids", expanding=True)))

    under = persons.alias("under")

    def next_of(person_id: Any) -> Any:
        # A correlated scalar subquery is always a primary-key lookup; as a join, PostgreSQL
        # hashed every merged person (20,000 after a day's linking at 1M) for each call.
        return (select(persons.c.merged_into).where(persons.c.id == person_id)
                .scalar_subquery())

    up = (select(records.c.id.label("rid"), records.c.person_id.label("pid"),
                 next_of(records.c.person_id).label("nxt"), literal(0).label("depth"))
          .where(bound(records.c.id), records.c.person_id.is_not(None))
          .cte("up", recursive=True))
    up = up.union_all(select(up.c.rid, up.c.nxt, next_of(up.c.nxt), up.c.depth + 1)
                      .where(up.c.nxt.is_not(None), up.c.depth < _MAX_MERGE_DEPTH))
    # The end of each chain: a person not merged into another (or, as before, a person id
    # with no persons row).
    ends = select(up.c.rid, up.c.pid.label("root")).where(up.c.nxt.is_(None)).cte("ends")
    down = (select(ends.c.root.label("pid"), ends.c.root.label("root"),
                   literal(0).label("depth"))
            .distinct().cte("down", recursive=True))
    down = down.union_all(select(under.c.id, down.c.root, down.c.depth + 1)
                          .join(under, under.c.merged_into == down.c.pid)
                          .where(down.c.depth < _MAX_MERGE_DEPTH))
    seeds = select(literal("s").label("kind"), ends.c.rid, ends.c.root)
    members = (select(records.c.id.label("rid"), down.c.root)
               .join(down, records.c.person_id == down.c.pid).cte("members"))
    lc = table_of(LinkConstraintRow)
    cons = select(lc.c.kind, lc.c.record_a, cast(lc.c.record_b, String))
    in_force = lc.c.superseded_at.is_(None)
    # Joins, not IN (subquery): each side is an index lookup per member, where an IN list of
    # a CTE has PostgreSQL scan every constraint ever recorded.
    return union_all(seeds, select(literal("m").label("kind"), members.c.rid, members.c.root),
                     cons.where(in_force, or_(bound(lc.c.record_a), bound(lc.c.record_b))),
                     cons.join(members, lc.c.record_a == members.c.rid).where(in_force),
                     cons.join(members, lc.c.record_b == members.c.rid).where(in_force))


def neighbourhood_of(session: Session, record_ids: Iterable[int]
                     ) -> tuple[dict[int, str], dict[str, list[int]],
                                list[tuple[int, int]], list[tuple[int, int]]]:
    """(surviving person of each record, every record of each of those persons: what
    ``current_persons`` then ``members_of`` return), and the (must_link, cannot_link) pairs
    in force that touch any record returned (``active_constraints``), in one statement per
    chunk: the incremental linker reads a neighbourhood on every call (at 1M people these
    reads were five or more round trips of a ~15-statement transaction)."""
    person_of: dict[int, str] = {}
    groups: dict[str, set[int]] = {}
    found: set[tuple[int, int, str]] = set()
    statement = _identities_statement(is_postgres(session))
    for chunk in value_chunks(session, sorted(set(record_ids))):
        for kind, rid, other in session.execute(statement, {"ids": list(chunk)}):
            if kind == "s":
                person_of[int(rid)] = other
                groups.setdefault(other, set())
            elif kind == "m":
                groups.setdefault(other, set()).add(int(rid))
            else:  # a constraint: kind, record_a, record_b
                found.add((int(rid), int(other), kind))
    return (person_of, {p: sorted(v) for p, v in groups.items()},
            *_must_and_cannot(sorted(found)))


def _must_and_cannot(rows: Sequence[tuple[int, int, str]]
                     ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return ([(a, b) for a, b, k in rows if k == "must_link"],
            [(a, b) for a, b, k in rows if k == "cannot_link"])


def active_constraints(session: Session, record_ids: Iterable[int] | None = None
                       ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(must_link, cannot_link) pairs still in force touching record_ids (all if None)."""
    q = select(LinkConstraintRow.record_a, LinkConstraintRow.record_b, LinkConstraintRow.kind
               ).where(LinkConstraintRow.superseded_at.is_(None))
    rows: list[tuple[int, int, str]] = []
    if record_ids is None:
        rows = [(int(a), int(b), k) for a, b, k in session.execute(q)]
    else:
        ids = sorted(set(record_ids))
        seen: set[tuple[int, int, str]] = set()
        for chunk in value_chunks(session, ids):
            for a, b, k in session.execute(q.where(or_(
                    in_values(session, LinkConstraintRow.record_a, chunk),
                    in_values(session, LinkConstraintRow.record_b, chunk)))):
                seen.add((int(a), int(b), k))
        rows = sorted(seen)
    return _must_and_cannot(rows)


def identity_as_at(session: Session, record_id: int, when: dt.datetime) -> str | None:
    """The person id record_id belonged to at ``when`` (None if it did not exist yet)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    row = session.get(PersonRecordRow, record_id)
    if row is None:
        return None
    rows = list(session.scalars(select(RecordMembershipRow)
                                .where(RecordMembershipRow.record_id == record_id)
                                .order_by(RecordMembershipRow.valid_from,
                                          RecordMembershipRow.id)))
    received = _aware(row.received_at)
    if when < received:
        return None
    for m in rows:
        start, end = _aware(m.valid_from), _aware(m.valid_to) if m.valid_to else None
        if start <= when and (end is None or when < end):
            return m.person_id
    if rows:
        return rows[0].person_id if when < _aware(rows[0].valid_from) else rows[-1].person_id
    return row.person_id


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------


def _move_records(session: Session, moves: Sequence[tuple[Sequence[int], str, int]],
                  now: dt.datetime, roots: Iterable[str] = ()) -> None:
    """Point records at their new person, keep the membership history, write outbox rows.

    moves: (record ids, to person, event id). roots: person ids the caller knows are not
    merged into another (their records need no lookup of where they have been). A handful
    of set-based statements for any number of moves: a full re-link moves tens of thousands
    of records, and one statement per record (or per merge) was most of its time."""
    target: dict[int, tuple[str, int]] = {}
    for record_ids, to_person, event_id in moves:
        for rid in record_ids:
            target[int(rid)] = (to_person, event_id)
    if not target:
        return
    ids = sorted(target)
    rows: list[Any] = []  # Row(id, person_id, received_at, version, has_history)
    members = table_of(RecordMembershipRow)
    has_history = (select(members.c.record_id).where(members.c.record_id == PersonRecordRow.id)
                   .exists().label("has_history"))
    # A few records (an incremental link's) on PostgreSQL: every write below in one statement.
    one_statement = len(ids) < _SET_BASED_AT and is_postgres(session)
    for chunk in value_chunks(session, ids):
        # Only the columns needed: loading whole records (names, identifiers, addresses)
        # was most of the cost of a merge. Whether a record has membership history comes
        # with it: a statement fewer on every merge (each a round trip of an incremental link).
        rows += session.execute(select(PersonRecordRow.id, PersonRecordRow.person_id,
                                       PersonRecordRow.received_at, PersonRecordRow.version,
                                       has_history)
                                .where(in_values(session, PersonRecordRow.id, chunk))).all()
        if not one_statement:
            session.execute(update(members)
                            .where(in_values(session, members.c.record_id, chunk),
                                   members.c.valid_to.is_(None))
                            .values(valid_to=now))
    known = set(roots)
    unknown = {r.person_id for r in rows if r.person_id and r.person_id not in known}
    resolved = _resolve(session, unknown) if unknown else {}
    history: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    for r in rows:
        to_person, event_id = target[int(r.id)]
        if not r.has_history and r.person_id:
            # First move: record where it has been since it arrived.
            history.append({"record_id": r.id,
                            "person_id": resolved.get(r.person_id, r.person_id),
                            "valid_from": r.received_at or now, "valid_to": now,
                            "event_id": None})
        history.append({"record_id": r.id, "person_id": to_person, "valid_from": now,
                        "valid_to": None, "event_id": event_id})
        outbox.append({"entity_type": "person_record", "entity_id": r.id,
                       "version": int(r.version)})
    moved = [(r.id, target[int(r.id)][0]) for r in rows]
    if one_statement and history:
        session.execute(_MOVE_RECORDS, {
            "now": now, "moved_ids": [k for k, _ in moved], "moved_to": [v for _, v in moved],
            "versions": [o["version"] for o in outbox],
            **{f"m_{c}": [h[c] for h in history] for c in _MEMBERSHIP_COLUMNS}})
    elif history:
        session.execute(insert(members), history)
        session.execute(insert(table_of(OutboxRow)), outbox)
        _update_many(session, table_of(PersonRecordRow), "id", "person_id", moved)


def _move_records_statement() -> Any:
    """_move_records' writes for a few records as one PostgreSQL statement, built once so it
    is compiled once: the open memberships closed, the new memberships and the outbox rows
    inserted (data-modifying CTEs), and the records re-pointed. Every CTE sees the
    statement's starting snapshot, so the closing UPDATE never sees the memberships inserted
    beside it. The four statements it replaces cost ~2 ms more a merging incremental link
    (BENCHMARKS.md, Linkage, session 14)."""
    members, records = table_of(RecordMembershipRow), table_of(PersonRecordRow)
    outbox = table_of(OutboxRow)
    now = bindparam("now", type_=members.c.valid_to.type)
    closed = (update(members)
              .where(members.c.record_id == any_(bindparam("moved_ids",
                                                           type_=ARRAY(records.c.id.type))),
                     members.c.valid_to.is_(None))
              .values(valid_to=now))
    opened = insert(members).from_select(
        list(_MEMBERSHIP_COLUMNS),
        select(*[_unnested(f"m_{c}", members.c[c]) for c in _MEMBERSHIP_COLUMNS]))
    queued = insert(outbox).from_select(
        ["entity_type", "entity_id", "version", "created_at", "attempts"],
        select(literal("person_record"), _unnested("moved_ids", records.c.id),
               _unnested("versions", records.c.version),
               now, literal(0)))
    given = select(_unnested("moved_ids", records.c.id).label("k"),
                   _unnested("moved_to", records.c.person_id).label("v")).subquery("moved")
    return (update(records).where(records.c.id == given.c.k).values(person_id=given.c.v)
            .add_cte(closed.cte("closed"), opened.cte("opened"), queued.cte("queued")))


_MEMBERSHIP_COLUMNS = ("record_id", "person_id", "valid_from", "valid_to", "event_id")
_MOVE_RECORDS = _move_records_statement()


def _absorb(session: Session, persons: Table, absorbed: Sequence[tuple[str, str]]) -> None:
    """Point each absorbed person, and the persons merged into it earlier, at its survivor.

    A few merges (an incremental link's) take one statement matching both; a full re-link's
    thousands take the set-based ``_update_many`` per column."""
    if len(absorbed) >= _SET_BASED_AT and is_postgres(session):
        _update_many(session, persons, "merged_into", "merged_into", absorbed)
        _update_many(session, persons, "id", "merged_into", absorbed)
    elif absorbed:
        session.execute(update(persons)
                        .where(or_(persons.c.id == bindparam("k"),
                                   persons.c.merged_into == bindparam("k")))
                        .values(merged_into=bindparam("v")),
                        [{"k": k, "v": v} for k, v in absorbed])


@dataclass(frozen=True)
class MergeGroup:
    """Persons to become one identity, and why (written on each merge event)."""

    person_ids: Sequence[str]
    probability: float | None = None


def merge_groups(session: Session, groups: Sequence[MergeGroup], *, source: str,
                 reason: str | None = None, decided_by: str | None = None,
                 detail: Mapping[str, Any] | None = None,
                 members: Mapping[str, Sequence[int]] | None = None
                 ) -> list[tuple[str, list[int]]]:
    """Merge each group's persons into the oldest of them (created_at, then id).

    members: every record of each person, when the caller has just read them in this
    transaction under the linkage lock (apply_edges has); read here otherwise.

    Returns (survivor, records moved) per group that had two or more existing persons. One
    merge event per absorbed person; the absorbed person keeps ``merged_into`` so its id
    stays resolvable, and persons merged into it earlier point straight at the survivor."""
    session.flush()  # the statements below are Core: pending ORM rows must be written first
    wanted = sorted({p for g in groups for p in g.person_ids})
    persons = table_of(PersonRow)
    created: dict[str, dt.datetime] = {}
    roots: set[str] = set()  # not merged into another: where their records have been
    for chunk in value_chunks(session, wanted):
        q = (select(persons.c.id, persons.c.created_at, persons.c.merged_into)
             .where(in_values(session, persons.c.id, chunk)))
        for pid, at, into in session.execute(q.with_for_update()):
            created[pid] = _aware(at) if at else utcnow()
            if into is None:
                roots.add(pid)
    now = utcnow()
    plans: list[tuple[str, list[str], float | None]] = []
    for g in groups:
        present = sorted({p for p in g.person_ids if p in created},
                         key=lambda p: (created[p], p))
        if len(present) >= 2:
            plans.append((present[0], present[1:], g.probability))
    if not plans:
        return []
    absorbed_ids = [o for _, others, _ in plans for o in others]
    if members is None or any(o not in members for o in absorbed_ids):
        members = members_of(session, absorbed_ids)
    events: list[dict[str, Any]] = [
        {"at": now, "kind": "merge", "person_id": survivor, "other_person_id": other,
         "record_ids": sorted(members.get(other, [])), "source": source,
         "probability": probability, "reason": reason, "decided_by": decided_by,
         "detail": dict(detail) if detail else None}
        for survivor, others, probability in plans for other in others]
    # Core, not the ORM's bulk insert: the same statement without the ORM's per-call
    # bookkeeping (most of the step's time for an incremental link's one event).
    link_events = table_of(LinkEventRow)
    event_ids = list(session.execute(
        insert(link_events).returning(link_events.c.id, sort_by_parameter_order=True),
        events).scalars())
    moves = [(e["record_ids"], e["person_id"], event_id)
             for e, event_id in zip(events, event_ids, strict=True)]
    _move_records(session, moves, now, roots)
    absorbed = [(e["other_person_id"], e["person_id"]) for e in events]
    # Persons merged into an absorbed one earlier now resolve through it; point them straight
    # at the survivor so chains stay short. Then the absorbed persons themselves. (An
    # absorbed person is never a survivor: the groups are disjoint.)
    _absorb(session, persons, absorbed)
    moved: dict[str, list[int]] = {}
    for e in events:
        moved.setdefault(e["person_id"], []).extend(e["record_ids"])
    return [(survivor, sorted(moved.get(survivor, []))) for survivor, _, _ in plans]


def split_records(session: Session, person_id: str, record_ids: Iterable[int], *,
                  source: str, reason: str | None, decided_by: str | None,
                  cannot_link: bool = True) -> str:
    """Move record_ids out of person_id into a new person; by default also record
    cannot-link constraints between them and the records that stay."""
    moving = sorted(set(int(r) for r in record_ids))
    members = members_of(session, [person_id]).get(person_id, [])
    missing = [r for r in moving if r not in members]
    if missing:
        raise LinkConflict(f"records {missing} are not part of person {person_id}")
    staying = [r for r in members if r not in moving]
    if not staying:
        raise LinkConflict("cannot split out every record of a person")
    now = utcnow()
    new_id = new_person_id()
    session.add(PersonRow(id=new_id, created_at=now, merged_into=None))
    session.flush()
    event = LinkEventRow(at=now, kind="split", person_id=person_id, other_person_id=new_id,
                         record_ids=moving, source=source, reason=reason,
                         decided_by=decided_by)
    session.add(event)
    session.flush()
    _move_records(session, [(moving, new_id, event.id)], now)
    if cannot_link and decided_by:
        for a in moving:
            for b in staying:
                add_constraint(session, a, b, "cannot_link", reason=reason,
                               decided_by=decided_by)
    return new_id


def add_constraint(session: Session, a: int, b: int, kind: str, *, reason: str | None,
                   decided_by: str, review_id: int | None = None) -> LinkConstraintRow:
    """Record a human must_link / cannot_link; supersedes earlier constraints on the pair."""
    if kind not in ("must_link", "cannot_link"):
        raise ValueError(f"unknown constraint kind {kind!r}")
    ra, rb = _pair(int(a), int(b))
    if ra == rb:
        raise LinkConflict("a record cannot be constrained against itself")
    now = utcnow()
    session.execute(update(LinkConstraintRow).where(
        and_(LinkConstraintRow.record_a == ra, LinkConstraintRow.record_b == rb,
             LinkConstraintRow.superseded_at.is_(None))).values(superseded_at=now))
    row = LinkConstraintRow(record_a=ra, record_b=rb, kind=kind, reason=reason,
                            decided_by=decided_by, created_at=now, review_id=review_id)
    session.add(row)
    session.flush()
    return row


def _review_values(pair: tuple[int, int], score: PairScore | None, probability: float,
                   queued_reason: str) -> dict[str, Any]:
    """The columns of a pending review pair (shared by the new row and a refreshed one)."""
    return {"record_a": pair[0], "record_b": pair[1], "probability": probability,
            "match_weight": score.match_weight if score is not None else 0.0,
            "grade": score.grade if score is not None else "possible",
            "flags": list(score.flags) if score is not None else [],
            "explanation": score.explanation() if score is not None else [],
            "queued_reason": queued_reason[:400], "status": "pending"}


def _refresh_review(existing: LinkReviewRow, values: Mapping[str, Any]) -> bool:
    """A pending or obsolete pair takes the new score (True when it is reopened); a decided
    pair is left as decided."""
    if existing.status not in ("pending", "obsolete"):
        return False
    reopened = existing.status == "obsolete"
    for name in ("probability", "match_weight", "grade", "flags", "explanation",
                 "queued_reason", "status"):
        setattr(existing, name, values[name])
    existing.updated_at = utcnow()
    return reopened


def queue_review(session: Session, a: int, b: int, score: PairScore | None,
                 probability: float, queued_reason: str) -> bool:
    """Add or refresh a pending review pair; a decided pair is left as decided.
    Returns True when a new pending pair was queued (or an obsolete one reopened)."""
    pair = _pair(a, b)
    values = _review_values(pair, score, probability, queued_reason)
    existing = session.scalar(select(LinkReviewRow).where(LinkReviewRow.record_a == pair[0],
                                                          LinkReviewRow.record_b == pair[1]))
    if existing is not None:
        return _refresh_review(existing, values)
    now = utcnow()
    try:
        # A savepoint: a concurrent linker (the embedded drainer thread, another worker) may
        # queue the same pair between our read and our insert; theirs stands, ours is a no-op.
        with session.begin_nested():
            session.add(LinkReviewRow(**values, created_at=now, updated_at=now))
    except IntegrityError:
        return False
    return True


ReviewItem = tuple[int, int, "PairScore | None", float, str]


def queue_reviews(session: Session, items: Sequence[ReviewItem]) -> int:
    """``queue_review`` for many pairs (a, b, score, probability, reason); returns how many
    were queued or reopened. A full re-link at 1M queues tens of thousands: a read and a
    savepoint per pair made PostgreSQL slower with every subtransaction already in the
    transaction (67 pairs/s falling to 35). Here existing rows are read a chunk at a time
    and new ones inserted a chunk per savepoint; a chunk that meets a concurrent insert is
    redone pair by pair."""
    by_pair: dict[tuple[int, int], tuple[PairScore | None, float, str]] = {}
    for a, b, score, probability, reason in items:
        by_pair[_pair(a, b)] = (score, probability, reason)  # the last wins, as pair by pair
    queued = 0
    for chunk in _chunks(list(by_pair)):
        existing = {(r.record_a, r.record_b): r for r in session.scalars(
            select(LinkReviewRow).where(
                tuple_(LinkReviewRow.record_a, LinkReviewRow.record_b).in_(chunk)))}
        new: list[tuple[int, int]] = []
        rows: list[dict[str, Any]] = []
        now = utcnow()
        for pair in chunk:
            values = _review_values(pair, *by_pair[pair])
            if pair in existing:
                queued += _refresh_review(existing[pair], values)
            else:
                new.append(pair)
                rows.append({**values, "created_at": now, "updated_at": now})
        if not rows:
            continue
        try:
            with session.begin_nested():
                session.execute(insert(LinkReviewRow), rows)
            queued += len(rows)
        except IntegrityError:
            for a, b in new:
                score, probability, reason = by_pair[(a, b)]
                queued += queue_review(session, a, b, score, probability, reason)
    return queued


# Past this many records, read the whole pending queue once rather than by record chunks.
_WHOLE_QUEUE_AT = 20 * _CHUNK


def _obsolete_reviews(session: Session, person_of: Mapping[int, str]) -> None:
    """Pending pairs whose records are now one identity need no decision.

    Core statements reading three columns: loading whole review rows (their JSON
    explanations) as ORM objects cost more than the query on every merging link."""
    session.flush()  # a review queued earlier in this transaction must be seen
    ids = sorted(person_of)
    reviews = table_of(LinkReviewRow)
    pending = (select(reviews.c.id, reviews.c.record_a, reviews.c.record_b)
               .where(reviews.c.status == "pending"))
    if len(ids) > _WHOLE_QUEUE_AT:
        # A full re-link touches every record: one read of the pending queue, not thousands
        # of OR-queries.
        found: list[Any] = list(session.execute(pending))
    else:
        found = [row for chunk in value_chunks(session, ids) for row in session.execute(
            pending.where(or_(in_values(session, reviews.c.record_a, chunk),
                              in_values(session, reviews.c.record_b, chunk))))]
    closed = sorted({review_id for review_id, a, b in found
                     if person_of.get(a) is not None and person_of.get(a) == person_of.get(b)})
    now = utcnow()
    for chunk in value_chunks(session, closed):
        session.execute(update(reviews).where(in_values(session, reviews.c.id, chunk),
                                              reviews.c.status == "pending")
                        .values(status="obsolete", updated_at=now))


def apply_edges(
    session: Session,
    edges: Sequence[ScoredEdge[int]],
    config: LinkConfig,
    *,
    scores: Mapping[tuple[int, int], PairScore] | None = None,
    seeds: Iterable[int] = (),
    source: str = "auto",
    decided_by: str | None = None,
    reason: str | None = None,
) -> LinkOutcome:
    """Cluster the neighbourhood of the edges (and seeds) and apply the plan: merges for
    joined identities, review pairs for the rest. Human constraints are always obeyed."""
    lock_linkage(session)
    involved = {e.a for e in edges} | {e.b for e in edges} | set(seeds)
    if not involved:
        return LinkOutcome()
    # Close the neighbourhood over whole identities and over must-link partners.
    nodes: set[int] = set()
    frontier = set(involved)
    person_of: dict[int, str] = {}
    must: list[tuple[int, int]] = []
    cannot: list[tuple[int, int]] = []
    loaded: dict[str, list[int]] = {}  # every record of each person met on the way
    for _ in range(8):
        if not frontier:
            break
        # Constraints come for the frontier's whole identities (a superset of the new
        # nodes'): the union over the rounds is the same.
        persons, groups, m, c = neighbourhood_of(session, frontier)
        person_of.update(persons)
        loaded.update(groups)
        new_nodes = set(frontier)
        for person, recs in groups.items():
            new_nodes.update(recs)
            person_of.update(dict.fromkeys(recs, person))
        new_nodes -= nodes
        nodes |= new_nodes
        must = sorted(set(must) | set(m))
        cannot = sorted(set(cannot) | set(c))
        frontier = {x for pair in m for x in pair} - nodes
    person_of.update(current_persons(session, nodes - set(person_of)))
    cannot = [(a, b) for a, b in cannot if a in nodes and b in nodes]
    must = [(a, b) for a, b in must if a in nodes and b in nodes]
    groups_by_person: dict[str, list[int]] = {}
    for rid in sorted(nodes):
        if rid in person_of:
            groups_by_person.setdefault(person_of[rid], []).append(rid)
    plan: ClusterPlan[int] = plan_clusters(
        sorted(nodes), [e for e in edges if e.a in nodes and e.b in nodes],
        auto_threshold=config.auto_threshold, review_threshold=config.review_threshold,
        cluster_cap=config.cluster_cap, must_link=must, cannot_link=cannot,
        existing=groups_by_person.values())
    outcome = LinkOutcome()
    best_edge: dict[frozenset[str], ScoredEdge[int]] = {}
    reviews: list[ReviewItem] = []
    for d in plan.decisions:
        if d.outcome == "linked":
            key = frozenset({person_of.get(d.edge.a, ""), person_of.get(d.edge.b, "")})
            best_edge.setdefault(key, d.edge)
        elif d.outcome == "review":
            score = scores.get(_pair(d.edge.a, d.edge.b)) if scores else None
            reviews.append((d.edge.a, d.edge.b, score, d.edge.probability, d.reason))
        elif d.outcome == "refused":
            outcome.refused += 1
    outcome.reviews_queued = queue_reviews(session, reviews)
    # Each linked pair of persons, listed under both: a cluster looks only at its own
    # persons' edges (scanning every edge for every cluster made a full re-link quadratic).
    edges_of: dict[str, list[tuple[frozenset[str], float]]] = {}
    for key, edge in best_edge.items():
        for person in key:
            edges_of.setdefault(person, []).append((key, edge.probability))
    joins: list[MergeGroup] = []
    for cluster in plan.clusters:
        persons_in = sorted({person_of[r] for r in cluster if r in person_of})
        if len(persons_in) < 2:
            continue
        inside = set(persons_in)
        probs = [p for person in persons_in for key, p in edges_of.get(person, ())
                 if key <= inside]
        joins.append(MergeGroup(persons_in, max(probs) if probs else None))
    survivor_of: dict[str, str] = {}
    for (survivor, moved), group in zip(
            merge_groups(session, joins, source=source, reason=reason,
                         decided_by=decided_by, members=loaded),
            joins, strict=True):
        outcome.merges += len(group.person_ids) - 1
        outcome.records_moved += moved
        survivor_of.update(dict.fromkeys(group.person_ids, survivor))
    for r, person in person_of.items():
        person_of[r] = survivor_of.get(person, person)
    if outcome.merges:
        _obsolete_reviews(session, person_of)
    return outcome
