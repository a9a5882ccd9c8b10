"""Request and response models of the search API (with OpenAPI examples)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from analyzers.identifiers import IdentifierType
from analyzers.postcodes import parse_partial_postcode
from search_api.search.parsing import MAX_TEXT_CHARS, parse_dob

__all__ = [
    "MAX_PAGE_SIZE",
    "ExplanationItem",
    "IdentifierQuery",
    "Interpretation",
    "NoteHit",
    "RecordHit",
    "SearchRequest",
    "SearchResponse",
    "SearchResult",
]

MAX_PAGE_SIZE = 50
MAX_PAGE = 20

Text200 = str


class IdentifierQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    type: IdentifierType | None = Field(None, description="kind of identifier; omitted: any")
    value: str = Field(..., min_length=1, max_length=64)


SEARCH_EXAMPLES: dict[str, dict[str, Any]] = {
    "free_text": {
        "summary": "Free text: names, a year and a partial postcode",
        "value": {"text": "jon smyth 2015 LS9", "purpose": "MASH enquiry"},
    },
    "structured": {
        "summary": "Structured fields",
        "value": {"given_name": "Bob", "family_name": "Smith", "dob": "03/04/2015",
                  "postcode": "LS9 7", "purpose": "new referral", "page_size": 10},
    },
    "notes": {
        "summary": "Free text over case notes",
        "value": {"notes_text": "bruising on left arm", "purpose": "strategy discussion"},
    },
    "identifier": {
        "summary": "An NHS number",
        "value": {"identifier": {"type": "nhs_number", "value": "943 476 5919"},
                  "purpose": "case work"},
    },
}


class SearchRequest(BaseModel):
    """What to look for. Any mix of fields; at least one search field is needed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True,
                              json_schema_extra={"examples": [
                                  e["value"] for e in SEARCH_EXAMPLES.values()]})

    text: str | None = Field(None, max_length=MAX_TEXT_CHARS, description=(
        "free text: names (partial, misspelt, nicknames), a date or year of birth, a postcode "
        "or an identifier, e.g. 'jon smyth 2015 LS9'"))
    given_name: str | None = Field(None, max_length=MAX_TEXT_CHARS,
                                   description="given name(s); a prefix is enough")
    family_name: str | None = Field(None, max_length=MAX_TEXT_CHARS,
                                    description="surname, current or former")
    dob: str | None = Field(None, max_length=64, description=(
        "date of birth: '2015-04-03', '03/04/2015', '04/2015', '2015' or a year range "
        "'2014-2016'"))
    dob_from: dt.date | None = Field(None, description="born on or after")
    dob_to: dt.date | None = Field(None, description="born on or before")
    postcode: str | None = Field(None, max_length=16,
                                 description="full ('LS9 7AB'), sector ('LS9 7') or district "
                                             "('LS9')")
    address: str | None = Field(None, max_length=MAX_TEXT_CHARS,
                                description="address words, e.g. a street name")
    identifier: IdentifierQuery | None = None
    agencies: list[str] = Field(default_factory=list, max_length=20,
                                description="only records held by these agency codes")
    notes_text: str | None = Field(None, max_length=MAX_TEXT_CHARS,
                                   description="words to find in case notes")
    purpose: str = Field(..., min_length=1, max_length=100,
                         description="why you are searching (recorded in the audit log)")
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(10, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(None, max_length=500,
                               description="next_cursor of the previous page")

    @field_validator("agencies")
    @classmethod
    def _agencies(cls, value: list[str]) -> list[str]:
        out = []
        for code in value:
            code = code.strip().upper()
            if not code or len(code) > 32 or not all(c.isalnum() or c in "_-" for c in code):
                raise ValueError(f"{code!r} is not an agency code")
            out.append(code)
        return out

    @field_validator("dob")
    @classmethod
    def _dob(cls, value: str | None) -> str | None:
        if value:
            parse_dob(value)  # raises ValueError naming the problem
        return value or None

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str | None) -> str | None:
        if value and parse_partial_postcode(value) is None:
            raise ValueError("not a UK postcode, sector or district (e.g. 'LS9 7AB', "
                             "'LS9 7', 'LS9')")
        return value or None

    @model_validator(mode="after")
    def _something_to_search(self) -> SearchRequest:
        if self.dob_from and self.dob_to and self.dob_from > self.dob_to:
            raise ValueError("dob_to: is before dob_from")
        fields = (self.text, self.given_name, self.family_name, self.dob, self.dob_from,
                  self.dob_to, self.postcode, self.address, self.identifier, self.notes_text)
        if not any(f not in (None, "") for f in fields):
            raise ValueError("text: give at least one of text, given_name, family_name, dob, "
                             "postcode, address, identifier or notes_text")
        return self


