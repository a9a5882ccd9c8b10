"""Linkage against real OpenSearch + SQL: the outbox worker's hook links through retrieval,
the index catches up, and the HTTP surfaces (reviews, unlink, match, FHIR $match) work,
are audited and never leak sealed records."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from indexer.client import make_client
from indexer.lifecycle import delete_indices
from linkage.features import features_from_source
from linkage.store import current_persons
from schemas.db import engine_for, session_scope
from schemas.ingest.service import ingest_payload
from schemas.settings import Settings
from schemas.tables import AgencyRow, PersonRecordRow
from search_api.access.tables import AuditRow
from search_api.app import create_app
from tests.integration.access_support import make_settings, sign_in

NHS = ["9434765919", "4010232137"]


@pytest.fixture
def env(database_url: str, opensearch_url: str, tmp_path: Path) -> Iterator[Settings]:
    from schemas.db import upgrade

    prefix = "tlink" + uuid.uuid4().hex[:8]
    settings = make_settings(database_url, tmp_path, opensearch_url=opensearch_url,
                             index_prefix=prefix)
    upgrade(database_url)
    with session_scope(engine_for(database_url)) as session:
        for code, kind in (("LA1", "social_care"), ("HEA", "health")):
            session.add(AgencyRow(code=code, name=code, kind=kind))
    yield settings
    delete_indices(make_client(opensearch_url, 10.0), prefix)


def person(source_id: str, agency: str = "LA1", **kw: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "record_type": "person",
        "source": {"agency": agency, "source_system": "sys", "source_id": source_id,
                   "version": 1},
        "given_names": "Kacper", "family_name": "Wisniewski", "date_of_birth": "2013-09-17",
        "gender": "male", "addresses": [{"lines": ["3 Roundhay Road"], "postcode": "LS8 5AN"}],
    }
    rec.update(kw)
    return rec


def store(settings: Settings, *records: dict[str, Any]) -> list[int]:
    engine = engine_for(settings.resolved_database_url)
    out = []
    for r in records:
        assert not ingest_payload(engine, [r]).rejections
        with session_scope(engine) as session:
            out.append(int(session.scalar(select(PersonRecordRow.id).where(
                PersonRecordRow.source_id == r["source"]["source_id"],
                PersonRecordRow.agency_code == r["source"]["agency"])) or 0))
    return out


def drain(settings: Settings) -> None:
    from workers.outbox import drain as drain_outbox

    for _ in range(3):  # index, link (writes outbox rows), index the new person ids
        drain_outbox(settings)
    make_client(settings.resolved_opensearch_url, 10.0).indices.refresh(
        index=f"{settings.index_prefix}-persons")


def indexed_person(settings: Settings, record_id: int) -> str:
    client = make_client(settings.resolved_opensearch_url, 10.0)
    doc = client.get(index=f"{settings.index_prefix}-persons", id=str(record_id))
    return str(doc["_source"]["person_id"])


def persons(settings: Settings, ids: list[int]) -> dict[int, str]:
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        return current_persons(session, ids)


def audit_events(settings: Settings) -> list[str]:
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        return [e for (e,) in session.execute(select(AuditRow.event).order_by(AuditRow.id))]


def test_worker_hook_links_through_retrieval_and_index_catches_up(env: Settings) -> None:
    a, b = store(env, person("1", identifiers=[{"type": "nhs_number", "value": NHS[0]}]),
                 person("2", agency="HEA", given_names="Kacpar",
                        identifiers=[{"type": "nhs_number", "value": NHS[0]}]))
    drain(env)
    p = persons(env, [a, b])
    assert p[a] == p[b]
    assert indexed_person(env, a) == indexed_person(env, b) == p[a]


def test_seed_features_from_the_index_equal_those_built_from_sql(env: Settings) -> None:
    from linkage.incremental import seeds_from_opensearch
    from linkage.store import load_features

    a, b = store(env, person("1", identifiers=[{"type": "nhs_number", "value": NHS[0]}],
                             names=[{"type": "alias", "given_names": "Kasper",
                                     "family_name": "Wisnewski"}]),
                 person("2", agency="HEA", date_of_birth="2013", gender="not_recorded"))
    drain(env)
    client = make_client(env.resolved_opensearch_url, 10.0)
    from_index = seeds_from_opensearch(client, f"{env.index_prefix}-persons", [a, b, 10**9])
    with session_scope(engine_for(env.resolved_database_url)) as session:
        from_sql = load_features(session, [a, b])
    assert set(from_index) == {a, b}  # an id not in the index is left out, not guessed
    assert from_index == from_sql


def test_full_relink_reads_the_index_only_while_it_holds_the_stored_records(
        env: Settings) -> None:
    from sqlalchemy import update

    from linkage.incremental import all_features, full_relink_features, link_full
    from schemas.tables import OutboxRow, utcnow

    a, b, c = store(env, person("1", identifiers=[{"type": "nhs_number", "value": NHS[0]}],
                                names=[{"type": "alias", "given_names": "Kasper",
                                        "family_name": "Wisnewski"}]),
                    person("2", agency="HEA", date_of_birth="2013", gender="not_recorded"),
                    person("3", given_names="Zofia", family_name="Nowak",
                           date_of_birth="2015-02-11"))
    drain(env)
    engine = engine_for(env.resolved_database_url)
    with session_scope(engine) as session:
        from_index, origin = full_relink_features(env, session)
        from_sql = all_features(session)
    assert origin == "index"
    assert [f.record_id for f in from_index] == [str(a), str(b), str(c)]
    assert from_index == from_sql
    assert link_full(env).merges == 0  # the worker hook linked them already

    # A newer version waiting in the outbox: the index is behind, SQL is read.
    changed = person("3", given_names="Zofia", family_name="Kowalska",
                     date_of_birth="2015-02-11")
    changed["source"]["version"] = 2
    store(env, changed)
    with session_scope(engine) as session:
        records, origin = full_relink_features(env, session)
    assert origin == "store"
    assert records[-1].family == "kowalska"
    # Even with the outbox cleared by hand, the index's version 1 is not taken for version 2.
    with session_scope(engine) as session:
        session.execute(update(OutboxRow).values(processed_at=utcnow()))
    with session_scope(engine) as session:
        records, origin = full_relink_features(env, session)
    assert origin == "store"
    assert records[-1].family == "kowalska"


class _CountingMget:
    """The real client, counting which ids linkage reads back with ``mget``."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.read_back: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def mget(self, **kw: Any) -> Any:
        self.read_back.extend(kw["body"]["ids"])
        return self._client.mget(**kw)


