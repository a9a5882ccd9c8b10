"""link_reviews.record_b index: a merge looks up the pending pairs of its records by either side

Revision ID: 0005
Revises: 0004

After a merge, the pending review pairs whose two records are now one identity are marked
obsolete; they are found by ``record_a IN (...) OR record_b IN (...)``. ``record_a`` leads the
unique pair index, ``record_b`` had none, so every merge read the whole pending queue (112,697
pairs after a full re-link of 1M people).
"""
from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_link_reviews_b", "link_reviews", ["record_b"])


def downgrade() -> None:
    op.drop_index("ix_link_reviews_b", table_name="link_reviews")
