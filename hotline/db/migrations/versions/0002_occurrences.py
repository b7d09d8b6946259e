"""scored subjects and the occurrence ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scored_subjects",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("window_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["window_id"], ["scored_subjects.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "occurrences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rubric", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.String(length=200), nullable=False),
        sa.Column("entered_by", sa.String(length=100), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["reverses_id"], ["occurrences.id"]),
        sa.ForeignKeyConstraint(["subject_id"], ["scored_subjects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reverses_id"),
    )
    op.create_index("ix_occurrences_rubric_day", "occurrences", ["rubric", "day"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_occurrences_rubric_day", table_name="occurrences")
    op.drop_table("occurrences")
    op.drop_table("scored_subjects")
