"""persons.merged_into index: merges and member look-ups follow it

Revision ID: 0004
Revises: 0003

Linking one record at 100k people spent most of its time in full scans of persons: every
merge re-points the identities absorbed by the loser (WHERE merged_into = ...) and every
members look-up walks them.
"""
from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_persons_merged_into", "persons", ["merged_into"])


def downgrade() -> None:
    op.drop_index("ix_persons_merged_into", table_name="persons")
