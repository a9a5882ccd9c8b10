"""Build OpenSearch documents from SQL rows: the SQL store is the truth, documents are derived.

The person document contract is ``docs/person-document.md``; every key (phonetic codes, date
keys, postcode keys, identifier normalisation) comes from ``analyzers`` so search and linkage
read the same values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session, attributes, lazyload, noload

from analyzers.dates import PartialDate, date_keys, is_placeholder_dob
from analyzers.names import parse_given_name, phonetic_keys
from analyzers.pair_keys import document_pair_keys
from analyzers.postcodes import postcode_keys
from analyzers.text import fold, name_tokens
from schemas.db import chunk_size, in_values
from schemas.tables import (
    AddressRow,
    AgencyRow,
    CaseNoteRow,
    CaseRow,
    IdentifierRow,
    PersonNameRow,
    PersonRecordRow,
    PersonRow,
)

__all__ = [
    "IndexDoc",
    "iter_all_note_docs",
    "iter_all_person_docs",
    "iter_note_doc_chunks",
    "iter_person_doc_chunks",
    "load_note_docs",
    "load_person_docs",
    "note_document",
    "note_ids_for_cases",
    "note_ids_for_records",
    "partial_dob",
    "person_document",
    "resolve_person_ids",
    "source_key_chunks",
    "strictest",
    "subject_key",
]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class IndexDoc:
    """One document to write: its id, external version and body.

    replace_equal: an equal version in the index is overwritten, because the document can
    change without a new version of its row (a merge moves a record; a case's subjects
    change its notes). False for a document written because its own row changed: an equal
    version in the index is that same change, already written, and the write is refused as
    a conflict instead of being indexed again."""

    id: str
    version: int
    source: dict[str, Any]
    replace_equal: bool = True


_SENSITIVITY_ORDER = {"normal": 0, "restricted": 1, "sealed": 2}


def strictest(*levels: str | None) -> str:
    """The strictest of several sensitivities (an unknown value counts as sealed)."""
    known = [lv for lv in levels if lv]
    if any(lv not in _SENSITIVITY_ORDER for lv in known):
        return "sealed"
    return max(known, key=lambda lv: _SENSITIVITY_ORDER[lv]) if known else "normal"


def subject_key(agency: str, source_system: str, source_id: str) -> str:
    return f"{agency}|{source_system}|{source_id}"


def partial_dob(value: dt.date | None, precision: str) -> PartialDate | None:
    """The stored (date, precision) pair as a PartialDate; None when unknown."""
    if value is None or precision == "unknown":
        return None
    if precision == "year":
        return PartialDate(value.year, None, None, "year")
    if precision == "month":
        return PartialDate(value.year, value.month, None, "month")
    return PartialDate.from_date(value)


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _unique(values: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        if v and v not in seen:
            seen[v] = None
    return list(seen)


def _name_values(raw: Iterable[str | None]) -> list[str]:
    """Every spelling of a name as held, plus the joined form of a hyphenated name
    ("Smith-Jones" also as "smithjones") so both typings find it."""
    out: list[str] = []
    for name in raw:
        if not name or not name.strip():
            continue
        out.append(name.strip())
        folded = fold(name)
        if "-" in folded:
            out.append(folded.replace("-", ""))
    return _unique(out)


@lru_cache(maxsize=100_000)
def _token_keys(token: str) -> tuple[str, ...]:
    """Phonetic keys of one token (cached: the same names recur across many records)."""
    codes = phonetic_keys(token)
    # Same form as linkage.features.name_keys: "metaphone:SM0", "nysiis:SNAT".
    return tuple(f"{algo}:{codes[algo]}" for algo in ("metaphone", "nysiis") if codes.get(algo))


def _keys(names: Iterable[str]) -> list[str]:
    keys: list[str] = []
    for name in names:
        for token in name_tokens(name):
            keys.extend(_token_keys(token))
    return _unique(keys)


def person_document(row: PersonRecordRow, agency_kind: str | None = None,
                    person_id: str | None = None) -> dict[str, Any]:
    """The person document of one agency record (docs/person-document.md)."""
    givens_raw = [row.given_names, *(n.given_names for n in row.names)]
    families_raw = [row.family_name, *(n.family_name for n in row.names)]
    # A placeholder given name ("Baby of Smith", "Unborn") is not a name to match on.
    givens_real = [g for g in givens_raw if g and not parse_given_name(g).is_placeholder]
    placeholder = bool(row.given_names) and parse_given_name(row.given_names or "").is_placeholder
    all_given = _name_values(givens_real)
    all_family = _name_values(families_raw)

    dob = partial_dob(row.date_of_birth, row.dob_precision)
    keys = date_keys(dob) if dob else {}

    postcodes: list[str] = []
    outward: list[str] = []
    sector: list[str] = []
    address_lines: list[str] = []
    uprns: list[str] = []
    for address in row.addresses:
        if address.postcode:
            pk = postcode_keys(address.postcode)
            if pk:
                postcodes.append(pk["full"])
                outward.append(pk["outward"])
                sector.append(pk["sector"])
        parts = [str(line) for line in (address.lines or []) if line]
        if address.postcode:
            parts.append(address.postcode)
        if parts:
            address_lines.append(", ".join(parts))
        if address.uprn:
            uprns.append(address.uprn)

    identifiers = [{"type": i.type, "value": i.value, "valid": bool(i.valid)}
                   for i in row.identifiers]
    return {
        "record_id": str(row.id),
        "person_id": person_id or row.person_id,
        "agency": row.agency_code,
        "agency_kind": agency_kind,
        "source_system": row.source_system,
        "source_id": row.source_id,
        "version": int(row.version),
        "sensitivity": row.sensitivity,
        "given_names": row.given_names,
        "family_name": row.family_name,
        "names": [{"type": n.type, "given_names": n.given_names, "family_name": n.family_name}
                  for n in row.names],
        "all_given": all_given,
        "all_family": all_family,
        "given_keys": _keys(givens_real),
        "family_keys": _keys(f for f in families_raw if f),
        "pair_keys": document_pair_keys(all_given, all_family, dob, _unique(sector)),
        "dob": _iso(row.date_of_birth) if dob else None,
        "dob_precision": row.dob_precision if dob else "unknown",
        "dob_full": keys.get("full"),
        "dob_ym": keys.get("ym"),
        "dob_y": keys.get("y"),
        "dob_swapped": keys.get("swapped"),
        "dob_estimated": bool(row.dob_estimated),
        "dob_placeholder": bool(dob and is_placeholder_dob(dob)),
        "expected_birth_date": _iso(row.expected_birth_date),
        "unborn": row.gender == "unborn" or placeholder,
        "gender": row.gender,
        "postcodes": _unique(postcodes),
        "postcode_outward": _unique(outward),
        "postcode_sector": _unique(sector),
        "address_text": address_lines,
        "uprns": _unique(uprns),
        "identifiers": identifiers,
        "identifier_values": _unique(str(i["value"]) for i in identifiers),
        "valid_identifiers": _unique(f"{i['type']}:{i['value']}" for i in identifiers
                                     if i["valid"]),
        "date_of_death": _iso(row.date_of_death),
        "updated_at": _iso(row.updated_at),
    }


def note_document(note: CaseNoteRow, case: CaseRow | None,
                  subjects: Sequence[tuple[int, str | None]]) -> dict[str, Any]:
    """The notes-index document of one case note; ``subjects`` are (record id, person id) of
    the case's person records known so far."""
    subject_ids = list(case.subject_source_ids or []) if case is not None else []
    return {
        "note_id": str(note.id),
        "case_id": str(case.id) if case is not None else None,
        "case_source_id": note.case_source_id,
        "case_number": case.case_number if case is not None else None,
        "record_ids": [str(rid) for rid, _ in subjects],
        "person_ids": _unique(pid for _, pid in subjects),
        "subjects": [subject_key(note.agency_code, note.source_system, s) for s in subject_ids],
        "agency": note.agency_code,
        "source_system": note.source_system,
        "source_id": note.source_id,
        "version": int(note.version),
        # A note is as sensitive as the stricter of itself and its case: the access filter
        # inside every query reads this one field.
        "sensitivity": strictest(note.sensitivity, case.sensitivity if case else None),
        "case_sensitivity": case.sensitivity if case is not None else None,
        "recorded_at": _iso(note.recorded_at),
        "type": note.type,
        "author": note.author,
        "text": note.text,
    }


