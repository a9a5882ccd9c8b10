"""Streaming readers for agency extracts: CSV, JSON Lines and FHIR R4 Patient.

Reading is split in two so that the costly half can run on every core:
* a reader (``read_csv``, ``read_jsonl``, ``read_fhir``) streams the file and yields raw
  units, each tagged with its line number: cheap, in order, in the calling process;
* ``ParseJob.parse`` turns units into ``Parsed`` rows, each holding either a record prepared
  for the store or the reasons it was rejected. It is a pure function of the units, so it
  gives the same answer in this process or in a worker (see ``schemas.ingest.pipeline``).

Nothing is read whole into memory except a single FHIR Bundle document, which is one JSON
value by definition.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import from_json

from schemas.ingest.fhir import patient_to_record
from schemas.ingest.outcome import Rejection, rejections_from_validation
from schemas.ingest.prepare import Prepared, Record, prepare
from schemas.records import AnyRecord, PersonRecord

_any_record: TypeAdapter[Record] = TypeAdapter(AnyRecord)

# A single field larger than this is rejected by the model; the csv module must not abort first.
csv.field_size_limit(64 * 1024 * 1024)

CSV_COLUMNS = (
    "source_system", "source_id", "version", "given_names", "family_name",
    "former_family_name", "alias_given_names", "alias_family_name", "date_of_birth",
    "dob_estimated", "gender", "ethnicity_code", "nhs_number", "upn", "former_upn",
    "address_line1", "address_line2", "address_town", "postcode", "uprn", "sensitivity",
)
CSV_REQUIRED = ("source_id", "family_name", "date_of_birth")


class FileError(ValueError):
    """The file as a whole cannot be read (empty, wrong delimiter, missing columns)."""


@dataclass
class Parsed:
    line: int
    prepared: Prepared | None = None
    rejections: list[Rejection] = field(default_factory=list)

    def __reduce__(self) -> tuple[Any, ...]:
        # Parsed rows cross from the parse workers: pickle them as a constructor call,
        # cheaper to unpickle than the default object state dict.
        return (Parsed, (self.line, self.prepared, self.rejections))


Unit = tuple[int, Any]  # (line number, raw row): bytes, CSV values or a Decoded value


@dataclass(frozen=True, slots=True)
class Decoded:
    """A JSON value already parsed by the reader (a whole FHIR document)."""

    value: Any


@dataclass(frozen=True)
class ParseJob:
    """How to turn one file's units into Parsed rows; small and picklable."""

    fmt: str  # csv | jsonl | fhir
    agency: str
    header: tuple[str, ...] = ()  # csv only
    source_system: str = "fhir"  # fhir only
    # Rows as PostgreSQL COPY text (schemas.ingest.copytext), for a PostgreSQL store only.
    copy_text: bool = False

    def parse(self, units: list[Unit]) -> list[Parsed]:
        out: list[Parsed] = []
        for line, raw in units:
            if self.fmt == "csv":
                out.append(parse_csv_row(line, raw, self.header, self.agency))
            elif self.fmt == "jsonl":
                out.append(parse_jsonl_line(line, raw, self.agency))
            else:
                out.extend(parse_fhir_value(line, raw, self.agency, self.source_system))
        if self.copy_text:
            from schemas.ingest.copytext import for_copy

            for parsed in out:
                if parsed.prepared is not None:
                    parsed.prepared = for_copy(parsed.prepared)
        return out


@dataclass
class Source:
    """A file being read: its parse job and the stream of its units."""

    job: ParseJob
    units: Iterator[Unit]


def _has_bad_utf8(text: str) -> bool:
    # surrogateescape turns undecodable bytes into lone surrogates; find them. ASCII text
    # (most values) has none, and is checked without visiting every character.
    return not text.isascii() and any("\udc80" <= ch <= "\udcff" for ch in text)


def _text_stream(raw: IO[bytes]) -> io.TextIOWrapper:
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")


# --- CSV ---------------------------------------------------------------------------------------

def _csv_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "y"}


