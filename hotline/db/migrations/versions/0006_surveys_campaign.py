"""callback surveys: served items, opt-outs, weekly draws, surveys, call attempts, follow-up answers

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('followup_answers',
    sa.Column('case', sa.String(length=64), nullable=False),
    sa.Column('answer', sa.SmallInteger(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reopening', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('case')
    )
    op.create_table('served_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window', sa.String(length=64), nullable=False),
    sa.Column('staff', sa.String(length=64), nullable=False),
    sa.Column('applicant', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('item', sa.String(length=200), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('window', 'staff', 'phone', 'item', 'completed_at', name='uq_served_items_record')
    )
    with op.batch_alter_table('served_items', schema=None) as batch_op:
        batch_op.create_index('ix_served_items_completed_at', ['completed_at'], unique=False)
        batch_op.create_index('ix_served_items_phone', ['phone'], unique=False)

    op.create_table('survey_opt_outs',
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('by', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('phone')
    )
    op.create_table('survey_weeks',
    sa.Column('week', sa.String(length=8), nullable=False),
    sa.Column('seed', sa.String(length=64), nullable=False),
    sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('shortfall', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('week')
    )
    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sa.String(length=8), nullable=False),
    sa.Column('round', sa.SmallInteger(), nullable=False),
    sa.Column('served_item_id', sa.Integer(), nullable=False),
    sa.Column('case', sa.String(length=64), nullable=False),
    sa.Column('window', sa.String(length=64), nullable=False),
    sa.Column('staff', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attitude', sa.SmallInteger(), nullable=True),
    sa.Column('efficiency', sa.SmallInteger(), nullable=True),
    sa.Column('compliance', sa.SmallInteger(), nullable=True),
    sa.Column('suggestion', sa.Text(), nullable=True),
    sa.Column('complaint_case', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['served_item_id'], ['served_items.id'], ),
    sa.ForeignKeyConstraint(['week'], ['survey_weeks.week'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case')
    )
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_surveys_phone'), ['phone'], unique=False)
        batch_op.create_index('ix_surveys_status_next', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_surveys_week'), ['week'], unique=False)

    op.create_table('survey_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.SmallInteger(), nullable=False),
    sa.Column('action_id', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=True),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('action_id'),
    sa.UniqueConstraint('survey_id', 'number', name='uq_survey_attempts_number')
    )
    with op.batch_alter_table('survey_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_attempts_survey_id'), ['survey_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('survey_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_attempts_survey_id'))

    op.drop_table('survey_attempts')
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_surveys_week'))
        batch_op.drop_index('ix_surveys_status_next')
        batch_op.drop_index(batch_op.f('ix_surveys_phone'))

    op.drop_table('surveys')
    op.drop_table('survey_weeks')
    op.drop_table('survey_opt_outs')
    with op.batch_alter_table('served_items', schema=None) as batch_op:
        batch_op.drop_index('ix_served_items_phone')
        batch_op.drop_index('ix_served_items_completed_at')

    op.drop_table('served_items')
    op.drop_table('followup_answers')
