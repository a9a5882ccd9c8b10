"""Wire contracts: the pydantic models agencies' records arrive as.

Every record carries its provenance (agency, source system, source id, version). A record is
identified by (agency, source_system, source_id); a higher version supersedes a lower one.
"""

from __future__ import annotations

import datetime as dt
import time
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from analyzers.dates import parse_date
from analyzers.identifiers import IdentifierType, ValidatedIdentifier, validate_identifier
from analyzers.postcodes import normalise_postcode
from schemas import limits

# A field stored in a JSON or text column (no column size) may never exceed this: a 10 MB
# address line is an error, not data. Fields stored in sized columns use schemas.limits.
MAX_FIELD_CHARS = 10_000
MAX_NOTE_CHARS = 200_000


class AgencyKind(StrEnum):
    social_care = "social_care"
    police = "police"
    health = "health"
    education = "education"
    housing = "housing"
    other = "other"


class Sensitivity(StrEnum):
    normal = "normal"
    restricted = "restricted"
    sealed = "sealed"


class NameType(StrEnum):
    birth = "birth"
    current = "current"
    alias = "alias"
    former = "former"
    maiden = "maiden"
    preferred = "preferred"


class DobPrecision(StrEnum):
    day = "day"
    month = "month"
    year = "year"
    unknown = "unknown"


class Gender(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    not_recorded = "not_recorded"
    unborn = "unborn"


class NhsVerification(StrEnum):
    verified = "verified"
    unverified = "unverified"
    trace_required = "trace_required"
    unknown = "unknown"


class AddressType(StrEnum):
    home = "home"
    placement = "placement"
    other = "other"


class RelationshipType(StrEnum):
    mother = "mother"
    father = "father"
    sibling = "sibling"
    carer = "carer"
    household_member = "household_member"


class CaseType(StrEnum):
    referral = "referral"
    child_in_need = "child_in_need"
    child_protection_plan = "child_protection_plan"
    looked_after = "looked_after"
    early_help = "early_help"
    police_incident = "police_incident"
    health_episode = "health_episode"
    education_record = "education_record"
    other = "other"


class CaseStatus(StrEnum):
    open = "open"
    closed = "closed"


def _no_nul(value: str) -> str:
    # PostgreSQL text refuses NUL: reject the row here, naming the field, rather than let the
    # INSERT fail the whole batch.
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


NoNul = AfterValidator(_no_nul)
"""Every wire string carries this (or a pattern that excludes NUL); tests check it."""

ShortText = Annotated[str, Field(max_length=MAX_FIELD_CHARS), NoNul]
Name = Annotated[str, Field(max_length=limits.NAME), NoNul]
SourceId = Annotated[str, Field(min_length=1, max_length=limits.SOURCE_ID), NoNul]
AgencyCode = Annotated[str, Field(max_length=limits.AGENCY_CODE,
                                  pattern=rf"^[A-Z0-9_-]{{2,{limits.AGENCY_CODE}}}$")]


class Agency(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: AgencyCode
    name: Annotated[str, Field(max_length=limits.AGENCY_NAME), NoNul]
    kind: AgencyKind


class Provenance(BaseModel):
    """Where a record came from; (agency, source_system, source_id) is its natural key."""

    model_config = ConfigDict(extra="forbid")
    agency: AgencyCode
    source_system: Annotated[str, Field(min_length=1, max_length=limits.SOURCE_SYSTEM), NoNul]
    source_id: SourceId
    version: Annotated[int, Field(ge=0)] = 0
    received_at: dt.datetime | None = None


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PartialDateField(_Model):
    """A date that may be known only to the month or year."""

    value: dt.date | None = None
    precision: DobPrecision = DobPrecision.unknown


def to_partial_date(raw: object) -> tuple[dt.date | None, DobPrecision]:
    """Parse a date of birth given as text ("2015-04-03", "03/04/2015", "04/2015", "2015")."""
    if raw is None or raw == "":
        return None, DobPrecision.unknown
    if isinstance(raw, dt.datetime):
        return raw.date(), DobPrecision.day
    if isinstance(raw, dt.date):
        return raw, DobPrecision.day
    parsed = parse_date(str(raw))  # raises ValueError with the reason
    if parsed.precision == "unknown" or parsed.year is None:
        return None, DobPrecision.unknown
    return (
        dt.date(parsed.year, parsed.month or 1, parsed.day or 1),
        _PRECISIONS[parsed.precision],
    )


_PRECISIONS = {p.value: p for p in DobPrecision}  # DobPrecision(text), without the enum call


@lru_cache(maxsize=32_768)
def _partial_date_of_text(text: str) -> tuple[dt.date | None, DobPrecision]:
    # The same child's date of birth arrives from several agencies, and children share
    # birthdays: read each text once per process. A ValueError is not cached (each bad text
    # raises again, with the same reason); the results (a date, an enum) are immutable.
    return to_partial_date(text)


@lru_cache(maxsize=32_768)
def _normalised_postcode(text: str) -> str | None:
    # Households share postcodes and one address arrives from several agencies.
    return normalise_postcode(text)


# The local date today, and the time.time() span [since, until) in which it is today.
_today_span: tuple[dt.date, float, float] = (dt.date.min, 0.0, 0.0)


def _today() -> dt.date:
    """dt.date.today(), read from the calendar only once a day (it cost 1.5 us a record).

    The cached date is used only while time.time() is within the span it was read in and
    before the next local midnight, so it is always the date dt.date.today() would give.
    """
    global _today_span
    today, since, until = _today_span
    now = time.time()
    if since <= now < until:
        return today
    today = dt.date.fromtimestamp(now)
    tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time())
    _today_span = (today, now, tomorrow.timestamp())
    return today


class NameEntry(_Model):
    type: NameType = NameType.current
    given_names: Name | None = None
    family_name: Name | None = None
    from_date: dt.date | None = None
    to_date: dt.date | None = None

    @model_validator(mode="after")
    def _has_a_name(self) -> NameEntry:
        if not (self.given_names or self.family_name):
            raise ValueError("a name needs given_names or family_name")
        return self


class Identifier(_Model):
    type: IdentifierType
    value: Annotated[str, Field(max_length=limits.IDENTIFIER_VALUE), NoNul]
    nhs_verification: NhsVerification | None = None
    from_date: dt.date | None = None
    to_date: dt.date | None = None

    @property
    def validated(self) -> ValidatedIdentifier:
        return validate_identifier(self.type, self.value)


class Address(_Model):
    type: AddressType = AddressType.home
    lines: list[ShortText] = Field(default_factory=list, max_length=8)
    postcode: ShortText | None = None
    uprn: Annotated[str, Field(max_length=limits.UPRN,
                               pattern=rf"^\d{{1,{limits.UPRN}}}$")] | None = None
    from_date: dt.date | None = None
    to_date: dt.date | None = None

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        normalised = _normalised_postcode(value)
        if normalised is None:
            raise ValueError("not a UK postcode")
        return normalised


class Relationship(_Model):
    type: RelationshipType
    related_source_id: SourceId


class PersonRecord(_Model):
    """One agency's record of one person."""

    record_type: Literal["person"] = "person"
    source: Provenance
    given_names: Name | None = None
    family_name: Name | None = None
    names: list[NameEntry] = Field(default_factory=list, max_length=50)
    date_of_birth: dt.date | None = None
    dob_precision: DobPrecision = DobPrecision.unknown
    dob_estimated: bool = False
    dob_disputed: bool = False
    expected_birth_date: dt.date | None = None
    gender: Gender = Gender.not_recorded
    ethnicity_code: Annotated[str, Field(max_length=limits.ETHNICITY_CODE), NoNul] | None = None
    date_of_death: dt.date | None = None
    identifiers: list[Identifier] = Field(default_factory=list, max_length=50)
    addresses: list[Address] = Field(default_factory=list, max_length=50)
    relationships: list[Relationship] = Field(default_factory=list, max_length=50)
    sensitivity: Sensitivity = Sensitivity.normal

    @model_validator(mode="before")
    @classmethod
    def _partial_dob(cls, data: object) -> object:
        # Accept "04/2015" or "2015" and keep the precision, unless precision was given.
        if isinstance(data, dict) and isinstance(data.get("date_of_birth"), str):
            try:
                value, precision = _partial_date_of_text(data["date_of_birth"])
            except ValueError as exc:
                raise ValueError(f"date_of_birth: {exc}") from None
            data = {**data, "date_of_birth": value}
            if "dob_precision" not in data or data["dob_precision"] in (None, ""):
                data["dob_precision"] = precision
        return data

    @model_validator(mode="after")
    def _coherent(self) -> PersonRecord:
        if self.date_of_birth and self.date_of_birth > _today():
            raise ValueError("date_of_birth: is in the future (record an unborn child with "
                             "expected_birth_date and gender 'unborn')")
        if self.date_of_birth and self.date_of_birth.year < 1900:
            raise ValueError("date_of_birth: is before 1900")
        if self.date_of_birth and self.dob_precision is DobPrecision.unknown:
            self.dob_precision = DobPrecision.day
        if self.date_of_death and self.date_of_birth and self.date_of_death < self.date_of_birth:
            raise ValueError("date_of_death: is before date_of_birth")
        if not (self.given_names or self.family_name or self.names):
            raise ValueError("given_names: a person needs at least one name")
        return self

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source.agency, self.source.source_system, self.source.source_id)


