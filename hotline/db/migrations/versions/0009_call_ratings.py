"""the caller's one-key rating of a call after the operator hangs up (call_ratings, joined to
calls by linkedid)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'call_ratings',
        sa.Column('linkedid', sa.String(length=64), nullable=False),
        sa.Column('uniqueid', sa.String(length=64), nullable=False),
        sa.Column('rating', sa.Integer(), nullable=False),
        sa.Column('rated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('linkedid'),
    )


def downgrade() -> None:
    op.drop_table('call_ratings')
