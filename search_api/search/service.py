"""Search = retrieve (OpenSearch), re-score (the linkage model), group (one row per child).

Access control is applied twice: ``opensearch_filter(principal)`` is ANDed into every query of
both indices (so sealed or out-of-scope records never reach counts, highlights or
explanations), and ``visibility()`` is checked again on every document on the way out
(restricted records become padlocked minimal hits, without reasons or highlights).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import NotFoundError, OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import TransportError

from analyzers.dates import PartialDate
from linkage.model import ModelParams
from search_api.access.policy import minimal_view, opensearch_filter, visibility
from search_api.access.principal import Principal
from search_api.search.models import (
    ExplanationItem,
    Interpretation,
    NoteHit,
    RecordHit,
    SearchRequest,
    SearchResponse,
    SearchResult,
)
from search_api.search.parsing import FreeText, NameSplit, name_splits, parse_dob, parse_free_text
from search_api.search.query import (
    Criteria,
    notes_query,
    person_query,
    persons_by_ids_query,
    subjects_query,
)
from search_api.search.rescore import QueryShape, Rescorer, Scored, query_features, reasons

__all__ = [
    "SearchEnv",
    "SearchUnavailable",
    "audit_criteria",
    "fetch_size",
    "plan",
    "run_search",
]

MIN_CANDIDATES = 100
MAX_CANDIDATES = 1000
MAX_NOTES = 200
MAX_RECORDS_PER_PAGE = 1000
MAX_NOTES_PER_RESULT = 5


class SearchUnavailable(RuntimeError):
    """OpenSearch did not answer (down, timing out or overloaded)."""


class BadCursor(ValueError):
    pass


@dataclass
class SearchEnv:
    client: OpenSearch
    prefix: str
    principal: Principal
    params: ModelParams
    timeout: float = 5.0

    @property
    def persons_index(self) -> str:
        return f"{self.prefix}-persons"

    @property
    def notes_index(self) -> str:
        return f"{self.prefix}-notes"


@dataclass
class Plan:
    """The request, read: retrieval criteria, query readings for re-scoring, interpretation."""

    criteria: Criteria
    shapes: list[QueryShape]
    interpretation: Interpretation
    notes_text: str | None = None


def fetch_size(page: int, page_size: int) -> int:
    """About ten candidates per result shown, up to the end of the requested page."""
    return max(MIN_CANDIDATES, min(MAX_CANDIDATES, 10 * page_size * page))


def _words(text: str | None) -> list[str]:
    return [w for w in (text or "").split() if w][:6]


def plan(req: SearchRequest) -> Plan:
    free = parse_free_text(req.text) if req.text else FreeText()
    given = _words(req.given_name)
    family = _words(req.family_name)

    dob: PartialDate | None = None
    dob_range = None
    if req.dob:
        dob, dob_range = parse_dob(req.dob)
    elif free.dob or free.dob_range:
        dob, dob_range = free.dob, free.dob_range
    if req.dob_from or req.dob_to:
        lo = req.dob_from or (dob_range[0] if dob_range else None)
        hi = req.dob_to or (dob_range[1] if dob_range else None)
        dob_range = (lo or dt.date(1800, 1, 1), hi or dt.date(2199, 12, 31))
    if dob is None and dob_range and dob_range[0].year == dob_range[1].year and (
            dob_range[0].timetuple().tm_yday == 1
            and (dob_range[1].month, dob_range[1].day) == (12, 31)):
        dob = PartialDate(dob_range[0].year, None, None, "year")  # one whole year

    postcode = req.postcode or free.postcode
    identifier: tuple[str | None, str] | None = None
    if req.identifier is not None:
        kind = req.identifier.type.value if req.identifier.type else None
        identifier = (kind, req.identifier.value)
    elif free.identifier:
        identifier = free.identifier

    criteria = Criteria(
        given=given, family=family, either=list(free.names),
        given_full=req.given_name or None, family_full=req.family_name or None,
        dob=dob, dob_range=dob_range, postcode=postcode, address=req.address,
        identifier=identifier, agencies=list(req.agencies),
    )

    # Readings for re-scoring: structured fields as given; free-text words in each
    # plausible role (added to a structured given/family name only where one is missing).
    splits: list[NameSplit] = []
    if given or family:
        base = NameSplit(" ".join(given) or None, " ".join(family) or None)
        if free.names:
            extra = " ".join(free.names)
            if base.family is None:
                splits.append(NameSplit(base.given, extra))
            if base.given is None:
                splits.append(NameSplit(extra, base.family))
            if base.given and base.family:
                splits.append(NameSplit(f"{base.given} {extra}", base.family))
        else:
            splits.append(base)
            if base.given and base.family:
                # Given name and surname recorded the other way round.
                splits.append(NameSplit(base.family, base.given, swapped=True))
    else:
        splits = name_splits(free.names)
    id_for_model = (identifier[0] or "other", identifier[1]) if identifier else None
    if identifier and identifier[0] is None:
        id_for_model = None  # an untyped value cannot be compared field by field
    shapes = query_features(splits, dob, postcode, id_for_model)

    interpretation = Interpretation(
        given_names=given, family_names=family, names=list(free.names),
        dob=str(dob) if dob else None,
        dob_range=list(dob_range) if dob_range else None,
        postcode=postcode,
        identifier=f"{identifier[0] or 'any'}:{identifier[1]}" if identifier else None,
        ignored=list(free.ignored),
    )
    return Plan(criteria, shapes, interpretation, req.notes_text or None)


def audit_criteria(req: SearchRequest) -> dict[str, Any]:
    """What was searched for, as recorded in the audit log (not in application logs)."""
    return req.model_dump(mode="json", exclude={"purpose", "cursor"}, exclude_none=True,
                          exclude_defaults=True)


# --- OpenSearch calls ---------------------------------------------------------------------------


def _search(env: SearchEnv, index: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        response = env.client.search(index=index, body=body, request_timeout=env.timeout)
    except NotFoundError:
        return []  # nothing indexed yet: the alias does not exist
    except OSConnectionError as exc:
        raise SearchUnavailable(type(exc).__name__) from exc
    except TransportError as exc:
        status = exc.status_code
        if not isinstance(status, int) or status >= 500 or status == 429:
            raise SearchUnavailable(f"{type(exc).__name__} {status}") from exc
        raise
    hits: list[dict[str, Any]] = response.get("hits", {}).get("hits", [])
    return hits


# --- cursor -------------------------------------------------------------------------------------


def _encode_cursor(score: float, person_id: str, page: int) -> str:
    raw = json.dumps([round(score, 9), person_id, page], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        score, person_id, page = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return float(score), str(person_id), int(page)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadCursor("cursor: not a cursor returned by this API") from exc


# --- grouping -----------------------------------------------------------------------------------


@dataclass
class _Group:
    person_id: str
    key_score: float
    best: Scored | None = None
    best_source: dict[str, Any] | None = None
    best_full: Scored | None = None
    best_full_source: dict[str, Any] | None = None
    matched: dict[str, tuple[dict[str, Any], Scored | None]] = field(default_factory=dict)
    notes: list[NoteHit] = field(default_factory=list)


def _view(env: SearchEnv, src: Mapping[str, Any]) -> str:
    return visibility(env.principal, str(src.get("sensitivity") or "sealed"),
                      str(src.get("agency") or ""))


def _record_hit(src: Mapping[str, Any], scored: Scored | None, matched: bool,
                view: str) -> RecordHit:
    full = {
        "record_id": str(src.get("record_id")),
        "agency": src.get("agency"),
        "agency_kind": src.get("agency_kind"),
        "source_system": src.get("source_system"),
        "source_id": src.get("source_id"),
        "given_names": src.get("given_names"),
        "family_name": src.get("family_name"),
        "date_of_birth": _dob_text(src),
        "dob_precision": src.get("dob_precision"),
        "postcodes": list(src.get("postcodes") or []),
        "other_names": [_name_text(n) for n in src.get("names") or []
                        if isinstance(n, Mapping)],
        "matched": matched,
    }
    if scored is not None:
        full.update({"probability": round(scored.score.match_probability, 6),
                     "grade": scored.score.grade, "reasons": reasons(scored.score)})
    if view == "minimal":
        return RecordHit.model_validate(minimal_view(full))
    return RecordHit.model_validate(full)


def _dob_text(src: Mapping[str, Any]) -> str | None:
    dob = src.get("dob")
    if not dob:
        return None
    precision = src.get("dob_precision")
    if precision == "year":
        return str(dob)[:4]
    if precision == "month":
        return str(dob)[:7]
    return str(dob)[:10]


def _name_text(entry: Mapping[str, Any]) -> str:
    name = " ".join(str(p) for p in (entry.get("given_names"), entry.get("family_name")) if p)
    return f"{name} ({entry.get('type') or 'alias'})"


def _notes_phase(env: SearchEnv, text: str, agencies: list[str], filters: list[dict[str, Any]]
                 ) -> tuple[dict[str, list[tuple[float, NoteHit]]], dict[str, str]]:
    """Notes matching ``text``, as {record_id: [(score, hit)]}, and {record_id: person_id}."""
    hits = _search(env, env.notes_index, notes_query(text, filters, agencies, MAX_NOTES))
    by_subject: dict[str, list[tuple[float, NoteHit]]] = {}
    for hit in hits:
        src = hit.get("_source", {})
        view = _view(env, src)
        if view == "hidden":
            continue
        note = NoteHit(
            note_id=str(src.get("note_id")), agency=str(src.get("agency")),
            case_id=src.get("case_id"), recorded_at=src.get("recorded_at"),
            type=src.get("type"),
            highlights=list(hit.get("highlight", {}).get("text", [])) if view == "full" else [],
            restricted=view != "full")
        for subject in src.get("subjects") or []:
            by_subject.setdefault(str(subject), []).append((float(hit.get("_score") or 0), note))
    if not by_subject:
        return {}, {}
    subjects = list(by_subject)[:MAX_NOTES]
    people = _search(env, env.persons_index, subjects_query(subjects, filters, len(subjects) * 2))
    by_record: dict[str, list[tuple[float, NoteHit]]] = {}
    owner: dict[str, str] = {}
    for hit in people:
        src = hit.get("_source", {})
        key = f"{src.get('agency')}|{src.get('source_system')}|{src.get('source_id')}"
        if key in by_subject and src.get("person_id"):
            by_record[str(src["record_id"])] = by_subject[key]
            owner[str(src["record_id"])] = str(src["person_id"])
    return by_record, owner


def run_search(req: SearchRequest, env: SearchEnv) -> SearchResponse:
    started = time.perf_counter()
    p = plan(req)
    filters = opensearch_filter(env.principal)
    page, page_size = req.page, req.page_size
    after: tuple[float, str] | None = None
    if req.cursor:
        score, pid, page = decode_cursor(req.cursor)
        after = (score, pid)
    size = fetch_size(page, page_size)

    note_hits: dict[str, list[tuple[float, NoteHit]]] = {}
    note_owner: dict[str, str] = {}
    if p.notes_text:
        note_hits, note_owner = _notes_phase(env, p.notes_text, p.criteria.agencies, filters)
        p.criteria.record_ids = list(note_hits)[:MAX_CANDIDATES]

    groups: dict[str, _Group] = {}
    scorer = Rescorer(p.shapes, env.params)
    if p.criteria.has_person_criteria:
        if p.criteria.record_ids is not None and not p.criteria.record_ids:
            hits = []
        else:
            hits = _search(env, env.persons_index, person_query(p.criteria, filters, size))
        for hit in hits:
            src = hit.get("_source", {})
            view = _view(env, src)
            pid = src.get("person_id")
            if view == "hidden" or not pid:
                continue
            scored = scorer.score(src)
            weight = scored.score.match_weight
            g = groups.get(pid)
            if g is None:
                g = groups[pid] = _Group(pid, weight)
            g.matched[str(src.get("record_id"))] = (src, scored)
            if g.best is None or weight > g.best.score.match_weight:
                g.best, g.best_source, g.key_score = scored, src, weight
            if view == "full" and (g.best_full is None
                                   or weight > g.best_full.score.match_weight):
                g.best_full, g.best_full_source = scored, src
    else:
        # Notes only: identities ranked by their best matching note.
        for record_id, notes in note_hits.items():
            pid = note_owner[record_id]
            top = max(s for s, _ in notes)
            g = groups.get(pid)
            if g is None:
                g = groups[pid] = _Group(pid, top)
            g.key_score = max(g.key_score, top)
    for record_id, notes in note_hits.items():
        g = groups.get(note_owner.get(record_id, ""))
        if g is None:
            continue
        seen = {n.note_id for n in g.notes}
        for _, note in sorted(notes, key=lambda x: -x[0]):
            if note.note_id not in seen and len(g.notes) < MAX_NOTES_PER_RESULT:
                g.notes.append(note)
                seen.add(note.note_id)

    ordered = sorted(groups.values(), key=lambda g: (-g.key_score, g.person_id))
    if after is not None:
        a_score, a_pid = after
        ordered_after = [g for g in ordered
                         if (round(g.key_score, 9), g.person_id) != (a_score, a_pid)
                         and (-round(g.key_score, 9), g.person_id) > (-a_score, a_pid)]
        page_groups = ordered_after[:page_size]
        remaining = len(ordered_after) - len(page_groups)
    else:
        start = (page - 1) * page_size
        page_groups = ordered[start:start + page_size]
        remaining = len(ordered) - start - len(page_groups)

    results = _build_results(env, scorer, page_groups, filters,
                             note_only=not p.criteria.has_person_criteria)
    next_cursor = None
    if remaining > 0 and page_groups and page < 1000:
        last = page_groups[-1]
        next_cursor = _encode_cursor(last.key_score, last.person_id, page + 1)
    return SearchResponse(
        results=results, page=page, page_size=page_size, total=len(ordered),
        next_cursor=next_cursor, interpreted=p.interpretation,
        took_ms=int((time.perf_counter() - started) * 1000))


def _build_results(env: SearchEnv, scorer: Rescorer, page_groups: Sequence[_Group],
                   filters: list[dict[str, Any]], note_only: bool) -> list[SearchResult]:
    if not page_groups:
        return []
    # Every visible record of each identity on the page, matched or not.
    ids = [g.person_id for g in page_groups]
    linked = _search(env, env.persons_index,
                     persons_by_ids_query(ids, filters, MAX_RECORDS_PER_PAGE))
    records_of: dict[str, list[dict[str, Any]]] = {}
    for hit in linked:
        src = hit.get("_source", {})
        records_of.setdefault(str(src.get("person_id")), []).append(src)
    results = []
    for g in page_groups:
        hits: list[tuple[float, RecordHit]] = []
        seen: set[str] = set()
        for src in records_of.get(g.person_id, []):
            view = _view(env, src)
            if view == "hidden":
                continue
            rid = str(src.get("record_id"))
            seen.add(rid)
            matched = rid in g.matched
            scored = g.matched[rid][1] if matched else (
                None if note_only else scorer.score(src))
            hits.append((scored.score.match_weight if scored else 0.0,
                         _record_hit(src, scored, matched, view)))
        for rid, (src, scored) in g.matched.items():  # indexed after the lookup ran
            view = _view(env, src)
            if rid not in seen and view != "hidden":
                hits.append((scored.score.match_weight if scored else 0.0,
                             _record_hit(src, scored, True, view)))
        hits.sort(key=lambda x: (-x[0], x[1].record_id))
        best = g.best_full
        shown = g.best_full_source or {}
        if not shown:
            shown = next((src for src in records_of.get(g.person_id, [])
                          if note_only and _view(env, src) == "full"), {})
        if not shown:
            # Only padlocked records: name and date of birth, no explanation.
            shown = {k: v for k, v in (g.best_source or {}).items()
                     if k in ("given_names", "family_name", "dob", "dob_precision")}
        top = g.best
        results.append(SearchResult(
            person_id=g.person_id,
            score=round(g.key_score, 4),
            probability=round(top.score.match_probability, 6) if top else None,
            grade=top.score.grade if top else None,
            reasons=(reasons(best.score) if best else
                     (["words found in a case note"] if note_only and g.notes else [])),
            explanation=[ExplanationItem(field=f.field, level=f.level,
                                         weight=round(f.weight, 3), reason=f.reason)
                         for f in sorted(best.score.fields, key=lambda f: -abs(f.weight))]
            if best else [],
            given_names=shown.get("given_names"),
            family_name=shown.get("family_name"),
            date_of_birth=_dob_text(shown),
            records=[h for _, h in hits],
            notes=g.notes,
        ))
    return results
