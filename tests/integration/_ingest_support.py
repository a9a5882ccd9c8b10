"""Shared set-up for the ingestion tests: a migrated store that knows one agency, and rows
of the documented CSV."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from schemas.db import engine_for, session_scope, upgrade
from schemas.ingest.readers import CSV_COLUMNS
from schemas.tables import AgencyRow


def store_with_agency(url: str, code: str, name: str, kind: str) -> Engine:
    """Migrate the database at ``url`` and register one agency; the engine to use."""
    upgrade(url)
    engine = engine_for(url)
    with session_scope(engine) as session:
        session.add(AgencyRow(code=code, name=name, kind=kind))
    return engine


def count(engine: Engine, model: type) -> int:
    """How many rows the table of ``model`` holds."""
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


HEADER = ",".join(CSV_COLUMNS)


def row(**values: str) -> str:
    """One line of the documented CSV: a valid person record unless ``values`` say otherwise."""
    base = {c: "" for c in CSV_COLUMNS}
    base.update(source_system="sims", version="1", given_names="Kayleigh",
                family_name="Smith-Jones", date_of_birth="03/04/2015", postcode="ls97ab")
    base.update(values)
    return ",".join(base[c] for c in CSV_COLUMNS)