# --- loading from SQL --------------------------------------------------------------------------


def _agency_kinds(session: Session) -> dict[str, str]:
    return {code: kind for code, kind in session.execute(select(AgencyRow.code, AgencyRow.kind))}


def resolve_person_ids(session: Session, ids: Iterable[str | None]) -> dict[str, str]:
    """Map each person id to the surviving identity, following ``merged_into``."""
    out: dict[str, str] = {}
    pending = {i for i in ids if i}
    parent: dict[str, str | None] = {}
    size = chunk_size(session)
    while pending:
        # pop a chunk: copying the whole pending set each round was quadratic (a 1M re-link
        # resolves ~870,000 person ids, a chunk a round)
        chunk = [pending.pop() for _ in range(min(size, len(pending)))]
        for pid, merged in session.execute(select(PersonRow.id, PersonRow.merged_into)
                                           .where(in_values(session, PersonRow.id, chunk))):
            parent[pid] = merged
            if merged and merged not in parent:
                pending.add(merged)
    for start in list(parent):
        current, hops = start, 0
        while parent.get(current) and hops < 64:  # a cycle would be a data error; stop anyway
            current = parent[current] or current
            hops += 1
        out[start] = current
    return out


def _person_docs(session: Session, rows: Sequence[PersonRecordRow],
                 kinds: dict[str, str]) -> list[IndexDoc]:
    _attach_children(session, rows)
    resolved = resolve_person_ids(session, (r.person_id for r in rows))
    return [IndexDoc(str(r.id), int(r.version),
                     person_document(r, kinds.get(r.agency_code),
                                     resolved.get(r.person_id or "", r.person_id)))
            for r in rows]


