"""linkage: link events, record membership history, review queue, human constraints

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "link_events",
        sa.Column("id", IdType, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("other_person_id", sa.String(length=40), nullable=False),
        sa.Column("record_ids", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_link_events_person", "link_events", ["person_id"])
    op.create_index("ix_link_events_other", "link_events", ["other_person_id"])
    op.create_index("ix_link_events_at", "link_events", ["at"])

    op.create_table(
        "record_memberships",
        sa.Column("id", IdType, autoincrement=True, nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_record_memberships_record", "record_memberships",
                    ["record_id", "valid_from"])
    op.create_index("ix_record_memberships_person", "record_memberships", ["person_id"])

    op.create_table(
        "link_reviews",
        sa.Column("id", IdType, autoincrement=True, nullable=False),
        sa.Column("record_a", sa.BigInteger(), nullable=False),
        sa.Column("record_b", sa.BigInteger(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("match_weight", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("queued_reason", sa.String(length=400), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_a", "record_b", name="uq_link_reviews_pair"),
    )
    op.create_index("ix_link_reviews_status", "link_reviews", ["status", "probability"])

    op.create_table(
        "link_constraints",
        sa.Column("id", IdType, autoincrement=True, nullable=False),
        sa.Column("record_a", sa.BigInteger(), nullable=False),
        sa.Column("record_b", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("review_id", sa.BigInteger(), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_link_constraints_a", "link_constraints", ["record_a"])
    op.create_index("ix_link_constraints_b", "link_constraints", ["record_b"])


def downgrade() -> None:
    op.drop_table("link_constraints")
    op.drop_table("link_reviews")
    op.drop_table("record_memberships")
    op.drop_table("link_events")
