"""POST /v1/search and GET /v1/persons against real OpenSearch: every kind of name, date and
postcode variant, grouping by person, access control, audit, notes and error bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from schemas.db import engine_for, session_scope
from schemas.settings import Settings
from schemas.tables import OutboxRow, PersonRecordRow
from search_api.access.tables import AuditRow
from tests.integration._search_support import (
    PURPOSE,
    api,
    auth,
    case,
    drop_indices,
    index,
    make_settings,
    note,
    person,
    prepare_database,
    store,
    unique_prefix,
)

pytestmark = pytest.mark.integration

RECORDS = [
    person("SC", "S1", "Robert", "Smith", "2015-04-03", postcode="LS9 7AB",
           lines=["12 Harehills Lane", "Leeds"]),
    person("POL", "P1", "Mohammed", "Khan", "2012-06-20", postcode="BD3 9QP"),
    person("HEA", "H1", "Olivia", "Brown", "2014-03-07",
           names=[{"type": "former", "given_names": "Olivia", "family_name": "Taylor"}]),
    person("EDU", "E1", "Aleksandra", "Nowak", "2016-11-02", postcode="WF1 2AB"),
    person("SC", "S2", "Jayden", "Walker", "2013-05-05"),
    person("POL", "P2", "Jaden", "Walker", "2013-05-05"),
    person("SC", "S3", "Secret", "Sealedchild", "2011-01-20", sensitivity="sealed"),
    person("POL", "P3", "Rita", "Restrictova", "2012-02-02", sensitivity="restricted"),
    # Distractors sharing names, dates or places.
    person("SC", "D1", "Jane", "Smith", "2010-09-01", postcode="M1 1AE"),
    person("POL", "D2", "Tom", "Smith", "2015-09-09", postcode="LS9 8BB"),
    person("HEA", "D3", "Roberta", "Smithson", "2001-12-12"),
    person("EDU", "D4", "Amir", "Khan", "2012-07-01"),
    person("SC", "D5", "Olivia", "Taylor", "1990-05-05"),
    person("SC", "D6", "Smith", "Jones", "2015-04-03"),
    person("HEA", "F1", "Zoë", "Wiśniewska-O'Brien", "2013-08-08"),
    case("SC", "K1", ["S1"]),
    note("SC", "N1", "K1", "Home visit. Bruising noticed on Robert's left arm; mother says he "
         "fell at nursery."),
    case("SC", "K3", ["S3"], sensitivity="sealed"),
    note("SC", "N3", "K3", "Bruising recorded in the sealed case too."),
]


@pytest.fixture(scope="module")
def world(opensearch_url: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Settings, TestClient]]:
    tmp = tmp_path_factory.mktemp("search-variants")
    settings = make_settings(opensearch_url, f"sqlite:///{tmp / 'db.sqlite3'}",
                             unique_prefix("variants"), tmp)
    prepare_database(settings)
    store(settings, RECORDS)
    engine = engine_for(settings.resolved_database_url)
    # Link the two Walker records into one identity, as linkage would, and tell the outbox.
    with session_scope(engine) as session:
        s2, p2 = (session.scalars(select(PersonRecordRow).where(
            PersonRecordRow.source_id == sid)).one() for sid in ("S2", "P2"))
        session.execute(update(PersonRecordRow).where(PersonRecordRow.id == p2.id)
                        .values(person_id=s2.person_id))
        session.add(OutboxRow(entity_type="person_record", entity_id=p2.id, version=p2.version))
    index(settings)
    client = api(settings)
    try:
        yield settings, client
    finally:
        drop_indices(settings)


def _search(world: tuple[Settings, TestClient], roles: list[str] | None = None,
            status: int = 200, **body: Any) -> dict[str, Any]:
    _, client = world
    response = client.post("/v1/search", json={"purpose": PURPOSE, **body},
                           headers=auth(client, roles or ["hub_analyst"]))
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


def _source_ids(result: dict[str, Any]) -> set[str]:
    return {r.get("source_id") for r in result["records"]}


def _top(data: dict[str, Any]) -> dict[str, Any]:
    assert data["results"], "no results"
    top: dict[str, Any] = data["results"][0]
    return top


def test_nickname_bob_finds_robert(world: tuple[Settings, TestClient]) -> None:
    top = _top(_search(world, given_name="Bob", family_name="Smith"))
    assert _source_ids(top) == {"S1"}
    assert any("nickname" in r for r in top["reasons"]), top["reasons"]


def test_transliteration_muhammad_finds_mohammed(world: tuple[Settings, TestClient]) -> None:
    top = _top(_search(world, text="Muhammad Khan"))
    assert _source_ids(top) == {"P1"}
    given = next(e for e in top["explanation"] if e["field"] == "given_name")
    assert given["level"] == "variant" and given["weight"] > 0


def test_swapped_day_and_month(world: tuple[Settings, TestClient]) -> None:
    # 4 March instead of 3 April.
    top = _top(_search(world, given_name="Robert", family_name="Smith", dob="04/03/2015"))
    assert _source_ids(top) == {"S1"}
    assert any("swapped" in r for r in top["reasons"]), top["reasons"]


def test_former_surname(world: tuple[Settings, TestClient]) -> None:
    data = _search(world, given_name="Olivia", family_name="Taylor", dob="2014")
    top = _top(data)
    assert _source_ids(top) == {"H1"}
    assert any("former" in r for r in top["reasons"]), top["reasons"]


def test_partial_name_prefix(world: tuple[Settings, TestClient]) -> None:
    top = _top(_search(world, given_name="Alek", family_name="Now"))
    assert _source_ids(top) == {"E1"}
    assert any("starts with" in r for r in top["reasons"]), top["reasons"]


def test_diacritics_apostrophes_and_hyphens_fold(world: tuple[Settings, TestClient]) -> None:
    typings: list[dict[str, Any]] = [{"given_name": "zoe", "family_name": "wisniewska"},
                                     {"given_name": "Zoey", "family_name": "OBrien"},
                                     {"text": "zoe wisniewskaobrien"}]
    for typed in typings:
        top = _top(_search(world, **typed))
        assert _source_ids(top) == {"F1"}, typed


def test_misspelling(world: tuple[Settings, TestClient]) -> None:
    top = _top(_search(world, given_name="Robret", family_name="Smiht", dob="2015"))
    assert _source_ids(top) == {"S1"}


def test_postcode_sector_and_outward_rank_the_right_smith(
        world: tuple[Settings, TestClient]) -> None:
    data = _search(world, family_name="Smith", postcode="LS9 7")
    assert _source_ids(_top(data)) == {"S1"}
    assert any("LS9" in r for r in _top(data)["reasons"])
    data = _search(world, text="smith LS9")
    assert data["interpreted"]["postcode"] == "LS9"
    assert {"S1", "D2"} >= _source_ids(data["results"][0])
    # Both Leeds 9 Smiths come before the Manchester one.
    order = [next(iter(_source_ids(r))) for r in data["results"]]
    assert order.index("D1") > max(order.index("S1"), order.index("D2"))


def test_free_text_names_year_and_postcode(world: tuple[Settings, TestClient]) -> None:
    data = _search(world, text="bob smith 2015 LS9 7AB")
    assert data["interpreted"]["names"] == ["bob", "smith"]
    assert data["interpreted"]["dob"] == "2015"
    assert data["interpreted"]["postcode"] == "LS9 7AB"
    top = _top(data)
    assert _source_ids(top) == {"S1"}
    assert top["grade"] in ("certain", "probable")


def test_names_typed_the_other_way_round(world: tuple[Settings, TestClient]) -> None:
    top = _top(_search(world, text="smith robert 2015"))
    assert _source_ids(top) == {"S1"}


def test_results_are_grouped_by_person(world: tuple[Settings, TestClient]) -> None:
    data = _search(world, given_name="Jayden", family_name="Walker")
    walkers = [r for r in data["results"] if _source_ids(r) & {"S2", "P2"}]
    assert len(walkers) == 1, data["results"]
    assert _source_ids(walkers[0]) == {"S2", "P2"}
    assert {r["agency"] for r in walkers[0]["records"]} == {"SC", "POL"}
    person_ids = [r["person_id"] for r in data["results"]]
    assert len(person_ids) == len(set(person_ids))


def test_pagination_is_stable(world: tuple[Settings, TestClient]) -> None:
    first = _search(world, family_name="Smith", page_size=2)
    assert len(first["results"]) == 2 and first["next_cursor"]
    second = _search(world, family_name="Smith", page_size=2, cursor=first["next_cursor"])
    paged = [r["person_id"] for r in first["results"] + second["results"]]
    whole = [r["person_id"] for r in _search(world, family_name="Smith",
                                              page_size=4)["results"]]
    assert paged == whole
    scores = [r["score"] for r in first["results"] + second["results"]]
    assert scores == sorted(scores, reverse=True)
    by_page = _search(world, family_name="Smith", page_size=2, page=2)
    assert [r["person_id"] for r in by_page["results"]] == paged[2:]


@pytest.mark.parametrize("text", ["smith AND (x OR", "*", "\\", "smith~ \"unclosed", "[a TO z]",
                                  "name:smith", "/regex.*/", "+- && || ! ( ) { } [ ] ^ ~ ? :"])
def test_query_syntax_is_just_text(world: tuple[Settings, TestClient], text: str) -> None:
    data = _search(world, text=text)
    assert isinstance(data["results"], list)


def test_errors_name_the_field(world: tuple[Settings, TestClient]) -> None:
    _, client = world
    headers = auth(client, ["hub_analyst"])

    def error_fields(body: dict[str, Any]) -> list[str]:
        response = client.post("/v1/search", json=body, headers=headers)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        return [".".join(str(p) for p in d["loc"]) + " " + str(d.get("msg")) for d in detail]

    assert any("page_size" in f for f in error_fields(
        {"purpose": PURPOSE, "text": "smith", "page_size": 500}))
    assert any("dob" in f for f in error_fields({"purpose": PURPOSE, "dob": "31/02/2015"}))
    assert any("text" in f for f in error_fields({"purpose": PURPOSE, "text": "x" * 201}))
    assert any("purpose" in f for f in error_fields({"purpose": "curiosity", "text": "smith"}))
    assert any("purpose" in f for f in error_fields({"text": "smith"}))
    assert any("cursor" in f for f in error_fields(
        {"purpose": PURPOSE, "text": "smith", "cursor": "not-a-cursor"}))
    assert any("text" in f for f in error_fields({"purpose": PURPOSE}))


def test_sealed_hidden_restricted_padlocked(world: tuple[Settings, TestClient]) -> None:
    admin = _search(world, roles=["records_admin"], family_name="Sealedchild")
    assert _source_ids(_top(admin)) == {"S3"}
    sealed_person = _top(admin)["person_id"]
    analyst = _search(world, family_name="Sealedchild", given_name="Secret", dob="2011-01-20")
    # Not in results, not as an empty identity, not in the count.
    assert sealed_person not in [r["person_id"] for r in analyst["results"]]
    assert all(r["records"] for r in analyst["results"])
    assert analyst["total"] == len(analyst["results"]) or analyst["total"] > 0
    notes = _search(world, notes_text="bruising")
    assert [_source_ids(r) for r in notes["results"]] == [{"S1"}]
    # A duty worker sees the restricted record padlocked: no reasons, no identifiers.
    duty = _top(_search(world, roles=["duty_worker"], family_name="Restrictova"))
    record = duty["records"][0]
    assert record["restricted"] is True
    assert record.get("source_id") is None and record.get("postcodes") is None
    assert duty["reasons"] == [] and duty["explanation"] == []
    analyst = _top(_search(world, family_name="Restrictova"))
    assert analyst["records"][0]["restricted"] is False and analyst["reasons"]


def test_agency_scope_and_filter(world: tuple[Settings, TestClient]) -> None:
    _, client = world
    response = client.post("/v1/search", json={"purpose": PURPOSE, "family_name": "Smith"},
                           headers=auth(client, ["duty_worker"], agencies=["POL"]))
    assert response.status_code == 200
    agencies = {r["agency"] for res in response.json()["results"] for r in res["records"]}
    assert agencies == {"POL"}
    data = _search(world, family_name="Smith", agencies=["SC"])
    assert {r["agency"] for res in data["results"] for r in res["records"]} == {"SC"}


def test_case_note_text_search(world: tuple[Settings, TestClient]) -> None:
    data = _search(world, notes_text="bruising left arm")
    assert [_source_ids(r) for r in data["results"]] == [{"S1"}]
    highlights = data["results"][0]["notes"][0]["highlights"]
    assert any("<mark>" in h for h in highlights)
    # With a name too: only persons whose notes match.
    data = _search(world, family_name="Smith", notes_text="bruising")
    assert [_source_ids(r) for r in data["results"]] == [{"S1"}]
    # The sealed case's note never shows to someone who may not see it.
    assert all("sealed" not in h for r in data["results"] for n in r["notes"]
               for h in n["highlights"])


def test_every_search_is_audited(world: tuple[Settings, TestClient]) -> None:
    settings, _ = world
    _search(world, family_name="Zzyzxnobody")
    _search(world, given_name="Bob", family_name="Smith")
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        rows = list(session.scalars(select(AuditRow).where(AuditRow.event == "search")
                                    .order_by(AuditRow.id.desc()).limit(2)))
    found, empty = rows
    assert empty.result_count == 0 and empty.result_ids == []
    assert empty.criteria == {"family_name": "Zzyzxnobody"} and empty.purpose == PURPOSE
    assert found.result_count and found.result_count >= 1


def test_person_view(world: tuple[Settings, TestClient]) -> None:
    settings, client = world
    top = _top(_search(world, given_name="Robert", family_name="Smith"))
    response = client.get(f"/v1/persons/{top['person_id']}",
                          params={"purpose": PURPOSE}, headers=auth(client, ["hub_analyst"]))
    assert response.status_code == 200, response.text
    view = response.json()
    assert [r["source_id"] for r in view["records"]] == ["S1"]
    assert view["addresses"][0]["postcode"] == "LS9 7AB"
    assert view["cases"][0]["agency"] == "SC"
    assert "Bruising" in view["timeline"][0]["text"]
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        audit = session.scalars(select(AuditRow).where(AuditRow.event == "record_view")
                                .order_by(AuditRow.id.desc()).limit(1)).one()
    assert audit.target == top["person_id"] and audit.result_ids == [view["records"][0][
        "record_id"]]


def test_person_view_names_over_time_and_grouped_records(
        world: tuple[Settings, TestClient]) -> None:
    _, client = world
    headers = auth(client, ["hub_analyst"])
    olivia = _top(_search(world, given_name="Olivia", family_name="Brown"))
    view = client.get(f"/v1/persons/{olivia['person_id']}", headers=headers).json()
    assert {(n["type"], n["family_name"]) for n in view["names"]} == {
        ("current", "Brown"), ("former", "Taylor")}
    walker = _top(_search(world, given_name="Jayden", family_name="Walker"))
    view = client.get(f"/v1/persons/{walker['person_id']}", headers=headers).json()
    assert {r["agency"] for r in view["records"]} == {"SC", "POL"}


def test_person_view_hides_what_you_may_not_see(world: tuple[Settings, TestClient]) -> None:
    _, client = world
    admin = _top(_search(world, roles=["records_admin"], family_name="Sealedchild"))
    response = client.get(f"/v1/persons/{admin['person_id']}",
                          headers=auth(client, ["hub_analyst"]))
    assert response.status_code == 404
    assert client.get("/v1/persons/PNOSUCHPERSON", headers=auth(
        client, ["hub_analyst"])).status_code == 404
    assert client.get(f"/v1/persons/{admin['person_id']}").status_code == 401


def test_index_lag_endpoint(world: tuple[Settings, TestClient]) -> None:
    _, client = world
    response = client.get("/v1/index/lag", headers=auth(client, ["records_admin"]))
    assert response.status_code == 200
    assert response.json()["pending"] == 0
    assert client.get("/v1/index/lag").status_code == 401