# The child rows a document is built from; relationships are not part of it.
_DOCUMENT_CHILDREN: tuple[tuple[str, Any], ...] = (
    ("names", PersonNameRow), ("identifiers", IdentifierRow),
    ("addresses", AddressRow))


def _person_rows_query() -> Any:
    # Children are loaded by _attach_children, not by the relationships' selectin loading:
    # its IN lists of 500 placeholders were re-expanded and re-converted by the driver for
    # every chunk (on PostgreSQL about a tenth of building documents).
    return select(PersonRecordRow).options(
        lazyload(PersonRecordRow.relationships),
        *(noload(getattr(PersonRecordRow, attr)) for attr, _ in _DOCUMENT_CHILDREN))


def _attach_children(session: Session, rows: Sequence[PersonRecordRow]) -> None:
    """Load each row's names, identifiers and addresses in one query per table (id order, as
    the relationships order them) and set them as the rows' loaded collections."""
    if not rows:
        return
    ids = [r.id for r in rows]
    for attr, model in _DOCUMENT_CHILDREN:
        children: dict[int, list[Any]] = {i: [] for i in ids}
        for child in session.scalars(select(model).where(in_values(session, model.record_id, ids))
                                     .order_by(model.id)):
            children[child.record_id].append(child)
        for row in rows:
            attributes.set_committed_value(row, attr, children[row.id])


def iter_person_doc_chunks(session: Session, record_ids: Iterable[int],
                           chunk: int = _CHUNK) -> Iterator[list[IndexDoc]]:
    """Current documents of the given person records, ``chunk`` records at a time (a few SQL
    queries per chunk, whatever its size; missing ids are skipped)."""
    ids = sorted(set(record_ids))
    if not ids:
        return
    kinds = _agency_kinds(session)
    for start in range(0, len(ids), chunk):
        rows = list(session.scalars(_person_rows_query().where(
            in_values(session, PersonRecordRow.id, ids[start:start + chunk]))))
        yield _person_docs(session, rows, kinds)


def load_person_docs(session: Session, record_ids: Iterable[int]) -> list[IndexDoc]:
    """Current documents of the given person records (missing ids are skipped)."""
    return [doc for docs in iter_person_doc_chunks(session, record_ids) for doc in docs]


def iter_all_person_docs(session: Session, chunk: int = _CHUNK) -> Iterator[IndexDoc]:
    """Every person record, in id order, a chunk at a time (keyset pagination)."""
    kinds = _agency_kinds(session)
    last = -1
    while True:
        rows = list(session.scalars(_person_rows_query().where(PersonRecordRow.id > last)
                                    .order_by(PersonRecordRow.id).limit(chunk)))
        if not rows:
            return
        yield from _person_docs(session, rows, kinds)
        last = rows[-1].id
        session.expunge_all()


