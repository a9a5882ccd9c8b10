"""``POST /v1/records``: other applications send agency records in batches.

The same ingestion path as `casesearch ingest` (``schemas.ingest.service.ingest_payload``):
valid records are stored with an outbox row in the same transaction; each rejected item is
reported with its index, field and reason. Indexing follows: at once in embedded mode (a
best-effort in-process drain), through the Celery worker in production. If OpenSearch is down
the records are still stored and wait in the outbox.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from schemas.ingest.outcome import Rejection
from schemas.ingest.service import ingest_payload
from search_api.access.policy import INGEST_ROLES, require_roles
from search_api.access.principal import Principal
from search_api.deps import get_state
from search_api.state import AppState

log = logging.getLogger("casesearch.records")

router = APIRouter(prefix="/v1", tags=["records"])

MAX_BATCH = 1000

Sender = Annotated[Principal, Depends(require_roles(*INGEST_ROLES))]
State = Annotated[AppState, Depends(get_state)]

RECORD_EXAMPLES: dict[str, dict[str, Any]] = {
    "person": {
        "summary": "One person record",
        "value": {"records": [{
            "record_type": "person",
            "source": {"agency": "LEEDS_CSC", "source_system": "mosaic", "source_id": "C1001",
                       "version": 3},
            "given_names": "Robert", "family_name": "Smith", "date_of_birth": "2015-04-03",
            "names": [{"type": "former", "family_name": "Jones"}],
            "identifiers": [{"type": "nhs_number", "value": "943 476 5919"}],
            "addresses": [{"lines": ["1 Main Street", "Leeds"], "postcode": "LS9 7AB"}],
        }]},
    },
    "note": {
        "summary": "A case and a case note",
        "value": {"records": [
            {"record_type": "case",
             "source": {"agency": "LEEDS_CSC", "source_system": "mosaic", "source_id": "K77"},
             "type": "child_in_need", "subject_source_ids": ["C1001"]},
            {"record_type": "case_note",
             "source": {"agency": "LEEDS_CSC", "source_system": "mosaic", "source_id": "N1"},
             "case_source_id": "K77", "recorded_at": "2026-03-02T10:15:00Z",
             "text": "Home visit; Robert seen with his mother."},
        ]},
    },
}


class RecordBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[dict[str, Any]] = Field(..., min_length=1, max_length=MAX_BATCH,
                                          description="person, case and case_note records "
                                                      "(`record_type` says which)")


class RejectedItem(BaseModel):
    index: int = Field(..., description="position of the item in `records`")
    field: str
    reason: str
    source_id: str | None = None


class BatchReport(BaseModel):
    accepted: int
    updated: int
    unchanged: int
    rejected: int
    rejections: list[RejectedItem]
    indexing: Literal["done", "queued", "pending"] = Field(
        ..., description="done: searchable now; queued: a worker will index it; pending: "
                         "OpenSearch is unreachable, the changes wait in the outbox")


def _scope_check(records: list[dict[str, Any]], principal: Principal
                 ) -> tuple[list[dict[str, Any]], list[int], list[Rejection]]:
    """Items outside a multi-agency caller's scope are rejected here; the rest pass on with
    their original positions."""
    if principal.agencies is None:
        return records, list(range(len(records))), []
    kept: list[dict[str, Any]] = []
    positions: list[int] = []
    refused: list[Rejection] = []
    for i, item in enumerate(records):
        source = item.get("source") if isinstance(item, dict) else None
        agency = source.get("agency") if isinstance(source, dict) else None
        if isinstance(agency, str) and agency not in principal.agencies:
            refused.append(Rejection(i, "source.agency",
                                     f"is {agency!r}, outside your agency scope",
                                     str(source.get("source_id")) if source else None))
        else:
            kept.append(item)
            positions.append(i)
    return kept, positions, refused


def _index_now(state: AppState) -> Literal["done", "queued", "pending"]:
    settings = state.settings
    if settings.in_process_worker:
        from workers.outbox import drain_in_process, lag

        drain_in_process(settings)
        return "done" if lag(state.engine)["pending"] == 0 else "pending"
    try:
        from workers.tasks import drain_outbox

        drain_outbox.delay()
        return "queued"
    except Exception:  # broker down: the worker's loop still drains the outbox
        log.warning("could not queue the outbox drain; the worker loop will pick it up")
        return "pending"


@router.post("/records", response_model=BatchReport,
             summary="Send agency records (persons, cases, case notes) in a batch",
             responses={422: {"description": "The batch itself is malformed"}})
def post_records(principal: Sender, state: State,
                 body: Annotated[RecordBatch, Body(openapi_examples=RECORD_EXAMPLES)]
                 ) -> BatchReport:
    """Valid items are stored even when others are rejected; replays and older versions are
    reported as unchanged."""
    items, positions, refused = _scope_check(body.records, principal)
    agency = None
    if principal.agencies is not None and len(principal.agencies) == 1:
        agency = next(iter(principal.agencies))
    report = ingest_payload(state.engine, items, agency=agency) if items else None
    rejections = list(refused)
    if report is not None:
        rejections += [Rejection(positions[r.line] if 0 <= r.line < len(positions) else r.line,
                                 r.field, r.reason, r.source_id) for r in report.rejections]
    changed = report is not None and (report.accepted + report.updated) > 0
    indexing: Literal["done", "queued", "pending"] = _index_now(state) if changed else "done"
    rejected_count = len(refused) + (report.rejected if report else 0)
    return BatchReport(
        accepted=report.accepted if report else 0,
        updated=report.updated if report else 0,
        unchanged=report.unchanged if report else 0,
        rejected=rejected_count,
        rejections=[RejectedItem(index=r.line, field=r.field, reason=r.reason,
                                 source_id=r.source_id)
                    for r in sorted(rejections, key=lambda r: r.line)],
        indexing=indexing,
    )
