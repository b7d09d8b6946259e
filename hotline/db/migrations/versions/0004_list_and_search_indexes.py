"""indexes for the call list's filters and keyset pages; two-character transcript search

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

The call list is ordered by (started_at, id) and pages by that pair: each filter gets an index
on (filter column, started_at, id), so a page is read in index order and stops after `limit`
rows whatever the table's size (EXPLAIN plans in docs/scale.md). Transcript search on
PostgreSQL moves from a pg_trgm index, which cannot serve a keyword of fewer than three
characters (LIKE '%..%' yields no trigram; most Chinese words have two), to a GIN index on each
segment's character pairs, kept in a new column `search_pairs`; each segment also gets its
call's start (`call_started_at`, indexed), the order search lists calls in. Both are filled here
for existing rows.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

PAIRS_TYPE = sa.JSON().with_variant(postgresql.ARRAY(sa.Text()), 'postgresql')


def _fill_search_pairs() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute(
            'UPDATE transcript_segments SET search_pairs = ARRAY(SELECT DISTINCT substr(search_text, i, 2)'
            ' FROM generate_series(1, length(search_text) - 1) AS i ORDER BY 1)'
        )
        return
    rows = bind.execute(sa.text('SELECT id, search_text FROM transcript_segments')).all()
    for id_, text in rows:
        pairs = sorted({text[i : i + 2] for i in range(len(text) - 1)})
        bind.execute(sa.text('UPDATE transcript_segments SET search_pairs = :pairs WHERE id = :id'),
                     {'pairs': json.dumps(pairs), 'id': id_})


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_started_at')
        batch_op.drop_index('ix_calls_caller_number')
        batch_op.create_index('ix_calls_started_at_id', ['started_at', 'id'], unique=False)
        batch_op.create_index('ix_calls_caller_started_at', ['caller_number', 'started_at', 'id'], unique=False)
        batch_op.create_index('ix_calls_hotline_started_at', ['hotline', 'started_at', 'id'], unique=False)
        batch_op.create_index('ix_calls_disposition_started_at', ['disposition', 'started_at', 'id'], unique=False)
    with op.batch_alter_table('transcript_segments', schema=None) as batch_op:
        batch_op.drop_index('ix_transcript_segments_search_text')
        batch_op.add_column(sa.Column('search_pairs', PAIRS_TYPE, nullable=True))
        batch_op.add_column(sa.Column('call_started_at', sa.DateTime(timezone=True), nullable=True))
    _fill_search_pairs()
    op.execute(
        'UPDATE transcript_segments SET call_started_at = (SELECT calls.started_at FROM transcripts'
        ' JOIN recordings ON recordings.id = transcripts.recording_id JOIN calls ON calls.id = recordings.call_id'
        ' WHERE transcripts.id = transcript_segments.transcript_id)'
    )
    with op.batch_alter_table('transcript_segments', schema=None) as batch_op:
        batch_op.alter_column('search_pairs', existing_type=PAIRS_TYPE, nullable=False)
        batch_op.create_index('ix_transcript_segments_search_pairs', ['search_pairs'], unique=False,
                              postgresql_using='gin')
        batch_op.create_index('ix_transcript_segments_call_started_at', ['call_started_at', 'transcript_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('transcript_segments', schema=None) as batch_op:
        batch_op.drop_index('ix_transcript_segments_call_started_at')
        batch_op.drop_index('ix_transcript_segments_search_pairs')
        batch_op.drop_column('call_started_at')
        batch_op.drop_column('search_pairs')
        batch_op.create_index(
            'ix_transcript_segments_search_text', ['search_text'], unique=False,
            postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'},
        )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_disposition_started_at')
        batch_op.drop_index('ix_calls_hotline_started_at')
        batch_op.drop_index('ix_calls_caller_started_at')
        batch_op.drop_index('ix_calls_started_at_id')
        batch_op.create_index('ix_calls_caller_number', ['caller_number'], unique=False)
        batch_op.create_index('ix_calls_started_at', ['started_at'], unique=False)
