"""Wire models vs column sizes: every sized column fed from the wire has a matching limit.

A wire field longer than its column, or a string holding NUL, passed validation and then
failed the whole PostgreSQL batch at INSERT. These tests keep the two definitions from
drifting: a new String(n) column must be classified here, and a wire field must accept
exactly its column's size and reject one character more, naming the field.
"""

from __future__ import annotations

import copy
from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import String, Table

from analyzers.identifiers import IdentifierType
from schemas import limits
from schemas.ingest.outcome import rejections_from_validation
from schemas.records import (
    AddressType,
    Agency,
    AnyRecord,
    CaseStatus,
    CaseType,
    DobPrecision,
    Gender,
    NameType,
    NhsVerification,
    RelationshipType,
    Sensitivity,
)
from schemas.tables import (
    AddressRow,
    AgencyRow,
    CaseNoteRow,
    CaseRow,
    IdentifierRow,
    PersonNameRow,
    PersonRecordRow,
    RelationshipRow,
)

_record: TypeAdapter[Any] = TypeAdapter(AnyRecord)

SOURCE = {"agency": "EDU", "source_system": "sims", "source_id": "s1", "version": 1}
BASE: dict[str, dict[str, Any]] = {
    "person": {"record_type": "person", "source": SOURCE, "family_name": "Smith",
               "names": [{"type": "alias", "family_name": "Jones"}],
               "identifiers": [{"type": "other", "value": "X1"}],
               "addresses": [{"lines": ["1 High St"], "uprn": "1"}],
               "relationships": [{"type": "mother", "related_source_id": "s0"}]},
    "case": {"record_type": "case", "source": SOURCE, "subject_source_ids": ["s1"]},
    "case_note": {"record_type": "case_note", "source": SOURCE, "case_source_id": "c1",
                  "recorded_at": "2024-01-02T10:00:00Z", "text": "Seen."},
    "agency": {"code": "EDU", "name": "Education", "kind": "education"},
}

# (table, column) -> (base record, path of the wire field that fills it, filler character).
WIRE: dict[tuple[str, str], tuple[str, str, str]] = {
    ("agencies", "code"): ("agency", "code", "A"),
    ("agencies", "name"): ("agency", "name", "a"),
    ("person_records", "agency_code"): ("person", "source.agency", "A"),
    ("person_records", "source_system"): ("person", "source.source_system", "a"),
    ("person_records", "source_id"): ("person", "source.source_id", "a"),
    ("person_records", "given_names"): ("person", "given_names", "a"),
    ("person_records", "family_name"): ("person", "family_name", "a"),
    ("person_records", "ethnicity_code"): ("person", "ethnicity_code", "a"),
    ("person_names", "given_names"): ("person", "names.0.given_names", "a"),
    ("person_names", "family_name"): ("person", "names.0.family_name", "a"),
    ("identifiers", "value"): ("person", "identifiers.0.value", "9"),
    ("addresses", "uprn"): ("person", "addresses.0.uprn", "1"),
    ("relationships", "related_source_id"): ("person", "relationships.0.related_source_id",
                                             "a"),
    ("cases", "agency_code"): ("case", "source.agency", "A"),
    ("cases", "source_system"): ("case", "source.source_system", "a"),
    ("cases", "source_id"): ("case", "source.source_id", "a"),
    ("cases", "case_number"): ("case", "case_number", "a"),
    ("case_notes", "agency_code"): ("case_note", "source.agency", "A"),
    ("case_notes", "source_system"): ("case_note", "source.source_system", "a"),
    ("case_notes", "source_id"): ("case_note", "source.source_id", "a"),
    ("case_notes", "case_source_id"): ("case_note", "case_source_id", "a"),
    ("case_notes", "author"): ("case_note", "author", "a"),
    ("case_notes", "type"): ("case_note", "type", "a"),
}
# Stored from an enum of the wire model: every member must fit.
ENUM: dict[tuple[str, str], type[StrEnum]] = {
    ("agencies", "kind"): Agency.model_fields["kind"].annotation,  # type: ignore[dict-item]
    ("person_records", "dob_precision"): DobPrecision,
    ("person_records", "gender"): Gender,
    ("person_records", "sensitivity"): Sensitivity,
    ("person_names", "type"): NameType,
    ("identifiers", "type"): IdentifierType,
    ("identifiers", "nhs_verification"): NhsVerification,
    ("addresses", "type"): AddressType,
    ("relationships", "type"): RelationshipType,
    ("cases", "type"): CaseType,
    ("cases", "status"): CaseStatus,
    ("cases", "sensitivity"): Sensitivity,
    ("case_notes", "sensitivity"): Sensitivity,
}
# Not taken from the wire as sent: written by us, or normalised to a bounded form.
INTERNAL = {
    ("person_records", "content_hash"), ("person_records", "person_id"),
    ("cases", "content_hash"), ("case_notes", "content_hash"),
    ("identifiers", "invalid_reason"),  # the analyser's own short reason
    ("addresses", "postcode"),  # normalised: "AA9A 9AA" at most (checked below)
}
TABLES: tuple[Table, ...] = tuple(
    row.__table__ for row in (AgencyRow, PersonRecordRow, PersonNameRow, IdentifierRow,  # type: ignore[misc]
                              AddressRow, RelationshipRow, CaseRow, CaseNoteRow))