def csv_row_to_record(row: dict[str, str], agency: str) -> dict[str, Any]:
    """Map one documented CSV row onto the wire model's shape (validation happens after)."""
    # Each value stripped, empty as None, once (columns are read several times below).
    values = {k: (v or "").strip() or None for k, v in row.items()}
    get = values.get
    names = []
    if get("former_family_name"):
        names.append({"type": "former", "given_names": get("given_names"),
                      "family_name": get("former_family_name")})
    if get("alias_given_names") or get("alias_family_name"):
        names.append({"type": "alias", "given_names": get("alias_given_names"),
                      "family_name": get("alias_family_name")})
    identifiers = [
        {"type": kind, "value": get(column)}
        for kind, column in (("nhs_number", "nhs_number"), ("upn", "upn"),
                             ("former_upn", "former_upn"))
        if get(column)
    ]
    addresses = []
    lines = [v for v in (get("address_line1"), get("address_line2"), get("address_town")) if v]
    if lines or get("postcode") or get("uprn"):
        addresses.append({"lines": lines, "postcode": get("postcode"), "uprn": get("uprn")})
    version = get("version")
    record: dict[str, Any] = {
        "record_type": "person",
        "source": {"agency": agency, "source_system": get("source_system") or "csv",
                   "source_id": get("source_id"),
                   "version": version if version is not None else 0},
        "given_names": get("given_names"),
        "family_name": get("family_name"),
        "names": names,
        "date_of_birth": get("date_of_birth"),
        "dob_estimated": _csv_bool(row.get("dob_estimated") or ""),
        "identifiers": identifiers,
        "addresses": addresses,
    }
    for optional in ("gender", "ethnicity_code", "sensitivity"):
        if get(optional):
            record[optional] = get(optional)
    return record


def read_csv(raw: IO[bytes], agency: str) -> Source:
    """Check the header now; the rows stream as (line, values) units."""
    text = _text_stream(raw)
    header_line = text.readline()
    if not header_line.strip():
        raise FileError("the file is empty: expected a header row with columns "
                        + ", ".join(CSV_COLUMNS))
    header = next(csv.reader([header_line]))
    if len(header) == 1 and any(sep in header_line for sep in (";", "\t", "|")):
        raise FileError("the header has one column: the file looks delimited by something "
                        "other than commas (use comma-separated values)")
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise FileError(f"missing required column(s): {', '.join(missing)}")
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise FileError(f"unknown column(s): {', '.join(unknown)}; the documented columns are "
                        + ", ".join(CSV_COLUMNS))
    return Source(ParseJob("csv", agency, header=tuple(header)), _csv_units(text))


def _csv_units(text: io.TextIOWrapper) -> Iterator[Unit]:
    reader = csv.reader(text)
    for values in reader:
        line = reader.line_num + 1  # +1: the header was read outside the csv reader
        if any(v.strip() for v in values):
            yield line, values


def parse_csv_row(line: int, values: list[str], header: tuple[str, ...], agency: str) -> Parsed:
    if len(values) != len(header):
        return Parsed(line, rejections=[Rejection(
            line, "row", f"has {len(values)} fields, the header has {len(header)}")])
    row = dict(zip(header, values, strict=True))
    source_id = row.get("source_id") or None
    bad = [k for k, v in row.items() if _has_bad_utf8(v)]
    if bad:
        return Parsed(line, rejections=[Rejection(line, bad[0], "is not valid UTF-8",
                                                  _safe_id(source_id))])
    return _parsed(line, _validate(line, csv_row_to_record(row, agency), PersonRecord,
                                   source_id))


# --- JSON Lines --------------------------------------------------------------------------------

def _line_units(raw: IO[bytes]) -> Iterator[Unit]:
    for number, data in enumerate(raw, start=1):
        if data and not data.isspace():  # data.strip(), without copying the line
            yield number, data


def _decode_json(line: int, data: bytes) -> Any | Rejection:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection(line, "line", "is not valid UTF-8")
    try:
        # pydantic-core's parser, in half the time of json.loads. Where it accepts a text
        # it gives the same value (tests compare them, floats and big integers included);
        # what it refuses (lone surrogate escapes, deep nesting, invalid JSON) goes to
        # json.loads, which decides, and words the reason, as it always did.
        return from_json(text)
    except ValueError:
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return Rejection(line, "line", f"is not valid JSON ({exc.msg})")


def read_jsonl(raw: IO[bytes], agency: str) -> Source:
    return Source(ParseJob("jsonl", agency), _jsonl_units(raw))


def _jsonl_units(raw: IO[bytes]) -> Iterator[Unit]:
    seen_any = False
    for unit in _line_units(raw):
        seen_any = True
        yield unit
    if not seen_any:
        raise FileError("the file is empty: expected one JSON record per line")


def parse_jsonl_line(line: int, data: bytes, agency: str) -> Parsed:
    value = _decode_json(line, data)
    if isinstance(value, Rejection):
        return Parsed(line, rejections=[value])
    source_id = _source_id(value)
    checked = _validate(line, value, None, source_id)
    if not isinstance(checked, Parsed) and checked.source.agency != agency:
        return Parsed(line, rejections=[Rejection(
            line, "source.agency",
            f"is {checked.source.agency!r} but the file is being ingested for "
            f"{agency!r}", _safe_id(source_id))])
    return _parsed(line, checked)


