"""References the store checks itself (schemas.tables, "Keys checked by the store").

Records' agency_code and child rows' record_id have no foreign keys; the store and the
triggers of migration 0006 must keep every rule those keys kept, on both backends.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from schemas.db import session_scope
from schemas.ingest.store import UnknownAgency, upsert_batch
from schemas.integrity import dangling_keys
from schemas.records import PersonRecord
from schemas.tables import (
    AddressRow,
    AgencyRow,
    IdentifierRow,
    PersonNameRow,
    PersonRecordRow,
    RelationshipRow,
)
from search_api.cli import data_cmd
from tests.integration._cli_support import cli_app
from tests.integration._ingest_support import store_with_agency

CHILDREN = (PersonNameRow, IdentifierRow, AddressRow, RelationshipRow)


@pytest.fixture
def engine(database_url: str) -> Engine:
    engine = store_with_agency(database_url, "POL", "Police", "police")
    with session_scope(engine) as session:
        session.add(AgencyRow(code="EDU", name="Education", kind="education"))
    return engine


def person(source_id: str, agency: str = "POL") -> PersonRecord:
    return PersonRecord.model_validate({
        "source": {"agency": agency, "source_system": "niche", "source_id": source_id,
                   "version": 1},
        "given_names": "Robert", "family_name": "Smyth", "date_of_birth": "2015-04-03",
        "names": [{"type": "alias", "given_names": "Bob", "family_name": "Smyth"}],
        "identifiers": [{"type": "nhs_number", "value": "9434765919"}],
        "addresses": [{"lines": ["1 High St"], "postcode": "LS9 7AB"}],
        "relationships": [{"type": "sibling", "related_source_id": "other"}]})


def children_of(engine: Engine, record_id: int) -> list[int]:
    with session_scope(engine) as session:
        return [session.scalar(select(func.count()).select_from(model)
                               .where(model.record_id == record_id)) or 0
                for model in CHILDREN]


def record_id(engine: Engine, source_id: str) -> int:
    with session_scope(engine) as session:
        found = session.scalar(select(PersonRecordRow.id)
                               .where(PersonRecordRow.source_id == source_id))
    assert found is not None
    return found


def test_an_agency_that_holds_records_cannot_be_deleted_or_renamed(engine: Engine) -> None:
    upsert_batch(engine, [(1, person("a"))])
    for statement in ("DELETE FROM agencies WHERE code = 'POL'",
                      "UPDATE agencies SET code = 'PLC' WHERE code = 'POL'"):
        with pytest.raises(DBAPIError, match="agency holds records"), \
                session_scope(engine) as session:
            session.execute(text(statement))
    # Its name can change, and an agency without records can go.
    with session_scope(engine) as session:
        session.execute(text("UPDATE agencies SET name = 'Constabulary' WHERE code = 'POL'"))
        session.execute(text("UPDATE agencies SET code = 'SCH' WHERE code = 'EDU'"))
        session.execute(text("DELETE FROM agencies WHERE code = 'SCH'"))
        assert sorted(session.scalars(select(AgencyRow.code))) == ["POL"]


def test_deleting_a_person_record_deletes_its_child_rows(engine: Engine) -> None:
    upsert_batch(engine, [(1, person("a")), (2, person("b"))])
    gone, kept = record_id(engine, "a"), record_id(engine, "b")
    assert children_of(engine, gone) == children_of(engine, kept) == [1, 1, 1, 1]
    with session_scope(engine) as session:
        session.execute(text("DELETE FROM person_records WHERE id = :id"), {"id": gone})
    assert children_of(engine, gone) == [0, 0, 0, 0]
    assert children_of(engine, kept) == [1, 1, 1, 1]
    assert set(dangling_keys(engine).values()) == {0}


def test_a_batch_with_an_unknown_agency_is_refused_whole(engine: Engine) -> None:
    with pytest.raises(UnknownAgency, match="unknown agency 'XXX'"):
        upsert_batch(engine, [(1, person("a")), (2, person("x", agency="XXX"))])
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(PersonRecordRow)) == 0
    upsert_batch(engine, [(1, person("a")), (2, person("e", agency="EDU"))])
    assert set(dangling_keys(engine).values()) == {0}


def test_dangling_keys_counts_rows_no_foreign_key_would_have_allowed(engine: Engine) -> None:
    upsert_batch(engine, [(1, person("a"))])
    assert set(dangling_keys(engine).values()) == {0}
    with session_scope(engine) as session:
        session.execute(text("INSERT INTO person_names (record_id, type) VALUES (987654, 'alias')"))
        session.execute(text(
            "INSERT INTO cases (agency_code, source_system, source_id, version, received_at, "
            "content_hash, type, status, sensitivity, subject_source_ids, payload) VALUES "
            "('NOPE', 's', 'c1', 1, CURRENT_TIMESTAMP, 'h', 'referral', 'open', 'normal', "
            "'[]', '{}')"))
    counts = dangling_keys(engine)
    assert counts.pop("person_names.record_id") == 1
    assert counts.pop("cases.agency_code") == 1
    assert set(counts.values()) == {0}


def test_deleting_an_agency_waits_for_a_batch_that_stores_its_records(
        postgres_url: str) -> None:
    """FOR KEY SHARE holds the batch's agencies as a foreign key would: a concurrent delete
    waits for the batch, then its trigger sees the batch's rows and refuses."""
    from schemas.ingest.store import _lock_agencies

    engine = store_with_agency(postgres_url, "POL", "Police", "police")
    outcome: list[str] = []
    with engine.connect() as batch:
        with batch.begin():
            from sqlalchemy.orm import Session

            session = Session(bind=batch)
            _lock_agencies(session, {"POL"})

            def delete() -> None:
                try:
                    with session_scope(engine) as other:
                        other.execute(text("DELETE FROM agencies WHERE code = 'POL'"))
                    outcome.append("deleted")
                except DBAPIError as exc:
                    outcome.append(str(exc.orig))

            deleter = threading.Thread(target=delete)
            deleter.start()
            time.sleep(0.5)
            assert outcome == []  # waiting for the batch's lock
            session.execute(text(
                "INSERT INTO person_records (agency_code, source_system, source_id, version, "
                "received_at, updated_at, content_hash, dob_precision, dob_estimated, "
                "dob_disputed, gender, sensitivity, payload) VALUES ('POL', 's', 'r1', 1, "
                "now(), now(), 'h', 'unknown', false, false, 'not_recorded', 'normal', '{}')"))
        deleter.join(10)
    assert len(outcome) == 1 and "agency holds records" in outcome[0]


def test_check_store_command_reports_dangling_rows(engine: Engine, database_url: str,
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    runner = CliRunner()
    with cli_app(monkeypatch, database_url, tmp_path, data_cmd.register) as app:
        upsert_batch(engine, [(1, person("a"))])
        good = runner.invoke(app, ["check-store"])
        assert good.exit_code == 0, good.output
        assert "every reference holds" in good.output
        with session_scope(engine) as session:
            session.execute(text(
                "INSERT INTO identifiers (record_id, type, value, valid) "
                "VALUES (987654, 'upn', 'x', false)"))
        bad = runner.invoke(app, ["check-store"])
        assert bad.exit_code == 1
        assert "1 rows of identifiers.record_id refer to nothing" in bad.output
