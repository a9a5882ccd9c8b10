"""Celery tasks. Each is idempotent: acks are late, so a task may run more than once."""

from __future__ import annotations

from workers.celery_app import celery_app


@celery_app.task(name="casesearch.ping")
def ping(value: int) -> dict[str, int]:
    """A round trip through the broker: used by health checks and the broker test."""
    return {"echo": value, "doubled": value * 2}