class Case(_Model):
    record_type: Literal["case"] = "case"
    source: Provenance
    case_number: Annotated[str, Field(max_length=limits.CASE_NUMBER), NoNul] | None = None
    type: CaseType = CaseType.other
    status: CaseStatus = CaseStatus.open
    opened: dt.date | None = None
    closed: dt.date | None = None
    subject_source_ids: list[Annotated[str, Field(max_length=limits.SOURCE_ID), NoNul]] = Field(
        default_factory=list, max_length=50)
    sensitivity: Sensitivity = Sensitivity.normal

    @model_validator(mode="after")
    def _dates(self) -> Case:
        if self.opened and self.closed and self.closed < self.opened:
            raise ValueError("closed: is before opened")
        return self


class CaseNote(_Model):
    record_type: Literal["case_note"] = "case_note"
    source: Provenance
    case_source_id: SourceId
    author: Annotated[str, Field(max_length=limits.AUTHOR), NoNul] | None = None
    recorded_at: dt.datetime
    type: Annotated[str, Field(max_length=limits.NOTE_TYPE), NoNul] = "note"
    # Stored in a Text column: bounded by MAX_NOTE_CHARS, not by a column size.
    text: Annotated[str, Field(min_length=1, max_length=MAX_NOTE_CHARS), NoNul]
    sensitivity: Sensitivity = Sensitivity.normal


AnyRecord = Annotated[PersonRecord | Case | CaseNote, Field(discriminator="record_type")]
