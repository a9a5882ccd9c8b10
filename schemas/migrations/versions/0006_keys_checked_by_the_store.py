"""Records' agency and child rows' record: checked by the store, not row by row

Revision ID: 0006
Revises: 0005

PostgreSQL checks a foreign key with one query per inserted row. In an ingest of 100k people
(327,868 records and 513,636 child rows) the checks of agency_code -> agencies and of the
child rows' record_id -> person_records were about a quarter of the server's CPU
(BENCHMARKS.md, Ingestion, session 11).
The store now locks a batch's agencies once and refuses the batch if one is unknown; child
rows are written only with their record. What the foreign keys also did on change is kept by
triggers that fire only then:

* an agency that holds records cannot be deleted or renamed (was: NO ACTION);
* deleting a person record deletes its child rows (was: ON DELETE CASCADE).

The identity keys (person_records.person_id, persons.merged_into) keep their foreign keys.

SQLite's batch mode rebuilds a table without its triggers: a later migration that batch-alters
agencies or person_records must create these triggers again (tests/integration/
test_store_keys.py fails if they are missing).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CHILD_TABLES = ("person_names", "identifiers", "addresses", "relationships")
RECORD_TABLES = ("person_records", "cases", "case_notes")
# Names SQLite's batch mode gives the unnamed foreign keys of 0001, so it can drop them.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}

_IN_USE = " OR ".join(f"EXISTS (SELECT 1 FROM {t} WHERE agency_code = OLD.code)"
                      for t in RECORD_TABLES)
_MESSAGE = "agency holds records: it cannot be deleted or renamed"
_DELETE_CHILDREN = "".join(f"  DELETE FROM {t} WHERE record_id = OLD.id;\n" for t in CHILD_TABLES)

POSTGRES_UP = (
    f"""CREATE FUNCTION casesearch_agency_in_use() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF {_IN_USE} THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('%s: {_MESSAGE}', OLD.code);
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$""",
    """CREATE TRIGGER agencies_in_use_delete BEFORE DELETE ON agencies
FOR EACH ROW EXECUTE FUNCTION casesearch_agency_in_use()""",
    """CREATE TRIGGER agencies_in_use_rename BEFORE UPDATE OF code ON agencies
FOR EACH ROW WHEN (OLD.code IS DISTINCT FROM NEW.code)
EXECUTE FUNCTION casesearch_agency_in_use()""",
    "CREATE FUNCTION casesearch_delete_record_children() RETURNS trigger LANGUAGE plpgsql AS $$"
    "\nBEGIN\n" + _DELETE_CHILDREN + "  RETURN NULL;\nEND $$",
    """CREATE TRIGGER person_records_delete_children AFTER DELETE ON person_records
FOR EACH ROW EXECUTE FUNCTION casesearch_delete_record_children()""",
)
POSTGRES_DOWN = (
    "DROP TRIGGER person_records_delete_children ON person_records",
    "DROP FUNCTION casesearch_delete_record_children()",
    "DROP TRIGGER agencies_in_use_rename ON agencies",
    "DROP TRIGGER agencies_in_use_delete ON agencies",
    "DROP FUNCTION casesearch_agency_in_use()",
)
SQLITE_UP = (
    f"""CREATE TRIGGER agencies_in_use_delete BEFORE DELETE ON agencies
WHEN {_IN_USE}
BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END""",
    f"""CREATE TRIGGER agencies_in_use_rename BEFORE UPDATE OF code ON agencies
WHEN OLD.code IS NOT NEW.code AND ({_IN_USE})
BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END""",
    "CREATE TRIGGER person_records_delete_children AFTER DELETE ON person_records\nBEGIN\n"
    + _DELETE_CHILDREN + "END",
)
SQLITE_DOWN = (
    "DROP TRIGGER person_records_delete_children",
    "DROP TRIGGER agencies_in_use_rename",
    "DROP TRIGGER agencies_in_use_delete",
)


def _foreign_keys(table: str, referred: str) -> list[str]:
    """Names of ``table``'s foreign keys to ``referred``: PostgreSQL's own, or on SQLite the
    name NAMING gives an unnamed one (a downgrade names them)."""
    return [fk["name"] or NAMING["fk"] % {"table_name": table,
                                          "column_0_name": fk["constrained_columns"][0],
                                          "referred_table_name": referred}
            for fk in sa.inspect(op.get_bind()).get_foreign_keys(table)
            if fk["referred_table"] == referred]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    drops = [(t, "person_records") for t in CHILD_TABLES]
    drops += [(t, "agencies") for t in RECORD_TABLES]
    for table, referred in drops:
        names = _foreign_keys(table, referred)
        if postgres:
            for name in names:
                op.drop_constraint(name, table, type_="foreignkey")
        elif names:
            with op.batch_alter_table(table, naming_convention=NAMING) as batch:
                for name in names:
                    batch.drop_constraint(name, type_="foreignkey")
    for statement in POSTGRES_UP if postgres else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_DOWN if postgres else SQLITE_DOWN:
        op.execute(statement)
    adds: list[tuple[str, str, str, str, str | None]] = [
        (t, "record_id", "person_records", "id", "CASCADE") for t in CHILD_TABLES]
    adds += [(t, "agency_code", "agencies", "code", None) for t in RECORD_TABLES]
    for table, column, referred, remote, ondelete in adds:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(f"{table}_{column}_fkey", referred, [column], [remote],
                                     ondelete=ondelete)
