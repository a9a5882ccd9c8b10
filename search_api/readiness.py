"""Checks of each real service, used by /readyz and `casesearch status`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from search_api.state import AppState


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_database(state: AppState) -> Check:
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return Check("database", True, state.engine.dialect.name)
    except Exception as exc:  # any driver error means "not ready"
        return Check("database", False, type(exc).__name__)


def check_opensearch(state: AppState) -> Check:
    try:
        health = state.opensearch_fast.cluster.health(request_timeout=1)
        status = health.get("status", "unknown")
        return Check("opensearch", status in {"green", "yellow"}, status)
    except Exception as exc:
        return Check("opensearch", False, f"unreachable ({type(exc).__name__})")


def check_broker(state: AppState) -> Check:
    url = state.settings.broker_url
    if url is None:
        return Check("broker", True, "in-process worker")
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        return Check("broker", True, "redis")
    except Exception as exc:
        return Check("broker", False, f"unreachable ({type(exc).__name__})")


def all_checks(state: AppState) -> list[Check]:
    return [check_database(state), check_opensearch(state), check_broker(state)]