def test_the_worker_hands_linkage_the_documents_it_wrote(env: Settings) -> None:
    from indexer.documents import load_person_docs
    from indexer.lifecycle import ensure_indices
    from linkage.incremental import link_records
    from linkage.store import load_features
    from workers.outbox import drain_once

    a, b = store(env, person("1", identifiers=[{"type": "nhs_number", "value": NHS[0]}]),
                 person("2", agency="HEA", given_names="Kacpar",
                        identifiers=[{"type": "nhs_number", "value": NHS[0]}]))
    engine = engine_for(env.resolved_database_url)
    client = make_client(env.resolved_opensearch_url, 10.0)
    alias = f"{env.index_prefix}-persons"
    ensure_indices(client, env.index_prefix)
    with session_scope(engine) as session:
        (newer,) = load_person_docs(session, [b])
    # The index already holds a newer version of b: the worker's copy of b is stale.
    client.index(index=alias, id=newer.id, body=newer.source, version=newer.version + 5,
                 version_type="external_gte")
    result = drain_once(engine, client, env.index_prefix)
    assert result.record_ids == [a, b]
    assert set(result.person_sources) == {a}
    with session_scope(engine) as session:
        from_sql = load_features(session, [a])
    assert features_from_source(result.person_sources[a]) == from_sql[a]
    counting = _CountingMget(client)
    outcome = link_records(env, result.record_ids, client=counting,
                           sources=result.person_sources)
    assert counting.read_back == [str(b)]  # only the record whose copy was stale
    assert outcome.merges == 1
    p = persons(env, [a, b])
    assert p[a] == p[b]


