"""follow-up callbacks (回访) of closed cases ride the survey dialer: surveys.kind, and no week,
served item, window or staff for a follow-up

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='survey', nullable=False))
        batch_op.alter_column('week', existing_type=sa.String(length=8), nullable=True)
        batch_op.alter_column('served_item_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('window', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('staff', existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM survey_attempts WHERE survey_id IN (SELECT id FROM surveys WHERE kind = 'followup')")
    op.execute("DELETE FROM surveys WHERE kind = 'followup'")
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.alter_column('staff', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('window', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('served_item_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('week', existing_type=sa.String(length=8), nullable=False)
        batch_op.drop_column('kind')