def sized_columns() -> dict[tuple[str, str], int]:
    return {(t.name, c.name): c.type.length for t in TABLES for c in t.columns
            if isinstance(c.type, String) and c.type.length is not None}


def with_value(kind: str, path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE[kind])
    *parents, leaf = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(leaf) if leaf.isdigit() else leaf] = value
    return data


def validate(kind: str, data: dict[str, Any]) -> BaseModel:
    return Agency.model_validate(data) if kind == "agency" else _record.validate_python(data)


def fields_in_error(kind: str, data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        validate(kind, data)
    return {r.field: r.reason for r in rejections_from_validation(1, caught.value)}


def test_every_sized_record_column_is_classified() -> None:
    columns = set(sized_columns())
    classified = set(WIRE) | set(ENUM) | INTERNAL
    assert columns - classified == set(), "classify the new column here (wire, enum, internal)"
    assert classified - columns == set(), "a classified column no longer exists"


@pytest.mark.parametrize("column", sorted(WIRE))
def test_wire_field_accepts_exactly_its_column_size(column: tuple[str, str]) -> None:
    size = sized_columns()[column]
    kind, path, filler = WIRE[column]
    validate(kind, with_value(kind, path, filler * size))  # the column's size fits
    errors = fields_in_error(kind, with_value(kind, path, filler * (size + 1)))
    assert path in errors, errors


@pytest.mark.parametrize("column", sorted(ENUM))
def test_enum_values_fit_their_column(column: tuple[str, str]) -> None:
    size = sized_columns()[column]
    assert max(len(member.value) for member in ENUM[column]) <= size


def test_normalised_postcode_fits() -> None:
    address = with_value("person", "addresses.0.postcode", "  ec1a1bb ")
    stored = _record.validate_python(address).addresses[0].postcode
    assert stored == "EC1A 1BB" and len(stored) <= sized_columns()[("addresses", "postcode")]
    assert len("AA9A 9AA") <= limits.POSTCODE


NUL_PATHS = [(kind, path) for kind, path, _ in WIRE.values()
             if path not in {"code", "source.agency", "addresses.0.uprn"}] + [
    ("person", "addresses.0.lines.0"), ("person", "addresses.0.postcode"),
    ("case", "subject_source_ids.0"), ("case_note", "text")]


@pytest.mark.parametrize(("kind", "path"), sorted(set(NUL_PATHS)))
def test_nul_is_rejected_naming_the_field(kind: str, path: str) -> None:
    errors = fields_in_error(kind, with_value(kind, path, "ab\x00c"))
    assert errors.get(path) == "contains a NUL character", errors


@pytest.mark.parametrize(("kind", "path"), [("agency", "code"), ("person", "source.agency"),
                                            ("person", "addresses.0.uprn")])
def test_patterned_fields_refuse_nul_too(kind: str, path: str) -> None:
    assert path in fields_in_error(kind, with_value(kind, path, "AB\x00C"))


def test_long_free_text_is_still_accepted() -> None:
    # Case note text has no column size (Text): only the MAX_NOTE_CHARS rule applies.
    note = _record.validate_python(with_value("case_note", "text", "w" * 150_000))
    assert len(note.text) == 150_000