def test_review_decision_and_unlink_over_http(env: Settings) -> None:
    a, b = store(env, person("1", identifiers=[{"type": "nhs_number", "value": NHS[0]}]),
                 person("2", agency="HEA",
                        identifiers=[{"type": "nhs_number", "value": NHS[1]}]))
    drain(env)
    assert len(set(persons(env, [a, b]).values())) == 2  # conflicting NHS numbers: review
    with TestClient(create_app(env)) as client:
        reviewer = sign_in(client, "rev.one", "reviewer")
        listed = client.get("/v1/reviews", headers=reviewer)
        assert listed.status_code == 200, listed.text
        pairs = listed.json()["reviews"]
        assert len(pairs) == 1 and "identifier_conflict" in pairs[0]["flags"]
        assert pairs[0]["explanation"] and pairs[0]["records"][0]["detail"]["family_name"]
        duty = sign_in(client, "duty.one", "duty_worker")
        assert client.get("/v1/reviews", headers=duty).status_code == 403
        short = client.post(f"/v1/reviews/{pairs[0]['id']}", headers=reviewer,
                            json={"decision": "confirm", "reason": "ok"})
        assert short.status_code == 422
        done = client.post(f"/v1/reviews/{pairs[0]['id']}", headers=reviewer,
                           json={"decision": "confirm",
                                 "reason": "same child: GP confirmed the NHS number change"})
        assert done.status_code == 200, done.text
        assert done.json()["merged"] and len(set(done.json()["person_ids"])) == 1
        merged = persons(env, [a, b])[a]
        admin = sign_in(client, "admin.one", "records_admin")
        split = client.post(f"/v1/persons/{merged}/unlink", headers=admin,
                            json={"record_ids": [b], "reason": "confirmed in error, GP "
                                  "records show two children"})
        assert split.status_code == 200, split.text
        assert split.json()["new_person_id"] != merged
    p = persons(env, [a, b])
    assert p[a] == merged and p[b] != merged
    events = audit_events(env)
    assert "link_decision" in events and "unlink" in events and "record_view" in events


def test_reviews_and_match_never_show_sealed_records(env: Settings) -> None:
    store(env, person("1", identifiers=[{"type": "nhs_number", "value": NHS[0]}]),
          person("2", agency="HEA", sensitivity="sealed",
                 identifiers=[{"type": "nhs_number", "value": NHS[1]}]))
    drain(env)
    with TestClient(create_app(env)) as client:
        reviewer = sign_in(client, "rev.two", "reviewer")
        assert client.get("/v1/reviews", headers=reviewer).json()["reviews"] == []
        admin = sign_in(client, "admin.two", "records_admin")  # sees sealed
        assert len(client.get("/v1/reviews", headers=admin).json()["reviews"]) == 1
        duty = sign_in(client, "duty.two", "duty_worker")
        found = client.post("/v1/match", headers=duty, json={
            "given_names": "Kacper", "family_name": "Wisniewski",
            "date_of_birth": "2013-09-17"})
        assert found.status_code == 200, found.text
        results = found.json()["results"]
        assert [r["record"]["agency"] for r in results] == ["LA1"]
        assert results[0]["grade"] in ("certain", "probable", "possible")
        assert results[0]["explanation"]


