"""The transcription queue: jobs in the database, claimed by workers under a lease.

A worker claims the oldest runnable job and holds it for `lease` seconds, renewing the lease
while it works. A worker that dies stops renewing; once its lease expires any other worker may
claim the job again. A failure puts the job back with an exponential backoff until it has used
`max_attempts`, then leaves it `failed` with its last error for a supervisor to see.

Claiming is one UPDATE ... WHERE id = (SELECT ... LIMIT 1) ... RETURNING. On PostgreSQL the
sub-select takes `FOR UPDATE SKIP LOCKED`, so concurrent workers on several machines each get a
different job without waiting on one another; SQLite serialises writers, which gives the same
exactly-once claim on one machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Sequence

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db.tables import Call
from recordings.store import (
    TRANSCRIBABLE,
    Recording,
    Transcript,
    TranscriptionJob,
    TranscriptSegment,
)
from recordings.search import bigrams, searchable
from recordings.transcription import Segment

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
ACTIVE = (QUEUED, RUNNING)
MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """How long a job waits after its `attempts`-th failure: 30 s, 1 min, 2 min, ... up to 1 h."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Claim:
    """A job this worker holds until `lease_expires_at` (unless renewed)."""

    job_id: int
    recording_id: int
    owner: str
    attempt: int


async def enqueue(session: AsyncSession, recording_id: int, *, max_attempts: int = MAX_ATTEMPTS) -> bool:
    """Queue a transcription of `recording_id` unless one is already queued or running.

    Adds to the current transaction (the caller commits); returns whether a job was added.
    """
    active = await session.scalar(
        select(exists().where(TranscriptionJob.recording_id == recording_id, TranscriptionJob.state.in_(ACTIVE)))
    )
    if active:
        return False
    await enqueue_new(session, [recording_id], max_attempts=max_attempts)
    return True


async def enqueue_new(session: AsyncSession, recording_ids: Sequence[int], *, max_attempts: int = MAX_ATTEMPTS) -> None:
    """Queue a transcription of each of `recording_ids`, recordings just registered (so none has
    a job yet), in one insert in the current transaction."""
    if not recording_ids:
        return
    now = _now()
    await session.execute(
        insert(TranscriptionJob.__table__),
        [
            {"recording_id": recording_id, "state": QUEUED, "attempts": 0, "max_attempts": max_attempts,
             "run_after": now, "created_at": now}
            for recording_id in recording_ids
        ],
    )


async def requeue_for_model(session: AsyncSession, model: str) -> int:
    """Queue every live, transcribable recording whose transcript is missing or came from another
    model (after the model changed); returns how many were queued. The caller commits."""
    stale = select(Recording.id).where(
        Recording.deleted_at.is_(None),
        Recording.condition.in_(TRANSCRIBABLE),
        ~exists().where(Transcript.recording_id == Recording.id, Transcript.model == model),
    )
    queued = 0
    for recording_id in (await session.scalars(stale)).all():
        queued += await enqueue(session, recording_id)
    return queued


def _runnable(now: datetime):
    return or_(
        and_(TranscriptionJob.state == QUEUED, TranscriptionJob.run_after <= now),
        and_(
            TranscriptionJob.state == RUNNING,
            TranscriptionJob.lease_expires_at < now,
            TranscriptionJob.attempts < TranscriptionJob.max_attempts,
        ),
    )


async def claim(sessions: async_sessionmaker, owner: str, lease: timedelta) -> Claim | None:
    """Take the oldest runnable job (queued and due, or running with an expired lease) for `owner`."""
    now = _now()
    async with sessions() as session, session.begin():
        # A job whose holder died on its last attempt cannot be retried: it has failed.
        await session.execute(
            update(TranscriptionJob)
            .where(
                TranscriptionJob.state == RUNNING,
                TranscriptionJob.lease_expires_at < now,
                TranscriptionJob.attempts >= TranscriptionJob.max_attempts,
            )
            .values(state=FAILED, finished_at=now, lease_owner=None, last_error="worker lost (lease expired) on the last attempt")
        )
        candidate = (
            select(TranscriptionJob.id)
            .where(_runnable(now))
            .order_by(TranscriptionJob.run_after, TranscriptionJob.id)
            .limit(1)
        )
        if session.bind.dialect.name == "postgresql":
            candidate = candidate.with_for_update(skip_locked=True)
        row = (
            await session.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.id == candidate.scalar_subquery(), _runnable(now))
                .values(
                    state=RUNNING,
                    attempts=TranscriptionJob.attempts + 1,
                    lease_owner=owner,
                    lease_expires_at=now + lease,
                )
                .returning(TranscriptionJob.id, TranscriptionJob.recording_id, TranscriptionJob.attempts)
            )
        ).first()
    return None if row is None else Claim(row.id, row.recording_id, owner, row.attempts)


