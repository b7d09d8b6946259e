"""calls and users

Revision ID: 0001
Revises: 
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pbx', sa.String(length=64), nullable=False),
    sa.Column('linkedid', sa.String(length=64), nullable=False),
    sa.Column('hotline', sa.String(length=32), nullable=True),
    sa.Column('caller_number', sa.String(length=64), nullable=True),
    sa.Column('caller_name', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('disposition', sa.String(length=16), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('wait_seconds', sa.Double(), nullable=True),
    sa.Column('talk_seconds', sa.Double(), nullable=True),
    sa.Column('hangup_cause', sa.Integer(), nullable=True),
    sa.Column('hangup_cause_text', sa.String(length=100), nullable=True),
    sa.Column('queue', sa.String(length=80), nullable=True),
    sa.Column('agent', sa.String(length=120), nullable=True),
    sa.Column('recording', sa.Text(), nullable=True),
    sa.Column('survey_case', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pbx', 'linkedid', name='uq_calls_pbx_linkedid')
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_caller_number', ['caller_number'], unique=False)
        batch_op.create_index('ix_calls_started_at', ['started_at'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('call_legs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('uniqueid', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cause', sa.Integer(), nullable=True),
    sa.Column('cause_text', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('call_id', 'uniqueid', name='uq_call_legs_call_uniqueid')
    )
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_legs_call_id'), ['call_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_legs_call_id'))

    op.drop_table('call_legs')
    op.drop_table('users')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_started_at')
        batch_op.drop_index('ix_calls_caller_number')

    op.drop_table('calls')
