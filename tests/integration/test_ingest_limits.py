"""Over-long values and NUL characters are per-row rejections, on SQLite and PostgreSQL.

Before the wire models carried the column sizes, such a row passed validation and then
failed the whole PostgreSQL batch at INSERT (value too long / NUL in text), losing the valid
rows with it. Each format, and POST /v1/records, must keep the valid rows and name the field.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from schemas import limits
from schemas.db import engine_for, session_scope
from schemas.ingest.readers import CSV_COLUMNS
from schemas.ingest.service import ingest_file
from schemas.tables import CaseNoteRow, CaseRow, PersonRecordRow
from tests.integration._ingest_support import store_with_agency
from tests.integration._search_support import (
    api,
    auth,
    drop_indices,
    make_settings,
    person,
    prepare_database,
    unique_prefix,
)

LONG_NAME = "x" * (limits.NAME + 1)
NUL_NAME = "Jo\x00anne"


@pytest.fixture
def engine(database_url: str) -> Engine:
    return store_with_agency(database_url, "EDU", "Education", "education")


def stored_ids(engine: Engine, model: Any) -> set[str]:
    with session_scope(engine) as session:
        return set(session.scalars(select(model.source_id)))


def rejects_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def check_rejects(report: Any, rejects: Path, expected: dict[int, tuple[str, str]]) -> None:
    """The report and the rejects file both name each bad row's line, field and reason."""
    assert report.rejected == len(expected)
    got = {r.line: (r.field, r.reason) for r in report.rejections}
    assert set(got) == set(expected)
    for line, (field, words) in expected.items():
        assert got[line][0] == field, got[line]
        assert words in got[line][1], got[line]
    in_file = {int(r["line"]): (r["field"], r["reason"]) for r in rejects_rows(rejects)}
    assert in_file == got


def test_csv_long_and_nul_rows_rejected_valid_rows_kept(engine: Engine, tmp_path: Path) -> None:
    def row(source_id: str, given: str) -> list[str]:
        values = {c: "" for c in CSV_COLUMNS}
        values.update(source_system="sims", source_id=source_id, version="1",
                      given_names=given, family_name="Smith", date_of_birth="03/04/2015")
        return [values[c] for c in CSV_COLUMNS]

    path = tmp_path / "pupils.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        writer.writerow(row("1", "Kayleigh"))  # line 2
        writer.writerow(row("2", LONG_NAME))  # line 3
        writer.writerow(row("3", NUL_NAME))  # line 4
        writer.writerow(row("4", "Robert"))  # line 5
    rejects = tmp_path / "rejects.csv"
    report = ingest_file(engine, path, "EDU", "csv", rejects)
    assert report.accepted == 2
    check_rejects(report, rejects, {
        3: ("given_names", f"at most {limits.NAME} characters"),
        4: ("given_names", "contains a NUL character"),
    })
    assert stored_ids(engine, PersonRecordRow) == {"1", "4"}


