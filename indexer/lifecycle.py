"""Index lifecycle: versioned physical indices behind aliases, created and rebuilt from SQL.

Readers and writers only ever use the aliases ``<prefix>-persons`` and ``<prefix>-notes``; each
points at one physical index ``<prefix>-persons-v<timestamp>``. ``reindex()`` builds new physical
indices from the SQL store, catches up with changes made meanwhile, merges their segments
(``indexer/segments.py``), swaps both aliases in one atomic ``_aliases`` call and deletes the
old indices: searches answer throughout.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import NotFoundError, OpenSearch, TransportError
from sqlalchemy import Engine, func, select

from analyzers.opensearch import notes_index_body, person_dynamic_settings, person_index_body
from indexer.bulk import BulkResult, bulk_index
from indexer.documents import (
    iter_all_note_docs,
    iter_all_person_docs,
    load_note_docs,
    load_person_docs,
    note_ids_for_cases,
)
from indexer.segments import SegmentMergeError, merge_segments
from schemas.collector import relaxed_collector
from schemas.db import session_scope
from schemas.tables import CaseNoteRow, OutboxRow, PersonRecordRow, utcnow

__all__ = [
    "KINDS",
    "IndexNames",
    "ReindexResult",
    "cluster_has_icu",
    "delete_indices",
    "ensure_indices",
    "index_names",
    "reindex",
]

log = logging.getLogger("casesearch.indexer")

KINDS = ("persons", "notes")
_BODIES: dict[str, Callable[[bool], dict[str, Any]]] = {
    "persons": person_index_body,
    "notes": notes_index_body,
}
# Settings that OpenSearch changes on a live index, put on an index an older version built.
_DYNAMIC: dict[str, Callable[[], dict[str, Any]]] = {
    "persons": person_dynamic_settings,
    "notes": dict,
}
# Changes whose outbox row was created up to this long before a reindex started are replayed
# into the new index too: a transaction can commit after a later one (ids are not commit order).
_CATCH_UP_MARGIN = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class IndexNames:
    prefix: str

    @property
    def persons(self) -> str:
        return f"{self.prefix}-persons"

    @property
    def notes(self) -> str:
        return f"{self.prefix}-notes"

    def alias(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def physical(self, kind: str, stamp: str | None = None) -> str:
        stamp = stamp or utcnow().strftime("%Y%m%d%H%M%S%f")
        return f"{self.prefix}-{kind}-v{stamp}"


def index_names(prefix: str) -> IndexNames:
    return IndexNames(prefix)


_icu_lock = threading.Lock()
_icu_cache: dict[str, bool] = {}


def cluster_has_icu(client: OpenSearch) -> bool:
    """Whether the cluster offers the ``icu_folding`` token filter (probed once per client)."""
    key = repr(getattr(client.transport, "hosts", id(client)))
    with _icu_lock:
        if key in _icu_cache:
            return _icu_cache[key]
    try:
        client.indices.analyze(body={"tokenizer": "keyword", "filter": ["icu_folding"],
                                     "text": "Ł"})
        found = True
    except TransportError as exc:
        if not isinstance(exc.status_code, int):
            raise  # connection problem, not an answer
        found = False
    with _icu_lock:
        _icu_cache[key] = found
    return found


def _alias_targets(client: OpenSearch, alias: str) -> list[str]:
    try:
        return sorted(client.indices.get_alias(name=alias))
    except NotFoundError:
        return []


def _create(client: OpenSearch, name: str, kind: str, icu: bool,
            bulk_loading: bool = False) -> None:
    body = _BODIES[kind](icu)
    if bulk_loading:
        body["settings"]["index"]["refresh_interval"] = "-1"
    client.indices.create(index=name, body=body)


def ensure_indices(client: OpenSearch, prefix: str, icu: bool | None = None) -> dict[str, str]:
    """Make sure both aliases exist and point at one physical index each; returns them."""
    names = index_names(prefix)
    out: dict[str, str] = {}
    for kind in KINDS:
        alias = names.alias(kind)
        targets = _alias_targets(client, alias)
        if not targets:
            if client.indices.exists(index=alias):
                raise RuntimeError(f"{alias} is a concrete index, not an alias: it was created "
                                   "outside casesearch; delete it and run `casesearch reindex`")
            use_icu = cluster_has_icu(client) if icu is None else icu
            physical = names.physical(kind)
            body = _BODIES[kind](use_icu)
            body["aliases"] = {alias: {}}
            try:
                client.indices.create(index=physical, body=body)
            except TransportError as exc:
                if exc.status_code != 400 or "already_exists" not in str(exc.error):
                    raise
            targets = _alias_targets(client, alias)
        if len(targets) > 1:
            # Two processes created the first index at the same moment: keep the oldest name.
            keep, extra = targets[0], targets[1:]
            for name in extra:
                with contextlib.suppress(NotFoundError):
                    client.indices.delete(index=name)
            targets = [keep]
        else:
            _add_new_fields(client, targets[0], kind, icu)
            _update_dynamic_settings(client, targets[0], kind)
        out[kind] = targets[0]
    return out


def _add_new_fields(client: OpenSearch, physical: str, kind: str, icu: bool | None) -> None:
    """Fields this version's mapping has and an index built by an older one lacks are added
    (the mapping is strict: without them every new document would be refused). Documents
    already indexed get them only from ``casesearch reindex``, which the log asks for."""
    held = client.indices.get_mapping(index=physical)[physical]["mappings"].get("properties", {})
    wanted = _BODIES[kind](cluster_has_icu(client) if icu is None else icu)
    missing = {k: v for k, v in wanted["mappings"]["properties"].items() if k not in held}
    if not missing:
        return
    try:
        client.indices.put_mapping(index=physical, body={"properties": missing})
    except TransportError as exc:
        log.warning("index %s lacks fields %s and they cannot be added in place (%s): run "
                    "`casesearch reindex`", physical, sorted(missing), exc.status_code)
        return
    log.warning("index %s was built by an older version: fields %s added; run `casesearch "
                "reindex` so the documents already indexed have them", physical, sorted(missing))


def _same_setting(held: object, wanted: object) -> bool:
    try:  # OpenSearch may answer 3 as "3.0"
        return float(str(held)) == float(str(wanted))
    except ValueError:
        return str(held) == str(wanted)


def _update_dynamic_settings(client: OpenSearch, physical: str, kind: str) -> None:
    """Put this version's dynamic settings (merge policy, search concurrency) on an existing
    index that holds other values; they take effect at once, no reindex needed."""
    wanted = {f"index.{k}": v for k, v in _DYNAMIC[kind]().items()}
    if not wanted:
        return
    found = client.indices.get_settings(index=physical, flat_settings=True)
    held = found[physical]["settings"]
    changed = {k: v for k, v in wanted.items()
               if k not in held or not _same_setting(held[k], v)}
    if changed:
        client.indices.put_settings(index=physical, body=changed)
        log.info("index %s: settings %s updated to this version's", physical, sorted(changed))


def delete_indices(client: OpenSearch, prefix: str) -> None:
    """Drop both aliases and every physical index of ``prefix`` (tests and evaluation)."""
    for kind in KINDS:
        pattern = f"{prefix}-{kind}-v*"
        try:
            for name in client.indices.get(index=pattern, allow_no_indices=True,
                                           expand_wildcards="all"):
                client.indices.delete(index=name)
        except NotFoundError:
            pass


@dataclass
class ReindexResult:
    persons: int = 0
    notes: int = 0
    caught_up: int = 0
    new_indices: dict[str, str] = field(default_factory=dict)
    old_indices: list[str] = field(default_factory=list)
    bulk: BulkResult = field(default_factory=BulkResult)


ProgressFn = Callable[[str, int, int], None]  # (phase, advance, total)


def _counts(engine: Engine) -> tuple[int, int]:
    with session_scope(engine) as session:
        persons = session.scalar(select(func.count()).select_from(PersonRecordRow)) or 0
        notes = session.scalar(select(func.count()).select_from(CaseNoteRow)) or 0
    return int(persons), int(notes)


def _catch_up(client: OpenSearch, engine: Engine, targets: dict[str, str],
              since: dt.datetime, after_id: int) -> tuple[int, int, BulkResult]:
    """Re-write the current state of everything changed since ``since`` (or after outbox id
    ``after_id``) into ``targets``. Returns (last outbox id seen, documents written, result)."""
    result = BulkResult()
    with session_scope(engine) as session:
        rows = list(session.execute(
            select(OutboxRow.id, OutboxRow.entity_type, OutboxRow.entity_id).where(
                (OutboxRow.created_at >= since) | (OutboxRow.id > after_id))))
        last = max([after_id, *(r[0] for r in rows)])
        records = {r[2] for r in rows if r[1] == "person_record"}
        cases = {r[2] for r in rows if r[1] == "case"}
        notes = {r[2] for r in rows if r[1] == "case_note"}
        notes |= set(note_ids_for_cases(session, cases))
        person_docs = load_person_docs(session, records)
        note_docs = load_note_docs(session, notes)
    result.add(bulk_index(client, targets["persons"], person_docs))
    result.add(bulk_index(client, targets["notes"], note_docs))
    return last, len(person_docs) + len(note_docs), result


def reindex(client: OpenSearch, engine: Engine, prefix: str, *,
            progress: ProgressFn | None = None, chunk_size: int = 500,
            icu: bool | None = None) -> ReindexResult:
    """Rebuild both indices from SQL behind the aliases, with zero downtime."""
    names = index_names(prefix)
    use_icu = cluster_has_icu(client) if icu is None else icu
    started = utcnow()
    with session_scope(engine) as session:
        start_id = int(session.scalar(select(func.max(OutboxRow.id))) or 0)
    total_persons, total_notes = _counts(engine)
    stamp = started.strftime("%Y%m%d%H%M%S%f")
    new = {kind: names.physical(kind, stamp) for kind in KINDS}
    result = ReindexResult(new_indices=dict(new))
    for kind in KINDS:
        _create(client, new[kind], kind, use_icu, bulk_loading=True)
    try:
        def report(phase: str, total: int) -> Callable[[int], None]:
            return lambda n: progress(phase, n, total) if progress else None

        with session_scope(engine) as session, relaxed_collector():
            res = bulk_index(client, new["persons"], iter_all_person_docs(session, chunk_size),
                             chunk_size=chunk_size, on_chunk=report("persons", total_persons))
            result.bulk.add(res)
            result.persons = res.indexed + res.conflicts
            res = bulk_index(client, new["notes"], iter_all_note_docs(session, chunk_size),
                             chunk_size=chunk_size, on_chunk=report("notes", total_notes))
            result.bulk.add(res)
            result.notes = res.indexed + res.conflicts
        last, written, res = _catch_up(client, engine, new, started - _CATCH_UP_MARGIN,
                                       start_id)
        result.caught_up += written
        result.bulk.add(res)
        merging = report("merging segments", len(KINDS))
        for kind in KINDS:
            try:
                merge_segments(client, new[kind])
            except SegmentMergeError as exc:  # complete, only slower to search: swap anyway
                log.warning("the new index's segments were not merged (%s)", exc)
            merging(1)
        for kind in KINDS:
            client.indices.put_settings(index=new[kind],
                                        body={"index": {"refresh_interval": None}})
            client.indices.refresh(index=new[kind])
        actions: list[dict[str, Any]] = []
        for kind in KINDS:
            alias = names.alias(kind)
            old = _alias_targets(client, alias)
            result.old_indices.extend(old)
            if not old and client.indices.exists(index=alias):
                # A concrete index squatting on the alias name (auto-created by a stray write):
                # remove it in the same atomic call.
                actions.append({"remove_index": {"index": alias}})
            actions.extend({"remove": {"index": o, "alias": alias}} for o in old)
            actions.append({"add": {"index": new[kind], "alias": alias}})
        client.indices.update_aliases(body={"actions": actions})
    except BaseException:
        for name in new.values():
            try:
                client.indices.delete(index=name)
            except Exception:  # best effort: the original error matters more
                log.warning("could not delete the unfinished index", extra={"index": name})
        raise
    # Changes that landed in the old index between the catch-up and the swap.
    _, written, res = _catch_up(client, engine, new, started, last)
    result.caught_up += written
    result.bulk.add(res)
    for name in result.old_indices:
        with contextlib.suppress(NotFoundError):
            client.indices.delete(index=name)
    log.info("reindex finished", extra={"persons": result.persons, "notes": result.notes,
                                        "caught_up": result.caught_up})
    return result
