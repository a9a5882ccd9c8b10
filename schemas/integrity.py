"""Rows whose references the store checks itself rather than through foreign keys.

Records' agency_code and child rows' record_id have no foreign keys (schemas.tables, "Keys
checked by the store"). This counts the rows that such keys would have refused, so a test,
or an operator after a restore, can show there are none.
"""

from __future__ import annotations

from sqlalchemy import Engine, exists, func, select

from schemas.db import session_scope
from schemas.ingest.store import CHILD_TABLES, TABLE_FOR
from schemas.tables import AgencyRow, PersonRecordRow, table_of

__all__ = ["dangling_keys"]


def dangling_keys(engine: Engine) -> dict[str, int]:
    """Per "table.column", how many rows refer to something that does not exist (0 each)."""
    records, agencies = table_of(PersonRecordRow), table_of(AgencyRow)
    counts: dict[str, int] = {}
    with session_scope(engine) as session:
        for child in CHILD_TABLES:
            orphan = ~exists().where(records.c.id == child.c.record_id)
            counts[f"{child.name}.record_id"] = session.scalar(
                select(func.count()).select_from(child).where(orphan)) or 0
        for table in TABLE_FOR.values():
            unknown = ~exists().where(agencies.c.code == table.c.agency_code)
            counts[f"{table.name}.agency_code"] = session.scalar(
                select(func.count()).select_from(table).where(unknown)) or 0
    return counts