def test_jsonl_long_and_nul_values_in_every_record_type(engine: Engine, tmp_path: Path) -> None:
    src = {"agency": "EDU", "source_system": "sims", "version": 1}
    good = {"record_type": "person", "family_name": "Smith", "date_of_birth": "2015-04-03"}
    lines: list[dict[str, Any]] = [
        {**good, "source": {**src, "source_id": "p1"}},
        {**good, "source": {**src, "source_id": "p2"}, "family_name": LONG_NAME},
        {**good, "source": {**src, "source_id": "p3"}, "given_names": NUL_NAME},
        {"record_type": "case", "source": {**src, "source_id": "c1"}},
        {"record_type": "case", "source": {**src, "source_id": "c2"},
         "case_number": "9" * (limits.CASE_NUMBER + 1)},
        {"record_type": "case_note", "source": {**src, "source_id": "n1"},
         "case_source_id": "c1", "recorded_at": "2024-01-02T10:00:00Z", "text": "Seen."},
        {"record_type": "case_note", "source": {**src, "source_id": "n2"},
         "case_source_id": "c1", "recorded_at": "2024-01-02T10:00:00Z",
         "text": "Seen\x00 at home."},
        {"record_type": "case_note", "source": {**src, "source_id": "n3"},
         "case_source_id": "c1", "recorded_at": "2024-01-02T10:00:00Z", "text": "Seen.",
         "author": "a" * (limits.AUTHOR + 1)},
        # A long note is fine: text has no column size, only the MAX_NOTE_CHARS rule.
        {"record_type": "case_note", "source": {**src, "source_id": "n4"},
         "case_source_id": "c1", "recorded_at": "2024-01-02T10:00:00Z", "text": "w " * 5000},
    ]
    path = tmp_path / "edu.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    report = ingest_file(engine, path, "EDU", "jsonl", rejects)
    assert report.accepted == 4
    check_rejects(report, rejects, {
        2: ("family_name", f"at most {limits.NAME} characters"),
        3: ("given_names", "contains a NUL character"),
        5: ("case_number", f"at most {limits.CASE_NUMBER} characters"),
        7: ("text", "contains a NUL character"),
        8: ("author", f"at most {limits.AUTHOR} characters"),
    })
    assert stored_ids(engine, PersonRecordRow) == {"p1"}
    assert stored_ids(engine, CaseRow) == {"c1"}
    assert stored_ids(engine, CaseNoteRow) == {"n1", "n4"}


def test_fhir_long_and_nul_names_rejected(engine: Engine, tmp_path: Path) -> None:
    def patient(pid: str, given: str, family: str = "Smith") -> dict[str, Any]:
        return {"resourceType": "Patient", "id": pid, "birthDate": "2015-04-03",
                "name": [{"use": "official", "family": family, "given": [given]},
                         {"use": "old", "family": "Jones", "given": [given]}]}

    resources = [patient("h1", "Kayley"), patient("h2", "Kayley", family=LONG_NAME),
                 patient("h3", NUL_NAME), patient("h4", "Robert")]
    path = tmp_path / "p.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in resources) + "\n", encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    report = ingest_file(engine, path, "EDU", "fhir", rejects)
    assert report.accepted == 2
    # The first rejection of a row is counted; the file lists each failing field.
    assert {(r.line, r.field) for r in report.rejections} == {
        (2, "family_name"), (3, "given_names")}
    in_file = {(int(r["line"]), r["field"], r["reason"]) for r in rejects_rows(rejects)}
    assert (2, "family_name", f"String should have at most {limits.NAME} characters") in in_file
    assert (3, "given_names", "contains a NUL character") in in_file
    assert (3, "names.0.given_names", "contains a NUL character") in in_file
    assert stored_ids(engine, PersonRecordRow) == {"h1", "h4"}


def test_api_rejects_long_and_nul_items_and_keeps_the_rest(
        opensearch_url: str, database_url: str, tmp_path: Path) -> None:
    settings = make_settings(opensearch_url, database_url, unique_prefix("limits"), tmp_path)
    prepare_database(settings)
    records = [person("SC", "a1", "Kayleigh", "Smith", "2015-04-03"),
               person("SC", "a2", LONG_NAME, "Smith", "2015-04-03"),
               person("SC", "a3", "Kayleigh", NUL_NAME, "2015-04-03"),
               person("SC", "a4", "Robert", "Smith", "2015-04-03")]
    try:
        with api(settings) as client:
            response = client.post("/v1/records", json={"records": records},
                                   headers=auth(client, ["records_admin"], None))
        # Per-item problems are reported in the batch report; only a malformed batch is 422.
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["accepted"], body["rejected"]) == (2, 2)
        assert [(r["index"], r["field"]) for r in body["rejections"]] == [
            (1, "given_names"), (2, "family_name")]
        assert f"at most {limits.NAME} characters" in body["rejections"][0]["reason"]
        assert body["rejections"][1]["reason"] == "contains a NUL character"
        assert stored_ids(engine_for(database_url), PersonRecordRow) == {"a1", "a4"}
    finally:
        drop_indices(settings)
