"""The transcription queue: claims, leases, retries with backoff, and the failed state."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select, update

from recordings.store import Recording, Transcript, TranscriptionJob
from recordings import jobs
from recordings.transcription import Segment

LEASE = timedelta(minutes=5)
WORDS = [{"word": "도로", "start": 0.5, "end": 0.8, "conf": 0.9}, {"word": "구멍", "start": 0.9, "end": 1.2, "conf": 0.8}]


@pytest.fixture
def add_recording(sessions):
    async def add(n: int = 1, queued: bool = True, **fields) -> Recording:
        now = datetime.now(timezone.utc)
        values = dict(
            source=f"/spool/{n}.wav", path=f"2026/11/27/{n}.wav", format="pcm", sample_rate=8000, channels=1,
            duration_seconds=2.0, size_bytes=32044, sha256="0" * 64, condition="ok",
            recorded_at=now, ingested_at=now, legal_hold=False,
        )
        async with sessions() as session, session.begin():
            recording = Recording(**(values | fields))
            session.add(recording)
            await session.flush()
            if queued:
                await jobs.enqueue(session, recording.id)
        return recording

    return add


async def job(sessions, job_id: int) -> TranscriptionJob:
    async with sessions() as session:
        return await session.get(TranscriptionJob, job_id)


async def expire_leases(sessions) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(TranscriptionJob).values(lease_expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))


def outcome(model: str = "vosk-model-small-cn") -> jobs.Outcome:
    return jobs.Outcome(model, [Segment("caller", 0.5, 1.2, "도로 구멍", WORDS)], 2.0, 0.4)


async def test_a_job_is_claimed_once_and_its_transcript_stored_with_it(sessions, add_recording):
    recording = await add_recording()
    first = await jobs.claim(sessions, "worker-a", LEASE)
    assert (first.recording_id, first.attempt) == (recording.id, 1)
    assert await jobs.claim(sessions, "worker-b", LEASE) is None
    assert await jobs.complete(sessions, first, outcome())
    stored = await job(sessions, first.job_id)
    assert (stored.state, stored.lease_owner) == ("done", None)
    async with sessions() as session:
        transcript = await session.scalar(select(Transcript))
        assert (transcript.worker, transcript.text, transcript.model) == ("worker-a", "도로 구멍", "vosk-model-small-cn")
        await session.refresh(transcript, ["segments"])
        assert transcript.segments[0].search_text == "도로구멍"
        assert transcript.segments[0].words == WORDS


async def test_an_active_job_is_not_queued_twice(sessions, add_recording):
    recording = await add_recording()
    async with sessions() as session, session.begin():
        assert not await jobs.enqueue(session, recording.id)
    async with sessions() as session:
        assert await jobs.queue_counts(session) == {"queued": 1}


async def test_an_expired_lease_is_reclaimed_and_the_first_worker_stores_nothing(sessions, add_recording):
    await add_recording()
    lost = await jobs.claim(sessions, "worker-a", LEASE)
    await expire_leases(sessions)
    taken = await jobs.claim(sessions, "worker-b", LEASE)
    assert (taken.job_id, taken.attempt) == (lost.job_id, 2)
    assert not await jobs.renew(sessions, lost, LEASE)
    assert not await jobs.complete(sessions, lost, outcome())
    assert await jobs.renew(sessions, taken, LEASE)
    assert await jobs.complete(sessions, taken, outcome())
    async with sessions() as session:
        assert [t.worker for t in (await session.scalars(select(Transcript))).all()] == ["worker-b"]


async def test_failures_back_off_and_end_in_a_visible_failed_state(sessions, add_recording):
    await add_recording()
    async with sessions() as session, session.begin():
        await session.execute(update(TranscriptionJob).values(max_attempts=3))
    for attempt, expected in ((1, "queued"), (2, "queued"), (3, "failed")):
        claim = await jobs.claim(sessions, "worker-a", LEASE)
        assert claim.attempt == attempt
        before = datetime.now(timezone.utc)
        assert await jobs.fail(sessions, claim, f"decoder crashed #{attempt}") == expected
        stored = await job(sessions, claim.job_id)
        if expected == "queued":
            assert stored.run_after >= before + jobs.backoff(attempt) - timedelta(seconds=1)
            assert await jobs.claim(sessions, "worker-a", LEASE) is None  # not due yet
            async with sessions() as session, session.begin():
                await session.execute(update(TranscriptionJob).values(run_after=before))
    assert (stored.state, stored.last_error) == ("failed", "decoder crashed #3")
    assert stored.finished_at is not None


async def test_a_worker_lost_on_the_last_attempt_fails_the_job(sessions, add_recording):
    await add_recording()
    async with sessions() as session, session.begin():
        await session.execute(update(TranscriptionJob).values(max_attempts=1))
    claim = await jobs.claim(sessions, "worker-a", LEASE)
    await expire_leases(sessions)
    assert await jobs.claim(sessions, "worker-b", LEASE) is None
    assert (await job(sessions, claim.job_id)).state == "failed"


async def test_a_permanent_error_fails_at_once(sessions, add_recording):
    await add_recording()
    claim = await jobs.claim(sessions, "worker-a", LEASE)
    assert await jobs.fail(sessions, claim, "not a RIFF/WAVE file", permanent=True) == "failed"


def test_backoff_doubles_up_to_an_hour():
    assert [jobs.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert jobs.backoff(20) == timedelta(hours=1)


async def test_changing_the_model_requeues_old_transcripts(sessions, add_recording):
    for n in (1, 2):
        await add_recording(n)
    for _ in (1, 2):
        await jobs.complete(sessions, await jobs.claim(sessions, "w", LEASE), outcome("vosk-model-small-cn"))
    await add_recording(3, queued=False, condition="empty")
    async with sessions() as session, session.begin():
        assert await jobs.requeue_for_model(session, "vosk-model-small-cn") == 0
        assert await jobs.requeue_for_model(session, "vosk-model-cn") == 2
    async with sessions() as session:
        assert await jobs.queue_counts(session) == {"done": 2, "queued": 2}


async def test_concurrent_claims_never_share_a_job(sessions, add_recording):
    for n in range(12):
        await add_recording(n)
    claims = await asyncio.gather(*(jobs.claim(sessions, f"worker-{n}", LEASE) for n in range(16)))
    taken = [c.job_id for c in claims if c is not None]
    assert len(taken) == 12 and len(set(taken)) == 12


@pytest.mark.postgresql
async def test_on_postgresql_claims_skip_rows_other_workers_hold(engine, sessions, add_recording):
    await add_recording()
    statements = []

    def listen(connection, cursor, statement, *rest) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", listen)
    try:
        assert await jobs.claim(sessions, "worker-a", LEASE) is not None
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listen)
    assert any("FOR UPDATE SKIP LOCKED" in s for s in statements)
