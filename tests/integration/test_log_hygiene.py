"""Application logs carry no names, dates of birth or identifiers (issue #6, hygiene).

A scripted session (records posted, indexed and linked, searches that find and miss, a person
view, a match, a review list, an unauthenticated call) runs with every logger at DEBUG; then
the captured log text is searched for the personal data that went in.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.integration._search_support import (
    api,
    auth,
    drop_indices,
    make_settings,
    person,
    prepare_database,
    unique_prefix,
)

PEOPLE = [
    person("SC", "lh-1", "Zebedee", "Quartermaine", "2015-04-03", postcode="LS9 7AB",
           nhs="9434765919", lines=["17 Wharncliffe Grove"]),
    person("POL", "lh-2", "Zeb", "Quartermain", "2015-03-04", postcode="LS9 7AB"),
    person("EDU", "lh-3", "Philippa", "Ostrowska-Wright", "2012-11-30", postcode="M1 1AE"),
]
SECRETS = ["Zebedee", "Quartermain", "Philippa", "Ostrowska", "2015-04-03", "03/04/2015",
           "2012-11-30", "9434765919", "943 476 5919", "Wharncliffe", "LS9 7AB"]


def test_a_full_session_logs_no_personal_data(opensearch_url: str, sqlite_url: str,
                                              tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(opensearch_url, sqlite_url, unique_prefix("logs"), tmp_path)
    prepare_database(settings)
    caplog.set_level(logging.DEBUG)
    try:
        with api(settings) as client:
            writer = auth(client, ["records_admin"], None, subject="admin")
            posted = client.post("/v1/records", json={"records": PEOPLE}, headers=writer)
            assert posted.status_code == 200, posted.text
            from workers.outbox import drain

            drain(settings)
            duty = auth(client, ["duty_worker"], ["SC", "POL", "EDU"])
            for body in ({"text": "zebedee quartermaine 2015", "purpose": "new referral"},
                         {"family_name": "Ostrowska-Wright", "dob": "30/11/2012",
                          "purpose": "MASH enquiry"},
                         {"identifier": {"type": "nhs_number", "value": "943 476 5919"},
                          "purpose": "new referral"},
                         {"text": "Nobody Atall 1999", "purpose": "new referral"}):
                found = client.post("/v1/search", json=body, headers=duty)
                assert found.status_code == 200, found.text
            hit = client.post("/v1/search", json={"text": "zeb quartermain",
                                                   "purpose": "case work"}, headers=duty)
            person_id = hit.json()["results"][0]["person_id"]
            assert client.get(f"/v1/persons/{person_id}", params={"purpose": "case work"},
                              headers=duty).status_code == 200
            client.post("/v1/match", json=PEOPLE[0], headers=duty)
            client.get("/v1/reviews", headers=auth(client, ["reviewer"], None, "rev"))
            assert client.post("/v1/search", json={"text": "Zebedee"}).status_code == 401
    finally:
        drop_indices(settings)
    text = "\n".join(f"{r.name} {r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records, "the session produced no log records at all"
    leaked = {s: [r.name for r in caplog.records
                  if s.lower() in f"{r.getMessage()} {r.__dict__}".lower()]
              for s in SECRETS if s.lower() in text.lower()}
    assert leaked == {}