class ExplanationItem(BaseModel):
    field: str
    level: str
    weight: float
    reason: str


class NoteHit(BaseModel):
    note_id: str
    agency: str
    case_id: str | None = None
    recorded_at: dt.datetime | None = None
    type: str | None = None
    highlights: list[str] = Field(default_factory=list,
                                  description="matching passages; words found are in <mark>")
    restricted: bool = False


class RecordHit(BaseModel):
    """One agency's record under an identity. A restricted record the caller may not open is
    a padlocked minimal hit: name, date of birth and holding agency only."""

    record_id: str
    agency: str | None = None
    agency_kind: str | None = None
    source_system: str | None = None
    source_id: str | None = None
    given_names: str | None = None
    family_name: str | None = None
    date_of_birth: str | None = None
    dob_precision: str | None = None
    postcodes: list[str] | None = None
    other_names: list[str] | None = None
    matched: bool | None = Field(None, description="retrieved by this search (not just a "
                                                   "linked record of the same child)")
    probability: float | None = None
    grade: str | None = None
    reasons: list[str] | None = None
    restricted: bool = False


class SearchResult(BaseModel):
    person_id: str
    score: float = Field(..., description="match weight of the best record (log2 odds); "
                                          "results are sorted by it, then person_id")
    probability: float | None = None
    grade: Literal["certain", "probable", "possible", "certainly_not"] | None = None
    reasons: list[str] = Field(default_factory=list)
    explanation: list[ExplanationItem] = Field(default_factory=list)
    given_names: str | None = None
    family_name: str | None = None
    date_of_birth: str | None = None
    records: list[RecordHit] = Field(default_factory=list)
    notes: list[NoteHit] = Field(default_factory=list)


class Interpretation(BaseModel):
    """How the request was read (free text split into its parts)."""

    given_names: list[str] = Field(default_factory=list)
    family_names: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    dob: str | None = None
    dob_range: list[dt.date] | None = None
    postcode: str | None = None
    identifier: str | None = None
    ignored: list[str] = Field(default_factory=list)


class SearchResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "results": [{
            "person_id": "P3F2A9C1D0E4B5A6", "score": 14.2, "probability": 0.9993,
            "grade": "certain",
            "reasons": ["known as Bob (nickname of Robert)", "surname the same: Smith",
                        "date of birth has day and month swapped: 2015-03-04 / 2015-04-03"],
            "explanation": [{"field": "family_name", "level": "exact", "weight": 7.4,
                             "reason": "surname the same: Smith"}],
            "given_names": "Robert", "family_name": "Smith", "date_of_birth": "2015-04-03",
            "records": [{"record_id": "17", "agency": "LEEDS_CSC", "given_names": "Robert",
                         "family_name": "Smith", "date_of_birth": "2015-04-03",
                         "matched": True, "grade": "certain"}],
            "notes": []}],
        "page": 1, "page_size": 10, "total": 1, "next_cursor": None,
        "interpreted": {"given_names": ["Bob"], "family_names": ["Smith"],
                        "dob": "2015-03-04"},
        "took_ms": 41}]})

    results: list[SearchResult]
    page: int
    page_size: int
    total: int = Field(..., description="identities found among the candidates retrieved")
    next_cursor: str | None = None
    interpreted: Interpretation
    took_ms: int