# --- FHIR --------------------------------------------------------------------------------------

def read_fhir(raw: IO[bytes], agency: str, source_system: str = "fhir") -> Source:
    """FHIR R4: a Patient, a Bundle of Patients, or NDJSON of resources."""
    head = raw.peek(64) if hasattr(raw, "peek") else b""
    first = head.lstrip()[:1]
    if not first:
        raise FileError("the file is empty: expected FHIR Patient resources")
    whole = _whole_json(raw)
    units: Iterator[Unit]
    units = iter([(1, Decoded(whole))]) if whole is not None else _line_units(raw)
    return Source(ParseJob("fhir", agency, source_system=source_system), units)


def parse_fhir_value(line: int, raw: bytes | Decoded, agency: str,
                     source_system: str) -> list[Parsed]:
    value = raw.value if isinstance(raw, Decoded) else _decode_json(line, raw)
    if isinstance(value, Rejection):
        return [Parsed(line, rejections=[value])]
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        return [_fhir_one(index, entry.get("resource") if isinstance(entry, dict) else None,
                          agency, source_system)
                for index, entry in enumerate(value.get("entry") or [], start=1)]
    return [_fhir_one(line, value, agency, source_system)]


def _whole_json(raw: IO[bytes]) -> Any | None:
    """A file holding one pretty-printed JSON document, or None if it is NDJSON."""
    if not hasattr(raw, "seek"):
        return None
    start = raw.tell()
    first_line = raw.readline()
    try:
        json.loads(first_line)
        raw.seek(start)
        return None  # the first line is a whole JSON value: NDJSON
    except (json.JSONDecodeError, UnicodeDecodeError):
        raw.seek(start)
    try:
        return json.loads(raw.read())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raw.seek(start)
        return None


def _fhir_one(line: int, resource: Any, agency: str, source_system: str) -> Parsed:
    if not isinstance(resource, dict):
        return Parsed(line, rejections=[Rejection(line, "resourceType",
                                                  "expected a FHIR resource object")])
    kind = resource.get("resourceType")
    if kind != "Patient":
        return Parsed(line, rejections=[Rejection(
            line, "resourceType", f"expected Patient or Bundle, got {str(kind)[:40]!r}",
            _safe_id(resource.get("id")))])
    try:
        mapped = patient_to_record(resource, agency, source_system)
    except ValueError as exc:
        field_name, _, reason = str(exc).partition(": ")
        return Parsed(line, rejections=[Rejection(line, field_name, reason or str(exc),
                                                  _safe_id(resource.get("id")))])
    return _parsed(line, _validate(line, mapped, PersonRecord, resource.get("id")))


# --- shared ------------------------------------------------------------------------------------

def _validate(line: int, data: Any, model: type[PersonRecord] | None,
              source_id: Any) -> Record | Parsed:
    """The valid record, or a rejected Parsed naming each failing field."""
    try:
        return model.model_validate(data) if model else _any_record.validate_python(data)
    except ValidationError as exc:
        return Parsed(line, rejections=rejections_from_validation(line, exc, _safe_id(source_id)))
    except ValueError as exc:  # a normaliser's own error (e.g. an impossible date)
        return Parsed(line, rejections=[Rejection(line, "record", str(exc), _safe_id(source_id))])


def _parsed(line: int, checked: Record | Parsed) -> Parsed:
    return checked if isinstance(checked, Parsed) else Parsed(line, prepare(line, checked))


def _source_id(value: Any) -> Any:
    if isinstance(value, dict) and isinstance(value.get("source"), dict):
        return value["source"].get("source_id")
    return None


def _safe_id(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    if _has_bad_utf8(text):
        return None
    # A NUL is why such a row is rejected; keep it out of the rejects file as an escape.
    return text[:200].replace("\x00", "\\x00")


READERS = {"csv": read_csv, "jsonl": read_jsonl, "fhir": read_fhir}


def open_reader(path: Path, fmt: str, agency: str) -> tuple[IO[bytes], Source]:
    """Open the file and check its header; the caller closes it (this does, if it raises)."""
    if fmt not in READERS:
        raise FileError(f"--format: unknown format {fmt!r} (use csv, jsonl or fhir)")
    raw = path.open("rb")
    try:
        return raw, READERS[fmt](raw, agency)
    except BaseException:
        raw.close()
        raise


def parse_all(source: Source) -> Iterator[Parsed]:
    """Parse in this process, one unit at a time (small files, tests)."""
    for unit in source.units:
        yield from source.job.parse([unit])
