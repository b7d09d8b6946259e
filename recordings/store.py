"""Tables for recordings, their transcripts, the transcription queue and the recordings audit log.

A recording row outlives its audio: retention deletes the files and the transcript but keeps
the row (with `deleted_at`, the sha256 and the audit entry) so that what existed, and when it
went, can still be shown. Audit rows carry plain ids, not foreign keys, for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from hotline.db.tables import Base, Call
from hotline.db.users import Actor
from hotline.errors import NotFound

# What ingest found in a file; only the first three can be transcribed.
CONDITIONS = ("ok", "repaired", "truncated", "empty", "damaged", "not-audio")
TRANSCRIBABLE = ("ok", "repaired", "truncated")


class Recording(Base):
    """One archived MixMonitor recording; `call_id` is None for an orphan no call claims."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    # Where Asterisk wrote it (spool name), and where it lives now, relative to recordings_root.
    source: Mapped[str] = mapped_column(Text, index=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    # MixMonitor r()/t() files: what the caller said and what the caller heard (the agent).
    caller_path: Mapped[str | None] = mapped_column(Text)
    agent_path: Mapped[str | None] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[float | None]
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    condition: Mapped[str] = mapped_column(String(16))
    problem: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]
    ingested_at: Mapped[datetime]
    # Set by the cases module while a complaint is open: retention skips held recordings.
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    hold_reason: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None]

    call: Mapped[Call | None] = relationship()
    transcript: Mapped[Transcript | None] = relationship(
        back_populates="recording", cascade="all, delete-orphan", uselist=False
    )


class Transcript(Base):
    """The newest transcript of a recording and the model that produced it."""

    __tablename__ = "transcripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), unique=True
    )
    model: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    audio_seconds: Mapped[float]
    processing_seconds: Mapped[float]
    worker: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]

    recording: Mapped[Recording] = relationship(back_populates="transcript")
    segments: Mapped[list[TranscriptSegment]] = relationship(
        back_populates="transcript",
        cascade="all, delete-orphan",
        order_by="(TranscriptSegment.start, TranscriptSegment.id)",
    )


class TranscriptSegment(Base):
    """One utterance of one side, with vosk's words (`word`, `start`, `end`, `conf`)."""

    __tablename__ = "transcript_segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(
        ForeignKey("transcripts.id", ondelete="CASCADE"), index=True
    )
    speaker: Mapped[str] = mapped_column(String(16))
    start: Mapped[float]
    end: Mapped[float]
    text: Mapped[str] = mapped_column(Text)
    # `text` without whitespace, lower-cased: what substring search matches against.
    search_text: Mapped[str] = mapped_column(Text)
    # The distinct character pairs of search_text (`recordings.search.bigrams`): what the GIN
    # index on PostgreSQL finds a keyword of two characters or more by.
    search_pairs: Mapped[list[str]] = mapped_column(JSON().with_variant(ARRAY(Text), "postgresql"))
    # When the segment's call started (None for an orphan recording): search lists the newest
    # calls first, and with the time here it finds them in this table alone, a match costing one
    # row instead of a row in each of four tables.
    call_started_at: Mapped[datetime | None]
    words: Mapped[list[dict[str, Any]]] = mapped_column(JSON)

    transcript: Mapped[Transcript] = relationship(back_populates="segments")


# Substring search (Chinese has no spaces between words): on PostgreSQL a GIN index on the
# character pairs serves keywords of two characters or more (a trigram index cannot serve a
# two-character one, and most Chinese words have two); on SQLite it is a plain index, and search
# scans.
Index("ix_transcript_segments_search_pairs", TranscriptSegment.__table__.c.search_pairs, postgresql_using="gin")
Index("ix_transcript_segments_call_started_at", TranscriptSegment.call_started_at, TranscriptSegment.transcript_id)

class TranscriptionJob(Base):
    """A request to transcribe one recording, claimed by a worker under a time-limited lease."""

    __tablename__ = "transcription_jobs"
    __table_args__ = (Index("ix_transcription_jobs_state_run_after", "state", "run_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16))  # queued, running, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class RecordingAudit(Base):
    """Who touched which recording or transcript, when and from where (also deletions)."""

    __tablename__ = "recording_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    call_id: Mapped[int | None] = mapped_column(Integer, index=True)
    recording_id: Mapped[int | None] = mapped_column(Integer)
    remote: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)


def audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    call_id: int | None = None,
    recording_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Add an audit entry to the current transaction (the caller commits)."""
    session.add(
        RecordingAudit(
            at=datetime.now(timezone.utc),
            actor=actor.name,
            user_id=actor.user_id,
            role=actor.role,
            action=action,
            call_id=call_id,
            recording_id=recording_id,
            remote=actor.remote,
            detail=detail,
        )
    )


async def recording_of_call(session: AsyncSession, call_id: int) -> Recording:
    """The newest recording of call `call_id` that still has its audio, or NotFound."""
    recording = await session.scalar(
        select(Recording)
        .where(Recording.call_id == call_id, Recording.deleted_at.is_(None))
        .order_by(Recording.id.desc())
        .limit(1)
    )
    if recording is None:
        raise NotFound(f"call {call_id} has no recording", call_id=call_id)
    return recording


async def transcript_of_call(session: AsyncSession, call_id: int) -> Transcript:
    """The transcript (with segments) of call `call_id`'s newest recording, or NotFound."""
    recording = await recording_of_call(session, call_id)
    transcript = await session.scalar(
        select(Transcript)
        .where(Transcript.recording_id == recording.id)
        .options(selectinload(Transcript.segments))
    )
    if transcript is None:
        job = await session.scalar(
            select(TranscriptionJob)
            .where(TranscriptionJob.recording_id == recording.id)
            .order_by(TranscriptionJob.id.desc())
            .limit(1)
        )
        raise NotFound(
            f"call {call_id} has no transcript yet",
            call_id=call_id,
            transcription=job.state if job is not None else None,
            error=job.last_error if job is not None else None,
        )
    return transcript


async def hold(session: AsyncSession, recording_id: int, reason: str | None) -> None:
    """Put a recording on legal hold (`reason`) or release it (None); the caller commits."""
    recording = await session.get(Recording, recording_id)
    if recording is None:
        raise NotFound(f"no recording {recording_id}", recording_id=recording_id)
    recording.legal_hold = reason is not None
    recording.hold_reason = reason


async def audit_entries(
    session: AsyncSession, *, before: int | None, limit: int, actor: str | None = None,
    call_id: int | None = None,
) -> tuple[Sequence[RecordingAudit], int | None]:
    """Audit entries, newest first, `limit` at a time from below id `before`; and the next page's `before`."""
    query = select(RecordingAudit).order_by(RecordingAudit.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(RecordingAudit.id < before)
    if actor is not None:
        query = query.where(RecordingAudit.actor == actor)
    if call_id is not None:
        query = query.where(RecordingAudit.call_id == call_id)
    page = (await session.scalars(query)).all()
    if len(page) > limit:
        return page[:limit], page[limit - 1].id
    return page, None
