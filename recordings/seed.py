"""`hotline db seed`, the recordings' part: synthetic recordings with transcripts, loaded in bulk."""

from __future__ import annotations

import random
from typing import Any, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db import bulk
from hotline.db.calls import SEED_CHUNK
from hotline.synthetic import Answered
from recordings import synthetic
from recordings.store import Recording, Transcript, TranscriptSegment


async def seed_transcripts(session: AsyncSession, rng: random.Random, calls: Sequence[Answered]) -> None:
    """Add a synthetic recording, transcript and segments (see `recordings.synthetic`) for each
    of `calls`, in the current transaction. The recordings have no audio files: they are rows
    for benchmarks of the API and search."""
    tables = {table.name: table for table in (Recording.__table__, Transcript.__table__, TranscriptSegment.__table__)}
    ids = {name: await bulk.next_id(session, table) for name, table in tables.items()}
    for start in range(0, len(calls), SEED_CHUNK):
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
        for call in calls[start : start + SEED_CHUNK]:
            made = synthetic.transcript(rng, call, ids)
            rows["recordings"].append(made["recording"])
            rows["transcripts"].append(made["transcript"])
            rows["transcript_segments"] += made["segments"]
        for name, table in tables.items():
            await bulk.load_rows(session, table, rows[name])
    for table in tables.values():
        await bulk.sync_id_sequence(session, table)