def test_fhir_patient_match_returns_graded_bundle(env: Settings) -> None:
    store(env, person("1", identifiers=[{"type": "nhs_number", "value": NHS[0]}]),
          person("9", given_names="Amara", family_name="Osei", date_of_birth="2010-02-02",
                 addresses=[{"lines": ["1 Elm Street"], "postcode": "M1 1AE"}]))
    drain(env)
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": NHS[0]}],
            "name": [{"use": "official", "family": "Wisniewski", "given": ["Kacper"]}],
            "birthDate": "2013-09-17", "gender": "male"}},
        {"name": "count", "valueInteger": 3}]}
    with TestClient(create_app(env)) as client:
        duty = sign_in(client, "duty.three", "duty_worker")
        response = client.post("/fhir/Patient/$match", headers=duty, json=body)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/fhir+json")
        bundle = response.json()
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
        top = bundle["entry"][0]
        assert top["resource"]["resourceType"] == "Patient"
        assert top["search"]["mode"] == "match" and top["search"]["score"] > 0.99
        assert top["search"]["extension"] == [{
            "url": "http://hl7.org/fhir/StructureDefinition/match-grade",
            "valueCode": "certain"}]
        bad = client.post("/fhir/Patient/$match", headers=duty, json={"resourceType": "Patient"})
        assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    assert "match" in audit_events(env)


def test_a_record_agreeing_on_two_fields_is_not_crowded_out_by_single_field_matches(
        env: Settings) -> None:
    """Linkage retrieval matches a record's fields in pairs. The other agency's record of the
    same child (the given name written differently, the same common surname and date of
    birth) must be a candidate when more than 20 other records share only its given name and
    birth year: the flat query (any one field) ranked all 25 of those above it, since a
    rarer given name outweighed a surname held by a thousand records and the date."""
    from indexer.lifecycle import ensure_indices
    from linkage.incremental import (
        CANDIDATES_PER_RECORD,
        candidates_from_opensearch,
        seeds_from_opensearch,
    )
    from workers.outbox import drain_once

    def kid(source_id: str, given: str, family: str, dob: str, agency: str = "LA1"
            ) -> dict[str, Any]:
        return {"record_type": "person",
                "source": {"agency": agency, "source_system": "sys", "source_id": source_id,
                           "version": 1},
                "given_names": given, "family_name": family, "date_of_birth": dob}

    others = ["Adeyemi", "Baxter", "Chowdhury", "Dalton", "Ellison", "Fairweather", "Gallagher",
              "Hussain", "Iqbal", "Jankowski", "Kowalczyk", "Lindqvist", "Mahmood", "Nowak",
              "Oduya", "Pritchard", "Quigley", "Rahman", "Sutcliffe", "Thornton", "Umarov",
              "Varga", "Whitworth", "Xavier", "Yilmaz"]
    given = ["Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Freya", "Grace", "Ella",
             "Noah", "Oliver", "George", "Leo", "Arthur", "Jack", "Harry", "Oscar", "Theo"]
    records = [kid("seed", "Zainab", "Smith", "2014-06-09"),
               kid("same-child", "Zee", "Smith", "2014-06-09", agency="HEA")]
    # Same given name and birth year, nothing else: the flat query scored each of these
    # above the same child's other record.
    records += [kid(f"given-only-{i}", "Zainab", surname, f"2014-0{1 + i % 5}-1{i % 9}")
                for i, surname in enumerate(others)]
    records += [kid(f"smith-{i}", given[i % len(given)], "Smith",
                    f"20{i % 5 + 5:02d}-{i % 12 + 1:02d}-{i % 27 + 1:02d}") for i in range(1000)]
    engine = engine_for(env.resolved_database_url)
    report = ingest_payload(engine, records)
    assert not report.rejections
    client = make_client(env.resolved_opensearch_url, 10.0)
    ensure_indices(client, env.index_prefix)
    while drain_once(engine, client, env.index_prefix).batches:
        pass
    alias = f"{env.index_prefix}-persons"
    client.indices.refresh(index=alias)
    with session_scope(engine) as session:
        ids = {s: i for s, i in session.execute(
            select(PersonRecordRow.source_id, PersonRecordRow.id))}
    seeds = seeds_from_opensearch(client, alias, [ids["seed"]])
    (found,) = candidates_from_opensearch(client, alias, [seeds[ids["seed"]]])
    assert len(found) <= CANDIDATES_PER_RECORD
    assert str(ids["same-child"]) in {str(src["record_id"]) for src in found}
    # A shared given name alone is not a candidate; a shared surname alone neither.
    assert not any(str(src["source_id"]).startswith(("given-only-", "smith-")) for src in found)
