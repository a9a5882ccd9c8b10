"""Shared set-up for the ingestion tests: a migrated store that knows one agency."""

from __future__ import annotations

from sqlalchemy import Engine

from schemas.db import engine_for, session_scope, upgrade
from schemas.tables import AgencyRow


def store_with_agency(url: str, code: str, name: str, kind: str) -> Engine:
    """Migrate the database at ``url`` and register one agency; the engine to use."""
    upgrade(url)
    engine = engine_for(url)
    with session_scope(engine) as session:
        session.add(AgencyRow(code=code, name=name, kind=kind))
    return engine