def _held(claim: Claim):
    return and_(
        TranscriptionJob.id == claim.job_id,
        TranscriptionJob.state == RUNNING,
        TranscriptionJob.lease_owner == claim.owner,
    )


async def renew(sessions: async_sessionmaker, claim: Claim, lease: timedelta) -> bool:
    """Extend the lease; False if the job is no longer ours (expired and taken by another)."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(TranscriptionJob).where(_held(claim)).values(lease_expires_at=_now() + lease)
        )
    return result.rowcount == 1


@dataclass(frozen=True)
class Outcome:
    """A finished transcription, ready to store."""

    model: str
    segments: Sequence[Segment]
    audio_seconds: float
    processing_seconds: float


async def complete(sessions: async_sessionmaker, claim: Claim, outcome: Outcome) -> bool:
    """Store the transcript and mark the job done, in one transaction, if the job is still ours.

    A worker whose lease was taken over stores nothing: the recording is transcribed exactly once.
    """
    async with sessions() as session, session.begin():
        done = await session.execute(
            update(TranscriptionJob)
            .where(_held(claim))
            .values(state=DONE, finished_at=_now(), lease_owner=None, lease_expires_at=None, last_error=None)
        )
        if done.rowcount != 1:
            return False
        # One transcript per recording: a new model's transcript replaces the old one.
        await session.execute(delete(Transcript).where(Transcript.recording_id == claim.recording_id))
        call_started_at = await session.scalar(
            select(Call.started_at).join(Recording, Recording.call_id == Call.id).where(Recording.id == claim.recording_id)
        )
        session.add(
            Transcript(
                recording_id=claim.recording_id,
                model=outcome.model,
                text="\n".join(segment.text for segment in outcome.segments),
                audio_seconds=outcome.audio_seconds,
                processing_seconds=outcome.processing_seconds,
                worker=claim.owner,
                created_at=_now(),
                segments=[
                    TranscriptSegment(
                        speaker=s.speaker, start=s.start, end=s.end, text=s.text,
                        search_text=searchable(s.text), search_pairs=bigrams(searchable(s.text)),
                        call_started_at=call_started_at, words=list(s.words),
                    )
                    for s in outcome.segments
                ],
            )
        )
    return True


async def fail(sessions: async_sessionmaker, claim: Claim, error: str, *, permanent: bool = False) -> str:
    """Record a failed attempt: back to the queue after a backoff, or `failed` when attempts are
    used up or the error cannot go away by retrying (`permanent`). Returns the new state."""
    now = _now()
    async with sessions() as session, session.begin():
        job = await session.get(TranscriptionJob, claim.job_id, with_for_update=session.bind.dialect.name == "postgresql")
        if job is None or job.state != RUNNING or job.lease_owner != claim.owner:
            return job.state if job is not None else FAILED
        job.last_error = error[:2000]
        job.lease_owner = job.lease_expires_at = None
        if permanent or job.attempts >= job.max_attempts:
            job.state, job.finished_at = FAILED, now
        else:
            job.state, job.run_after = QUEUED, now + backoff(job.attempts)
        return job.state


async def failed_jobs(session: AsyncSession, limit: int = 20) -> Sequence[TranscriptionJob]:
    """The most recently failed jobs, for a supervisor to look into."""
    return (
        await session.scalars(
            select(TranscriptionJob)
            .where(TranscriptionJob.state == FAILED)
            .order_by(TranscriptionJob.finished_at.desc(), TranscriptionJob.id.desc())
            .limit(limit)
        )
    ).all()


async def queue_counts(session: AsyncSession) -> dict[str, int]:
    """How many jobs are in each state (for the CLI and health checks)."""
    rows = await session.execute(select(TranscriptionJob.state, func.count()).group_by(TranscriptionJob.state))
    return {state: count for state, count in rows}