def source_key_chunks(keys: Iterable[tuple[str, str, str]]
                      ) -> Iterator[tuple[str, str, list[str]]]:
    """(agency, source_system, [source ids]) groups of at most 500 ids.

    Queries written as ``agency = ? AND source_system = ? AND source_id IN (...)`` use the
    unique (agency, source_system, source_id) indexes; a row-value ``IN`` of triples does not
    on SQLite, and scans the whole table.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for agency, system, source_id in keys:
        groups.setdefault((agency, system), []).append(source_id)
    for (agency, system), ids in groups.items():
        unique = sorted(set(ids))
        for start in range(0, len(unique), _CHUNK):
            yield agency, system, unique[start:start + _CHUNK]


def _note_docs(session: Session, notes: Sequence[CaseNoteRow], *,
               replace_equal: bool = True) -> list[IndexDoc]:
    case_keys = {(n.agency_code, n.source_system, n.case_source_id) for n in notes}
    cases: dict[tuple[str, str, str], CaseRow] = {}
    for agency, system, ids in source_key_chunks(case_keys):
        for found in session.scalars(select(CaseRow).where(
                CaseRow.agency_code == agency, CaseRow.source_system == system,
                CaseRow.source_id.in_(ids))):
            cases[(found.agency_code, found.source_system, found.source_id)] = found
    subject_keys = {(c.agency_code, c.source_system, str(s))
                    for c in cases.values() for s in (c.subject_source_ids or [])}
    # Only ids are needed here: no ORM entities (and none of their related rows).
    people: dict[tuple[str, str, str], tuple[int, str | None]] = {}
    for agency, system, ids in source_key_chunks(subject_keys):
        for rid, source_id, pid in session.execute(select(
                PersonRecordRow.id, PersonRecordRow.source_id, PersonRecordRow.person_id).where(
                PersonRecordRow.agency_code == agency, PersonRecordRow.source_system == system,
                PersonRecordRow.source_id.in_(ids))):
            people[(agency, system, source_id)] = (rid, pid)
    resolved = resolve_person_ids(session, (pid for _, pid in people.values()))
    out: list[IndexDoc] = []
    for note in notes:
        case = cases.get((note.agency_code, note.source_system, note.case_source_id))
        subjects = [] if case is None else [
            (people[k][0], resolved.get(people[k][1] or "", people[k][1]))
            for k in ((case.agency_code, case.source_system, str(s))
                      for s in case.subject_source_ids or []) if k in people]
        out.append(IndexDoc(str(note.id), int(note.version),
                            note_document(note, case, subjects), replace_equal))
    return out


def iter_note_doc_chunks(session: Session, note_ids: Iterable[int],
                         chunk: int = _CHUNK, *, replace_equal: bool = True
                         ) -> Iterator[list[IndexDoc]]:
    """Current documents of the given case notes, ``chunk`` notes at a time."""
    ids = sorted(set(note_ids))
    for start in range(0, len(ids), chunk):
        notes = list(session.scalars(select(CaseNoteRow).where(
            CaseNoteRow.id.in_(ids[start:start + chunk]))))
        yield _note_docs(session, notes, replace_equal=replace_equal)


def load_note_docs(session: Session, note_ids: Iterable[int]) -> list[IndexDoc]:
    return [doc for docs in iter_note_doc_chunks(session, note_ids) for doc in docs]


def iter_all_note_docs(session: Session, chunk: int = _CHUNK) -> Iterator[IndexDoc]:
    last = -1
    while True:
        notes = list(session.scalars(select(CaseNoteRow).where(CaseNoteRow.id > last)
                                     .order_by(CaseNoteRow.id).limit(chunk)))
        if not notes:
            return
        yield from _note_docs(session, notes)
        last = notes[-1].id
        session.expunge_all()


def note_ids_for_cases(session: Session, case_ids: Iterable[int]) -> list[int]:
    """Notes whose case is one of ``case_ids`` (a case change re-indexes its notes)."""
    ids = sorted(set(case_ids))
    out: list[int] = []
    for start in range(0, len(ids), _CHUNK):
        keys = [(str(a), str(s), str(i)) for a, s, i in session.execute(select(
            CaseRow.agency_code, CaseRow.source_system, CaseRow.source_id).where(
            CaseRow.id.in_(ids[start:start + _CHUNK])))]
        for agency, system, chunk in source_key_chunks(keys):
            out.extend(session.scalars(select(CaseNoteRow.id).where(
                CaseNoteRow.agency_code == agency, CaseNoteRow.source_system == system,
                CaseNoteRow.case_source_id.in_(chunk))))
    return out


def case_ids_for_records(session: Session, record_ids: Iterable[int]) -> list[int]:
    """Cases whose subjects include one of the person records (matched on the source key)."""
    ids = sorted(set(record_ids))
    out: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        recs = list(session.execute(select(PersonRecordRow.agency_code,
                                           PersonRecordRow.source_system,
                                           PersonRecordRow.source_id).where(
            PersonRecordRow.id.in_(ids[start:start + _CHUNK]))))
        for agency, system, source_id in recs:
            # subject_source_ids is a JSON list: pre-filter on its text, then check exactly.
            escaped = (source_id.replace("\\", "\\\\").replace("%", "\\%")
                       .replace("_", "\\_"))
            pattern = f"%{escaped}%"
            for case_id, subjects in session.execute(
                    select(CaseRow.id, CaseRow.subject_source_ids).where(
                        CaseRow.agency_code == agency, CaseRow.source_system == system,
                        cast(CaseRow.subject_source_ids, String).like(pattern, escape="\\"))):
                if source_id in [str(s) for s in subjects or []]:
                    out.add(case_id)
    return sorted(out)


def note_ids_for_records(session: Session, record_ids: Iterable[int]) -> list[int]:
    return note_ids_for_cases(session, case_ids_for_records(session, record_ids))
