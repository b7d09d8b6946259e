"""Retention: old recordings go (logged), held and recent ones stay."""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from recordings.store import Recording, RecordingAudit, Transcript, TranscriptionJob, hold
from hotline import daemon
from hotline.errors import ConfigError
from recordings import ingest
from recordings.retention import apply_retention
from tests.recordings.test_audio import MIXMONITOR_WAV

NOW = datetime(2027, 12, 1, tzinfo=timezone.utc)  # a year after the calls of the fixtures


async def recordings_for(sessions, config, add_call, *numbers: int) -> list[Recording]:
    made = []
    for n in numbers:
        call = await add_call(n)
        shutil.copy(MIXMONITOR_WAV, config.recordings_spool / f"1795811555.{n}.wav")
        made.append(await ingest.on_call_ended(sessions, config, call.id, call.recording))
    return made


async def test_old_recordings_are_deleted_and_each_deletion_logged(sessions, config, add_call):
    config = replace(config, retention_days=365)
    old, held = await recordings_for(sessions, config, add_call, 1, 2)
    async with sessions() as session, session.begin():
        await hold(session, held.id, "complaint CASE-2026-0042 open")

    dry = await apply_retention(sessions, config, now=NOW, dry_run=True)
    assert (dry.deleted, dry.held) == ([old.id], 1)
    assert (config.recordings_root / old.path).exists()

    report = await apply_retention(sessions, config, now=NOW)
    assert (report.deleted, report.held) == ([old.id], 1)
    assert not (config.recordings_root / old.path).exists()
    assert (config.recordings_root / held.path).read_bytes() == MIXMONITOR_WAV.read_bytes()
    async with sessions() as session:
        rows = {r.id: r for r in (await session.scalars(select(Recording))).all()}
        assert rows[old.id].deleted_at is not None and rows[old.id].sha256 == old.sha256
        assert (rows[held.id].deleted_at, rows[held.id].hold_reason) == (None, "complaint CASE-2026-0042 open")
        assert [j.recording_id for j in (await session.scalars(select(TranscriptionJob))).all()] == [held.id]
        (entry,) = (await session.scalars(select(RecordingAudit))).all()
    assert (entry.actor, entry.action, entry.recording_id) == ("hotline:retention", "recording.delete", old.id)
    assert old.sha256 in entry.detail

    assert (await apply_retention(sessions, config, now=NOW)).deleted == []


async def test_recent_recordings_and_released_holds(sessions, config, add_call):
    (recording,) = await recordings_for(sessions, config, add_call, 1)
    assert (await apply_retention(sessions, replace(config, retention_days=400), now=NOW)).deleted == []
    async with sessions() as session, session.begin():
        await hold(session, recording.id, "complaint open")
    assert (await apply_retention(sessions, config, now=NOW)).deleted == []
    async with sessions() as session, session.begin():
        await hold(session, recording.id, None)
    assert (await apply_retention(sessions, config, now=NOW)).deleted == [recording.id]
    async with sessions() as session:
        assert (await session.scalars(select(Transcript))).all() == []


class LogQueue(logging.Handler):
    """The records of one logger, put on an asyncio queue to wait on."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.logger = logging.getLogger(name)
        self.records: asyncio.Queue[logging.LogRecord] = asyncio.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.put_nowait(record)

    def __enter__(self) -> LogQueue:
        self.level_before = self.logger.level
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level_before)


async def test_the_daemon_applies_retention_at_start(sessions, config, add_call):
    now = datetime.now(timezone.utc)
    made = []
    for n, age in ((1, timedelta(days=3)), (2, timedelta(days=1))):
        call = await add_call(n, started_at=now - age)
        shutil.copy(MIXMONITOR_WAV, config.recordings_spool / f"1795811555.{n}.wav")
        made.append(await ingest.on_call_ended(sessions, config, call.id, call.recording))
    old, recent = made
    config = replace(config, retention_days=2, pbxs=(), web_port=0, fastagi_port=0, vosk_model=None)
    stop = asyncio.Event()
    with LogQueue("hotline.recordings") as log:
        task = asyncio.create_task(daemon.run(config, stop))
        try:
            async with asyncio.timeout(10):
                while not (record := await log.records.get()).getMessage().startswith("retention:"):
                    pass
        finally:
            stop.set()
            async with asyncio.timeout(10):
                await task
    assert record.getMessage() == "retention: deleted 1 recordings older than 2 days, 0 on hold kept"
    assert not (config.recordings_root / old.path).exists()
    assert (config.recordings_root / recent.path).exists()
    async with sessions() as session:
        (entry,) = (await session.scalars(select(RecordingAudit))).all()
    assert (entry.actor, entry.action, entry.recording_id) == ("hotline:retention", "recording.delete", old.id)


@pytest.mark.parametrize("days", [0, -30])
async def test_a_retention_of_less_than_a_day_is_refused_and_deletes_nothing(sessions, config, add_call, days):
    # 0 (meant as "keep forever"?) or a negative number put the cut-off at or after now: the
    # whole archive went at the daemon's next start.
    (recording,) = await recordings_for(sessions, config, add_call, 1)
    for dry_run in (True, False):
        with pytest.raises(ConfigError, match="retention_days: expected at least 1 day"):
            await apply_retention(sessions, replace(config, retention_days=days), now=NOW, dry_run=dry_run)
    assert (config.recordings_root / recording.path).exists()
