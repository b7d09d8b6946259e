"""Legal hold as a service to other features: the cases feature holds the recordings of the calls
a case came from (`Recordings` port of hotline/cases/store.py), without reading this feature's
tables itself. Retention (retention.py) never deletes a recording on hold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recordings.store import Recording


# Calls per query: far below the bind-parameter limits of SQLite (32766) and PostgreSQL.
BATCH = 500


async def newest_recordings(session: AsyncSession, call_ids: Sequence[int]) -> dict[int, int]:
    """Call id -> its newest recording that still has audio (calls without one are left out)."""
    calls = list(dict.fromkeys(call_ids))
    newest: dict[int, int] = {}
    for start in range(0, len(calls), BATCH):
        rows = await session.execute(
            select(Recording.call_id, Recording.id)
            .where(Recording.call_id.in_(calls[start:start + BATCH]), Recording.deleted_at.is_(None))
            .order_by(Recording.id)
        )
        newest.update({call_id: recording_id for call_id, recording_id in rows})
    return newest


class RecordingHolds:
    """Hold and release the recordings of calls, in the caller's transaction."""

    async def recordings(self, session: AsyncSession, call_ids: Sequence[int]) -> dict[int, int]:
        """Call id -> its newest recording that still has audio."""
        return await newest_recordings(session, call_ids)

    async def hold(self, session: AsyncSession, reasons: Mapping[int, str | None]) -> None:
        """Hold each call's kept recordings with its reason, or release them (None). A call whose
        recording is not ingested yet is held by the next sweep that finds it."""
        calls = list(reasons)
        for start in range(0, len(calls), BATCH):
            rows = await session.scalars(select(Recording).where(
                Recording.call_id.in_(calls[start:start + BATCH]), Recording.deleted_at.is_(None)))
            for recording in rows:
                reason = reasons[recording.call_id]
                if recording.legal_hold != (reason is not None) or recording.hold_reason != reason:
                    recording.legal_hold = reason is not None
                    recording.hold_reason = reason
