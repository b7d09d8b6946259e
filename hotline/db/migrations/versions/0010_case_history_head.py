"""each case keeps the hash of its newest history step (cases.head), so that deleting the newest
steps is found as an edit is

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('cases', sa.Column('head', sa.String(length=64), nullable=True))
    # The histories as they stand are taken as true: this is the moment the anchor starts.
    op.execute(
        "UPDATE cases SET head = (SELECT hash FROM case_steps WHERE case_steps.case_id = cases.id "
        "ORDER BY seq DESC LIMIT 1)"
    )


def downgrade() -> None:
    # Not in batch mode: SQLite (3.35 and later) drops a plain column in place, where a batch
    # would copy `cases` and drop the original, which the histories' foreign keys refuse.
    op.drop_column('cases', 'head')
