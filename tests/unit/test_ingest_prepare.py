"""Prepared rows (schemas.ingest.prepare) and parallel parsing (schemas.ingest.pipeline).

No services: parsing and preparing never touch the database.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.ingest.pipeline import parse_pool, parse_stream
from schemas.ingest.prepare import CHILD_COLUMNS, ROW_COLUMNS, Prepared, content_hash, prepare
from schemas.ingest.readers import CSV_COLUMNS, Parsed, open_reader, parse_all
from schemas.ingest.store import CHILD_TABLES, TABLE_FOR
from schemas.records import Case, CaseNote, PersonRecord

SOURCE = {"agency": "POL", "source_system": "niche", "version": 3}
PERSON = {
    "record_type": "person", "source": {**SOURCE, "source_id": "p1"},
    "given_names": "Zoë Ángel", "family_name": "Wiśniewska-O'Brien", "date_of_birth": "04/2015",
    "names": [{"type": "alias", "given_names": "Zo", "family_name": "Smith",
               "from_date": "2019-01-02"}],
    "identifiers": [{"type": "nhs_number", "value": "943 476 5919",
                     "nhs_verification": "verified"},
                    {"type": "nhs_number", "value": "9434765910"},  # invalid: kept, flagged
                    {"type": "upn", "value": "p384000017002"}],
    "addresses": [{"lines": ["1 High St", "Leeds"], "postcode": "ls97ab", "uprn": "123"}],
    "relationships": [{"type": "mother", "related_source_id": "p0"}],
}
CASE = {"record_type": "case", "source": {**SOURCE, "source_id": "c1"},
        "type": "police_incident", "subject_source_ids": ["p1", "p2"], "opened": "2024-01-02"}
NOTE = {"record_type": "case_note", "source": {**SOURCE, "source_id": "n1"},
        "case_source_id": "c1", "recorded_at": "2024-01-02T10:00:00Z", "text": "Seen at home."}


def _old_content_hash(record: PersonRecord | Case | CaseNote) -> str:
    """The digest exactly as the store computed it before records were prepared once."""
    data = record.model_dump(mode="json", exclude={"source": {"received_at"}})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _records() -> list[PersonRecord | Case | CaseNote]:
    received = {**PERSON, "source": {**PERSON["source"],  # type: ignore[dict-item]
                                     "received_at": "2026-11-27T08:00:00Z"}}
    return [PersonRecord.model_validate(PERSON), PersonRecord.model_validate(received),
            Case.model_validate(CASE), CaseNote.model_validate(NOTE)]


@pytest.mark.parametrize("record", _records(), ids=["person", "received_at", "case", "note"])
def test_digest_is_as_stored_before_and_the_payload_is_the_hashed_text(
        record: PersonRecord | Case | CaseNote) -> None:
    # Digests already stored must still recognise a replay as unchanged.
    prepared = prepare(7, record)
    assert prepared.digest == _old_content_hash(record) == content_hash(record)
    row = dict(zip(ROW_COLUMNS[prepared.entity], prepared.row, strict=True))
    if "payload" in row:  # the record's JSON without received_at, the very text hashed
        assert json.loads(row["payload"]) == record.model_dump(
            mode="json", exclude={"source": {"received_at"}})
        assert hashlib.sha256(row["payload"].encode()).hexdigest() == prepared.digest
    assert (prepared.line, prepared.key, prepared.version) == (7, ("POL", "niche", record.source
                                                                  .source_id), 3)


def test_received_at_does_not_change_the_digest() -> None:
    plain, received = _records()[:2]
    assert prepare(1, plain).digest == prepare(1, received).digest


def test_columns_cover_every_stored_column() -> None:
    for entity, table in TABLE_FOR.items():
        # id comes from the sequence; updated_at is stamped by the store at write time.
        assert sorted(ROW_COLUMNS[entity]) == sorted(
            c.name for c in table.columns if c.name not in ("id", "updated_at")), entity
    for child, cols in zip(CHILD_TABLES, CHILD_COLUMNS, strict=True):
        assert sorted((*cols, "id", "record_id")) == sorted(c.name for c in child.columns)


def test_person_children_keep_invalid_identifiers_flagged() -> None:
    prepared = prepare(1, PersonRecord.model_validate(PERSON))
    names, idents, addresses, relations = prepared.children
    cols = CHILD_COLUMNS[1]
    by_value = {row[cols.index("value")]: row for row in idents}
    assert by_value["9434765919"][cols.index("valid")] is True
    assert by_value["9434765910"][cols.index("valid")] is False
    assert by_value["9434765910"][cols.index("invalid_reason")]
    assert by_value["P384000017002"][cols.index("valid")] is True
    assert addresses[0][CHILD_COLUMNS[2].index("postcode")] == "LS9 7AB"
    assert json.loads(addresses[0][CHILD_COLUMNS[2].index("lines")]) == ["1 High St", "Leeds"]
    assert [n[0] for n in names] == ["alias"]
    assert relations == (("mother", "p0"),)


# --- parallel parsing keeps file order and exact line numbers ----------------------------------

def _jsonl_lines(n: int) -> tuple[bytes, set[int]]:
    """n lines mixing every record type with rejects of every kind; returns the reject lines."""
    out: list[bytes] = []
    rejects: set[int] = set()
    for i in range(1, n + 1):
        kind = i % 11
        if kind == 3:
            out.append(b"{not json\n")
            rejects.add(i)
        elif kind == 5:
            out.append(json.dumps({**PERSON, "source": {**SOURCE, "source_id": f"p{i}"},
                                   "date_of_birth": "2016-02-31"}).encode() + b"\n")
            rejects.add(i)
        elif kind == 7:
            out.append(b"\n")  # blank: skipped, but still counts as a line
        elif kind == 8:
            out.append(b'{"record_type": "person", "family_name": "Zo\xff"}\n')
            rejects.add(i)
        elif kind == 9:
            out.append(json.dumps({**CASE, "source": {**SOURCE, "agency": "EDU",
                                                      "source_id": f"c{i}"}}).encode() + b"\n")
            rejects.add(i)
        else:
            base = (PERSON, CASE, NOTE)[i % 3]
            out.append(json.dumps({**base, "source": {**SOURCE, "source_id": f"x{i}"}})
                       .encode() + b"\n")
    return b"".join(out), rejects


def _csv_text(n: int) -> tuple[bytes, set[int]]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    rejects: set[int] = set()
    line = 1
    for i in range(n):
        row = {c: "" for c in CSV_COLUMNS}
        row.update(source_id=f"s{i}", version="1", given_names="Kayleigh",
                   family_name="Smith", date_of_birth="03/04/2015", nhs_number="9434765919")
        if i % 9 == 4:
            row["date_of_birth"] = "31/02/2016"
        if i % 13 == 6:
            # A quoted field spanning two physical lines: line numbers must stay right.
            row["address_line1"] = "Flat 2\nThe Old Mill"
        writer.writerow([row[c] for c in CSV_COLUMNS])
        # A row's line is the last physical line it ends on, as the csv module counts.
        line += 1 + row["address_line1"].count("\n")
        if i % 9 == 4:
            rejects.add(line)
    return buffer.getvalue().encode(), rejects


def _comparable(items: list[Parsed]) -> list[tuple[Any, ...]]:
    """Everything but person_id, which is a fresh random identity per prepare."""
    out = []
    for item in items:
        p = item.prepared
        row = None if p is None else (p.line, p.entity, p.key, p.version, p.digest,
                                      p.row[:-1] if p.entity == "person_record" else p.row,
                                      p.children)
        out.append((item.line, row, item.rejections))
    return out


def _parse(tmp_path: Path, data: bytes, fmt: str, agency: str, pool: Any) -> list[Parsed]:
    path = tmp_path / f"extract-{'pool' if pool else 'serial'}"
    path.write_bytes(data)
    raw, source = open_reader(path, fmt, agency)
    try:
        if pool is None:
            return list(parse_all(source))
        # Chunks of 7 rows: many chunk boundaries, and far more chunks than are in flight.
        return list(parse_stream(source, pool, chunk_units=7))
    finally:
        raw.close()


@pytest.fixture(scope="module")
def pool() -> Iterator[Any]:
    with parse_pool(2) as executor:
        yield executor


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "fhir"])
def test_pool_gives_the_same_rows_in_the_same_order(tmp_path: Path, pool: Any,
                                                    fmt: str) -> None:
    if fmt == "jsonl":
        data, rejects = _jsonl_lines(300)
        agency = "POL"
    elif fmt == "csv":
        data, rejects = _csv_text(200)
        agency = "EDU"
    else:
        patient = {"resourceType": "Patient", "birthDate": "2015-04",
                   "name": [{"family": "Smith", "given": ["Kayley"]}]}
        lines = [json.dumps({**patient, "id": f"h{i}"}) if i % 6 else
                 json.dumps({"resourceType": "Encounter", "id": f"e{i}"}) for i in range(1, 200)]
        data = ("\n".join(lines) + "\n").encode()
        rejects = {i for i in range(1, 200) if i % 6 == 0}
        agency = "HEA"
    serial = _parse(tmp_path, data, fmt, agency, None)
    parallel = _parse(tmp_path, data, fmt, agency, pool)
    assert _comparable(parallel) == _comparable(serial)
    assert {p.line for p in parallel if p.prepared is None} == rejects
    assert all(r.line == p.line for p in parallel for r in p.rejections)
    order = [p.line for p in parallel]
    assert order == sorted(order)


def test_prepared_is_a_plain_value() -> None:
    # It crosses process boundaries: no model, no session, nothing but builtins.
    prepared = prepare(1, PersonRecord.model_validate(PERSON))
    assert isinstance(prepared, Prepared)

    def plain(value: Any) -> bool:
        if isinstance(value, tuple):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (str, int, bool, dt.date))

    assert plain(tuple(prepared))


def test_parsed_rows_pickle_as_they_were() -> None:
    import pickle

    from schemas.ingest.outcome import Rejection

    rows = [Parsed(3, prepare(3, PersonRecord.model_validate(PERSON))),
            Parsed(4, rejections=[Rejection(4, "date_of_birth", "is before 1900", "p4")]),
            Parsed(5)]
    again = pickle.loads(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
    assert again == rows
    assert all(type(r) is Parsed for r in again)


def test_new_person_ids_look_as_linkage_makes_them() -> None:
    import re

    from linkage.store import new_person_id as linkage_person_id
    from schemas.ingest.prepare import new_person_id

    shape = re.compile(r"P[0-9A-F]{12}4[0-9A-F]{2}")
    ids = [new_person_id() for _ in range(2000)]
    assert all(shape.fullmatch(i) for i in ids)
    assert shape.fullmatch(linkage_person_id())
    assert len(set(ids)) == len(ids)
    assert {i[j] for i in ids for j in (1, 12, 14, 15)} >= set("0123456789ABCDEF")


def test_blank_and_whitespace_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    line = json.dumps({**PERSON, "source": {**SOURCE, "source_id": "w1"}}).encode()
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b"\n \t\r\n" + line + b"\n\x0b\x0c\n\n" + line.replace(b"w1", b"w2")
                     + b"  ")
    raw, source = open_reader(path, "jsonl", "POL")
    try:
        parsed = list(parse_all(source))
    finally:
        raw.close()
    assert [(p.line, p.prepared is not None) for p in parsed] == [(3, True), (6, True)]


def test_parse_workers_tune_their_own_garbage_collector(pool: Any) -> None:
    import gc

    threshold = gc.get_threshold()
    assert pool.submit(gc.get_threshold).result()[0] == 10_000
    assert gc.get_threshold() == threshold  # the calling process is left alone


def _old_decode(line: int, data: bytes) -> Any:
    """readers._decode_json as it was: json.loads only."""
    from schemas.ingest.outcome import Rejection

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection(line, "line", "is not valid UTF-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return Rejection(line, "line", f"is not valid JSON ({exc.msg})")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=12)
_JSONISH = st.lists(st.sampled_from(list('{}[]":,0123456789.eE+- \t\n\rtrufalsnNIy\\/x')
                                    + ["\x01", "\u00e9", "\ufeff", "\u2028", "\\ud800",
                                       "\\u00e9", "\\uDC00"]), max_size=24).map("".join)


@settings(max_examples=500, deadline=None)
@given(_JSON.map(lambda v: json.dumps(v, ensure_ascii=False)) | _JSONISH
       | st.binary(max_size=16).map(lambda b: b.decode("latin-1")))
def test_json_lines_decode_as_json_loads_decoded_them(text: str) -> None:
    from schemas.ingest.readers import _decode_json

    for data in (text.encode("utf-8", "surrogatepass"), text.encode("latin-1", "replace")):
        new, old = _decode_json(9, data), _old_decode(9, data)
        assert repr(new) == repr(old)  # repr: nan == nan, and -0.0 is not 0.0
        assert type(new) is type(old)


def test_parse_workers_run_below_the_priority_of_the_store(pool: Any) -> None:
    # The store (this process and the database) sets an ingest's pace: the workers parse
    # ahead with what CPU it leaves. os.nice(0) reads a process's niceness.
    from schemas.ingest.pipeline import WORKER_NICENESS

    expected = min(os.nice(0) + WORKER_NICENESS, 19)
    assert {pool.submit(os.nice, 0).result() for _ in range(8)} == {expected}
