"""Celery tasks. Each is idempotent: acks are late, so a task may run more than once."""

from __future__ import annotations

from typing import Any

from workers.celery_app import celery_app
from workers.outbox import IndexUnavailable


@celery_app.task(name="casesearch.ping")
def ping(value: int) -> dict[str, int]:
    """A round trip through the broker: used by health checks and the broker test."""
    return {"echo": value, "doubled": value * 2}


# --- outbox (issue #4) -------------------------------------------------------------------------

@celery_app.task(name="casesearch.drain_outbox", bind=True, acks_late=True,
                 autoretry_for=(IndexUnavailable,), retry_backoff=True, retry_backoff_max=60,
                 retry_jitter=True, max_retries=None)
def drain_outbox(self: Any, max_batches: int | None = 50) -> dict[str, int]:
    """Index every pending outbox change (current SQL state), then mark it processed.

    Idempotent: documents carry external versions, so a re-run or a concurrent drainer is
    harmless. While OpenSearch is down the task retries with exponential backoff; the rows stay
    pending meanwhile (the lag metric shows them).
    """
    from schemas.settings import get_settings
    from workers.outbox import drain

    result = drain(get_settings(), max_batches=max_batches)
    return {"processed": result.processed, "indexed": result.indexed, "failed": result.failed,
            "batches": result.batches}
