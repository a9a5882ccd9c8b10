"""Everything known about one identity, read from the SQL store (the truth), filtered by what
the caller may see: linked agency records, names and addresses over time, identifiers,
relationships, cases and a cross-agency timeline of case notes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from indexer.documents import resolve_person_ids, source_key_chunks, strictest
from schemas.tables import AgencyRow, CaseNoteRow, CaseRow, PersonRecordRow, PersonRow
from search_api.access.policy import minimal_view, visibility
from search_api.access.principal import Principal

__all__ = ["PersonView", "build_person_view"]

_CHUNK = 500
MAX_TIMELINE = 2000


class RecordSummary(BaseModel):
    record_id: str
    agency: str | None = None
    agency_name: str | None = None
    agency_kind: str | None = None
    source_system: str | None = None
    source_id: str | None = None
    version: int | None = None
    given_names: str | None = None
    family_name: str | None = None
    date_of_birth: str | None = None
    dob_precision: str | None = None
    dob_estimated: bool | None = None
    gender: str | None = None
    date_of_death: str | None = None
    sensitivity: str | None = None
    updated_at: dt.datetime | None = None
    restricted: bool = False


class NameOverTime(BaseModel):
    record_id: str
    agency: str
    type: str
    given_names: str | None = None
    family_name: str | None = None
    from_date: dt.date | None = None
    to_date: dt.date | None = None


class AddressOverTime(BaseModel):
    record_id: str
    agency: str
    type: str
    lines: list[str] = Field(default_factory=list)
    postcode: str | None = None
    uprn: str | None = None
    from_date: dt.date | None = None
    to_date: dt.date | None = None


class IdentifierView(BaseModel):
    record_id: str
    agency: str
    type: str
    value: str
    valid: bool
    invalid_reason: str | None = None


class RelationshipView(BaseModel):
    record_id: str
    agency: str
    type: str
    related_source_id: str
    related_record_id: str | None = None
    related_person_id: str | None = None
    related_name: str | None = None


class CaseView(BaseModel):
    case_id: str
    agency: str
    case_number: str | None = None
    type: str
    status: str
    opened: dt.date | None = None
    closed: dt.date | None = None
    record_ids: list[str] = Field(default_factory=list)
    restricted: bool = False


class TimelineEntry(BaseModel):
    note_id: str
    case_id: str | None = None
    agency: str
    recorded_at: dt.datetime
    type: str | None = None
    author: str | None = None
    text: str | None = None
    restricted: bool = False


class PersonView(BaseModel):
    person_id: str = Field(..., description="the surviving identity id")
    requested_id: str
    merged_ids: list[str] = Field(default_factory=list,
                                  description="identities merged into this one")
    records: list[RecordSummary]
    names: list[NameOverTime]
    addresses: list[AddressOverTime]
    identifiers: list[IdentifierView]
    relationships: list[RelationshipView]
    cases: list[CaseView]
    timeline: list[TimelineEntry]
    timeline_truncated: bool = False


def _identity_ids(session: Session, person_id: str) -> tuple[str, list[str]] | None:
    """(surviving id, every id merged into it, directly or not); None if unknown."""
    if session.get(PersonRow, person_id) is None:
        return None
    canonical = resolve_person_ids(session, [person_id]).get(person_id, person_id)
    members = {canonical}
    frontier = [canonical]
    while frontier:
        rows = list(session.scalars(select(PersonRow.id).where(
            PersonRow.merged_into.in_(frontier[:_CHUNK]))))
        frontier = frontier[_CHUNK:] + [r for r in rows if r not in members]
        members.update(rows)
    return canonical, sorted(members - {canonical})


def _dob_text(row: PersonRecordRow) -> str | None:
    if row.date_of_birth is None or row.dob_precision == "unknown":
        return None
    iso = row.date_of_birth.isoformat()
    return {"year": iso[:4], "month": iso[:7]}.get(row.dob_precision, iso)


View = Literal["full", "minimal", "hidden"]


def _effective_view(principal: Principal, sensitivity: str, agency: str,
                    break_glass: bool) -> View:
    view: View = visibility(principal, sensitivity, agency)
    if view == "minimal" and break_glass:
        return "full"  # a stated, audited reason opens a restricted record
    return view


def _cases_for(session: Session, records: Iterable[PersonRecordRow]) -> dict[int, CaseRow]:
    out: dict[int, CaseRow] = {}
    for rec in records:
        escaped = (rec.source_id.replace("\\", "\\\\").replace("%", "\\%")
                   .replace("_", "\\_"))
        for case in session.scalars(select(CaseRow).where(
                CaseRow.agency_code == rec.agency_code,
                CaseRow.source_system == rec.source_system,
                cast(CaseRow.subject_source_ids, String).like(f"%{escaped}%", escape="\\"))):
            if rec.source_id in [str(s) for s in case.subject_source_ids or []]:
                out[case.id] = case
    return out


def build_person_view(session: Session, principal: Principal, person_id: str,
                      break_glass: bool = False) -> PersonView | None:
    """The identity as this caller may see it; None when unknown or nothing is visible."""
    ids = _identity_ids(session, person_id)
    if ids is None:
        return None
    canonical, merged = ids
    all_ids = [canonical, *merged]
    rows: list[PersonRecordRow] = []
    for start in range(0, len(all_ids), _CHUNK):
        rows.extend(session.scalars(select(PersonRecordRow).where(
            PersonRecordRow.person_id.in_(all_ids[start:start + _CHUNK]))
            .order_by(PersonRecordRow.id)))
    agencies = {a.code: a for a in session.scalars(select(AgencyRow))}

    records: list[RecordSummary] = []
    full_rows: list[PersonRecordRow] = []
    for row in rows:
        view = _effective_view(principal, row.sensitivity, row.agency_code, break_glass)
        if view == "hidden":
            continue
        agency = agencies.get(row.agency_code)
        summary = {
            "record_id": str(row.id), "agency": row.agency_code,
            "agency_name": agency.name if agency else None,
            "agency_kind": agency.kind if agency else None,
            "source_system": row.source_system, "source_id": row.source_id,
            "version": row.version, "given_names": row.given_names,
            "family_name": row.family_name, "date_of_birth": _dob_text(row),
            "dob_precision": row.dob_precision, "dob_estimated": row.dob_estimated,
            "gender": row.gender,
            "date_of_death": row.date_of_death.isoformat() if row.date_of_death else None,
            "sensitivity": row.sensitivity, "updated_at": row.updated_at,
        }
        if view == "minimal":
            records.append(RecordSummary.model_validate(minimal_view(summary)))
        else:
            records.append(RecordSummary.model_validate(summary))
            full_rows.append(row)
    if not records:
        return None

    names: list[NameOverTime] = []
    addresses: list[AddressOverTime] = []
    identifiers: list[IdentifierView] = []
    relationships: list[RelationshipView] = []
    for row in full_rows:
        rid, ag = str(row.id), row.agency_code
        if row.given_names or row.family_name:
            names.append(NameOverTime(record_id=rid, agency=ag, type="current",
                                      given_names=row.given_names,
                                      family_name=row.family_name))
        names.extend(NameOverTime(record_id=rid, agency=ag, type=n.type,
                                  given_names=n.given_names, family_name=n.family_name,
                                  from_date=n.from_date, to_date=n.to_date)
                     for n in row.names)
        addresses.extend(AddressOverTime(record_id=rid, agency=ag, type=a.type,
                                         lines=[str(x) for x in a.lines or []],
                                         postcode=a.postcode, uprn=a.uprn,
                                         from_date=a.from_date, to_date=a.to_date)
                         for a in row.addresses)
        identifiers.extend(IdentifierView(record_id=rid, agency=ag, type=i.type, value=i.value,
                                          valid=i.valid, invalid_reason=i.invalid_reason)
                           for i in row.identifiers)
    # Relationships point at another record of the same agency and source system.
    wanted = {(row.agency_code, row.source_system, r.related_source_id)
              for row in full_rows for r in row.relationships}
    related: dict[tuple[str, str, str], PersonRecordRow] = {}
    for code, system, source_ids in source_key_chunks(wanted):
        for rec in session.scalars(select(PersonRecordRow).where(
                PersonRecordRow.agency_code == code, PersonRecordRow.source_system == system,
                PersonRecordRow.source_id.in_(source_ids))):
            related[(rec.agency_code, rec.source_system, rec.source_id)] = rec
    resolved = resolve_person_ids(session, (r.person_id for r in related.values()))
    for row in full_rows:
        for rel in row.relationships:
            target = related.get((row.agency_code, row.source_system, rel.related_source_id))
            visible = target is not None and _effective_view(
                principal, target.sensitivity, target.agency_code, False) == "full"
            relationships.append(RelationshipView(
                record_id=str(row.id), agency=row.agency_code, type=rel.type,
                related_source_id=rel.related_source_id,
                related_record_id=str(target.id) if target is not None and visible else None,
                related_person_id=(resolved.get(target.person_id or "", target.person_id)
                                   if target is not None and visible else None),
                related_name=(" ".join(p for p in (target.given_names, target.family_name)
                                       if p) or None) if target is not None and visible
                else None))

    cases: list[CaseView] = []
    timeline: list[TimelineEntry] = []
    case_rows = _cases_for(session, full_rows)
    subject_records: dict[int, list[str]] = {}
    for row in full_rows:
        for case in case_rows.values():
            if (case.agency_code == row.agency_code and case.source_system == row.source_system
                    and row.source_id in [str(s) for s in case.subject_source_ids or []]):
                subject_records.setdefault(case.id, []).append(str(row.id))
    visible_cases: dict[tuple[str, str, str], tuple[CaseRow, View]] = {}
    for case in sorted(case_rows.values(), key=lambda c: (c.opened or dt.date.min, c.id)):
        view = _effective_view(principal, case.sensitivity, case.agency_code, break_glass)
        if view == "hidden":
            continue
        visible_cases[(case.agency_code, case.source_system, case.source_id)] = (case, view)
        cases.append(CaseView(
            case_id=str(case.id), agency=case.agency_code,
            case_number=case.case_number if view == "full" else None,
            type=case.type, status=case.status, opened=case.opened, closed=case.closed,
            record_ids=subject_records.get(case.id, []), restricted=view != "full"))
    truncated = False
    if visible_cases:
        notes: list[CaseNoteRow] = []
        for code, system, source_ids in source_key_chunks(visible_cases):
            notes.extend(session.scalars(select(CaseNoteRow).where(
                CaseNoteRow.agency_code == code, CaseNoteRow.source_system == system,
                CaseNoteRow.case_source_id.in_(source_ids))))
        notes.sort(key=lambda n: (n.recorded_at, n.id), reverse=True)
        truncated = len(notes) > MAX_TIMELINE
        for note in notes[:MAX_TIMELINE]:
            case, _ = visible_cases[(note.agency_code, note.source_system, note.case_source_id)]
            level = strictest(note.sensitivity, case.sensitivity)
            view = _effective_view(principal, level, note.agency_code, break_glass)
            if view == "hidden":
                continue
            full = view == "full"
            timeline.append(TimelineEntry(
                note_id=str(note.id), case_id=str(case.id), agency=note.agency_code,
                recorded_at=note.recorded_at, type=note.type if full else None,
                author=note.author if full else None, text=note.text if full else None,
                restricted=not full))
    return PersonView(person_id=canonical, requested_id=person_id, merged_ids=merged,
                      records=records, names=names, addresses=addresses,
                      identifiers=identifiers, relationships=relationships, cases=cases,
                      timeline=timeline, timeline_truncated=truncated)
