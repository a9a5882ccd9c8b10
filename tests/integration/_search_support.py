"""Helpers for the search integration tests (real OpenSearch, real SQL; nothing mocked)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from indexer.client import make_client
from indexer.lifecycle import delete_indices
from schemas.db import engine_for, session_scope, upgrade
from schemas.ingest.outcome import IngestReport
from schemas.ingest.service import ingest_payload
from schemas.settings import Settings, load_settings
from schemas.tables import AgencyRow
from workers.outbox import DrainResult, drain, forget_ensured

AGENCIES = (("SC", "Children's Social Care", "social_care"), ("POL", "Police", "police"),
            ("HEA", "Health", "health"), ("EDU", "Education", "education"))
SYSTEMS = {"SC": "sc_cms", "POL": "pol_rms", "HEA": "hea_pas", "EDU": "edu_mis"}
PURPOSE = "case work"


def unique_prefix(name: str) -> str:
    return f"t-{name}-{uuid.uuid4().hex[:8]}"


def make_settings(opensearch_url: str, database_url: str, prefix: str, data_dir: Path,
                  **extra: str) -> Settings:
    env = {
        "CASESEARCH_OPENSEARCH_URL": opensearch_url,
        "CASESEARCH_DATABASE_URL": database_url,
        "CASESEARCH_INDEX_PREFIX": prefix,
        "CASESEARCH_DATA_DIR": str(data_dir),
        "CASESEARCH_RATE_LIMIT_PER_MINUTE": "0",
        "CASESEARCH_OPENSEARCH_TIMEOUT": "10",
    }
    env.update({f"CASESEARCH_{k.upper()}": v for k, v in extra.items()})
    return load_settings(env)


def prepare_database(settings: Settings) -> None:
    upgrade(settings.resolved_database_url)
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        for code, name, kind in AGENCIES:
            session.merge(AgencyRow(code=code, name=name, kind=kind))


def drop_indices(settings: Settings) -> None:
    delete_indices(make_client(settings.resolved_opensearch_url, 30), settings.index_prefix)
    forget_ensured()


def person(agency: str, source_id: str, given: str | None, family: str | None,
           dob: str | None = None, *, version: int = 1, names: list[dict[str, Any]] | None = None,
           postcode: str | None = None, nhs: str | None = None, sensitivity: str = "normal",
           lines: list[str] | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "record_type": "person",
        "source": {"agency": agency, "source_system": SYSTEMS[agency], "source_id": source_id,
                   "version": version},
        "given_names": given, "family_name": family, "sensitivity": sensitivity,
        "names": names or [],
    }
    if dob:
        record["date_of_birth"] = dob
    if postcode or lines:
        record["addresses"] = [{"lines": lines or [], "postcode": postcode}]
    if nhs:
        record["identifiers"] = [{"type": "nhs_number", "value": nhs}]
    return record


def case(agency: str, source_id: str, subjects: list[str],
         sensitivity: str = "normal") -> dict[str, Any]:
    return {"record_type": "case",
            "source": {"agency": agency, "source_system": SYSTEMS[agency], "source_id": source_id},
            "type": "child_in_need", "subject_source_ids": subjects, "sensitivity": sensitivity}


def note(agency: str, source_id: str, case_source_id: str, text: str,
         recorded_at: str = "2026-02-01T10:00:00Z", sensitivity: str = "normal"
         ) -> dict[str, Any]:
    return {"record_type": "case_note",
            "source": {"agency": agency, "source_system": SYSTEMS[agency], "source_id": source_id},
            "case_source_id": case_source_id, "recorded_at": recorded_at, "text": text,
            "author": "A Worker", "sensitivity": sensitivity}


def store(settings: Settings, records: list[dict[str, Any]]) -> IngestReport:
    report = ingest_payload(engine_for(settings.resolved_database_url), records)
    assert report.rejected == 0, report.rejections
    return report


def index(settings: Settings) -> DrainResult:
    """Drain the outbox into OpenSearch (linkage off: these tests are about search) and
    make it visible."""
    result = drain(settings, link=False)
    client = make_client(settings.resolved_opensearch_url, 30)
    client.indices.refresh(index=f"{settings.index_prefix}-persons")
    client.indices.refresh(index=f"{settings.index_prefix}-notes")
    return result


def api(settings: Settings) -> TestClient:
    from search_api.app import create_app

    return TestClient(create_app(settings))


def auth(client: TestClient, roles: list[str], agencies: list[str] | None = None,
         subject: str = "worker-1") -> dict[str, str]:
    issuer = client.app.state.access.dev_issuer  # type: ignore[attr-defined]
    token, _ = issuer.sign(subject, roles, agencies)
    return {"Authorization": f"Bearer {token}"}
