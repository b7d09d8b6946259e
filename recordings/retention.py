"""Retention: recordings older than the configured period are deleted, unless on legal hold.

A recording linked to an open complaint is on hold (`legal_hold`, set by the cases module with a
`hold_reason`) and survives any age. Deleting removes the audio files, the transcript and any
pending job, and keeps the recording row as a tombstone (`deleted_at`, sha256) with an audit
entry, so that every deletion can be shown later.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker

from hotline.config import Config
from hotline.db.users import Actor
from hotline.errors import ConfigError
from recordings.store import Recording, Transcript, TranscriptionJob, audit

log = logging.getLogger("hotline.recordings")

RETENTION = Actor(name="hotline:retention")
RETENTION_SECONDS = 6 * 3600.0


def cutoff(now: datetime, retention_days: int) -> datetime:
    """Recordings made before this moment have outlived the retention period."""
    return now - timedelta(days=retention_days)


@dataclass
class RetentionReport:
    """Which recordings were deleted and how many old ones were kept on hold."""

    deleted: list[int] = field(default_factory=list)
    held: int = 0


def _unlink(root: Path, relative_paths: list[str]) -> None:
    for relative in relative_paths:
        (root / relative).unlink(missing_ok=True)


async def apply_retention(
    sessions: async_sessionmaker, config: Config, *, now: datetime | None = None, dry_run: bool = False
) -> RetentionReport:
    """Delete the recordings past `config.retention_days` that are not on hold; with `dry_run`,
    only report what would go."""
    if config.retention_days < 1:
        # Read as "keep forever" or mistyped, 0 or less would delete every recording at once.
        raise ConfigError(
            f"recordings.retention_days: expected at least 1 day, got {config.retention_days}",
            key="recordings.retention_days",
        )
    limit = cutoff(now or datetime.now(timezone.utc), config.retention_days)
    expired = (Recording.deleted_at.is_(None), Recording.recorded_at < limit)
    report = RetentionReport()
    async with sessions() as session:
        report.held = await session.scalar(
            select(func.count()).select_from(Recording).where(*expired, Recording.legal_hold.is_(True))
        )
        doomed = (await session.scalars(select(Recording).where(*expired, Recording.legal_hold.is_(False)))).all()
    if dry_run:
        report.deleted = [recording.id for recording in doomed]
        return report
    for recording in doomed:
        async with sessions() as session, session.begin():
            # Re-read under the transaction: a hold placed since the listing wins.
            current = await session.get(Recording, recording.id, with_for_update=session.bind.dialect.name == "postgresql")
            if current is None or current.legal_hold or current.deleted_at is not None:
                continue
            # Files first: if the commit fails the row still says the audio exists, and the next
            # run removes nothing more than is already gone (missing files are fine).
            paths = [p for p in (current.path, current.caller_path, current.agent_path) if p]
            await asyncio.to_thread(_unlink, config.recordings_root, paths)
            await session.execute(delete(Transcript).where(Transcript.recording_id == current.id))
            await session.execute(delete(TranscriptionJob).where(TranscriptionJob.recording_id == current.id))
            current.deleted_at = datetime.now(timezone.utc)
            audit(
                session, RETENTION, "recording.delete", call_id=current.call_id, recording_id=current.id,
                detail=f"retention {config.retention_days} days; recorded {current.recorded_at.isoformat()}; sha256 {current.sha256}",
            )
        report.deleted.append(recording.id)
    return report


async def retention_forever(
    sessions: async_sessionmaker, config: Config, stopping: asyncio.Event, interval: float = RETENTION_SECONDS
) -> None:
    """Apply retention at start and every `interval` seconds until `stopping` is set; a failed
    run (file system, database) is logged and tried again at the next interval."""
    while not stopping.is_set():
        try:
            report = await apply_retention(sessions, config)
            if report.deleted:
                log.info("retention: deleted %d recordings older than %d days, %d on hold kept",
                         len(report.deleted), config.retention_days, report.held, extra={"action": "retention"})
        except (OSError, SQLAlchemyError) as exc:
            log.error("retention failed: %s", exc, extra={"action": "retention"})
        try:
            await asyncio.wait_for(stopping.wait(), interval)
        except TimeoutError:
            pass
