"""Transcription workers: processes that load the model once and take jobs from the database.

vosk is CPU-bound and holds the GIL while decoding, so workers are processes, not threads. Each
loads the model once, then loops: claim a job, decode the recording and run the recogniser in a
thread while the event loop renews the lease, store the transcript. Any machine that reaches
the same PostgreSQL and the same recordings root can run `hotline worker` and share the queue.

Processes are started with `spawn`: a fork of a process that runs an event loop, database
connections and possibly a loaded model is not safe.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy.ext.asyncio import async_sessionmaker

from hotline.config import Config
from hotline.db import database
from hotline.logs import log_to_stderr
from recordings.store import Recording
from recordings import jobs
from recordings.audio import AudioError, sides
from recordings.transcription import ModelError, Recogniser, Segment, audio_seconds, check_model

log = logging.getLogger("hotline.recordings.workers")

LEASE = timedelta(minutes=5)
POLL_SECONDS = 2.0
STOP_GRACE_SECONDS = 30.0
# Exit status of a worker process whose model would not load: the pool stops instead of
# restarting it forever.
MODEL_FAILED = 3


def _transcribe(recogniser: Recogniser, root: Path, recording: Recording) -> tuple[list[Segment], float]:
    def archived(relative: str | None) -> Path | None:
        return root / relative if relative else None

    parts = sides(root / recording.path, archived(recording.caller_path), archived(recording.agent_path))
    return recogniser.transcribe(parts), audio_seconds(parts)


async def _keep_lease(sessions: async_sessionmaker, claim: jobs.Claim, lease: timedelta) -> None:
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        if not await jobs.renew(sessions, claim, lease):
            log.warning("job %s: lease lost to another worker; its result will be dropped", claim.job_id,
                        extra={"action": "transcribe"})
            return


async def run_job(
    sessions: async_sessionmaker, root: Path, recogniser: Recogniser, claim: jobs.Claim, lease: timedelta
) -> str:
    """Transcribe the claimed job's recording and store the transcript; return the job's state."""
    async with sessions() as session:
        recording = await session.get(Recording, claim.recording_id)
    if recording is None or recording.deleted_at is not None:
        return await jobs.fail(sessions, claim, "the recording was deleted", permanent=True)
    heartbeat = asyncio.create_task(_keep_lease(sessions, claim, lease))
    started = time.perf_counter()
    try:
        segments, seconds = await asyncio.to_thread(_transcribe, recogniser, root, recording)
    except (AudioError, FileNotFoundError) as exc:
        # Retrying cannot make an unreadable or missing file readable.
        log.error("job %s (recording %s) failed: %s", claim.job_id, claim.recording_id, exc,
                  extra={"action": "transcribe"})
        return await jobs.fail(sessions, claim, str(exc), permanent=True)
    except Exception as exc:  # the recogniser's failures are not typed; record them and retry
        log.exception("job %s (recording %s) failed", claim.job_id, claim.recording_id,
                      extra={"action": "transcribe"})
        return await jobs.fail(sessions, claim, f"{type(exc).__name__}: {exc}")
    finally:
        heartbeat.cancel()
    outcome = jobs.Outcome(recogniser.name, segments, seconds, time.perf_counter() - started)
    if not await jobs.complete(sessions, claim, outcome):
        return jobs.RUNNING  # another worker holds it now and will store its own result
    log.info("job %s: recording %s, %.1f s of audio in %.1f s, %d segments", claim.job_id,
             claim.recording_id, seconds, outcome.processing_seconds, len(segments),
             extra={"action": "transcribe"})
    return jobs.DONE


async def work(
    sessions: async_sessionmaker,
    root: Path,
    recogniser: Recogniser,
    owner: str,
    stopping: Callable[[], bool],
    *,
    lease: timedelta = LEASE,
    poll: float = POLL_SECONDS,
    drain: bool = False,
) -> int:
    """Take and run jobs until `stopping()` (or, with `drain`, until the queue has none due).
    Returns how many jobs this worker ran."""
    ran = 0
    while not stopping():
        claim = await jobs.claim(sessions, owner, lease)
        if claim is None:
            if drain:
                break
            await asyncio.sleep(poll)
            continue
        await run_job(sessions, root, recogniser, claim, lease)
        ran += 1
    return ran


def worker_name() -> str:
    """This process's name in leases and transcripts: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def _process_loop(config: Config, recogniser: Recogniser, stopping: Callable[[], bool], lease: timedelta, poll: float, drain: bool) -> None:
    async with database(config.database_url, migrate=False) as sessions:
        await work(sessions, config.recordings_root, recogniser, worker_name(), stopping,
                   lease=lease, poll=poll, drain=drain)


def _process_main(config: Config, stop, lease_seconds: float, poll: float, drain: bool) -> None:
    # The parent owns Ctrl-C and SIGTERM: it sets `stop`, and this process ends after its job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log_to_stderr(logging.INFO)
    try:
        recogniser = Recogniser(config.vosk_model)
    except ModelError as exc:
        print(f"hotline worker: {exc}", file=sys.stderr)
        sys.exit(MODEL_FAILED)
    asyncio.run(_process_loop(config, recogniser, stop.is_set, timedelta(seconds=lease_seconds), poll, drain))


class WorkerPool:
    """N worker processes over one queue. A process that dies is restarted (its job is picked up
    again when its lease expires); one whose model fails to load stops the pool."""

    def __init__(self, config: Config, count: int, *, lease: timedelta = LEASE, poll: float = POLL_SECONDS, drain: bool = False) -> None:
        self.config, self.count, self.lease, self.poll, self.drain = config, count, lease, poll, drain
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self.processes: list[multiprocessing.process.BaseProcess] = []

    def _spawn(self) -> multiprocessing.process.BaseProcess:
        process = self._context.Process(
            target=_process_main,
            args=(self.config, self._stop, self.lease.total_seconds(), self.poll, self.drain),
            name="hotline-worker",
            daemon=True,
        )
        process.start()
        return process

    def start(self) -> None:
        self.processes = [self._spawn() for _ in range(self.count)]

    def check(self) -> bool:
        """Restart dead processes; True while any process is still meant to run.

        Raises ModelError if a process could not load the model.
        """
        for index, process in enumerate(self.processes):
            if process.is_alive() or process.exitcode is None:
                continue
            if process.exitcode == MODEL_FAILED:
                raise ModelError(f"a worker could not load the vosk model {self.config.vosk_model}")
            if not self._stop.is_set() and not (self.drain and process.exitcode == 0):
                log.error("worker process %s exited with %s; starting another", process.pid, process.exitcode)
                self.processes[index] = self._spawn()
        return any(process.is_alive() for process in self.processes)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Ask every process to finish its job and stop; terminate those still busy after `grace`."""
        self._stop.set()
        deadline = time.monotonic() + grace
        for process in self.processes:
            process.join(max(deadline - time.monotonic(), 0))
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join()


async def run_workers(
    config: Config,
    count: int,
    stopping: asyncio.Event,
    *,
    lease: timedelta = LEASE,
    poll: float = POLL_SECONDS,
    drain: bool = False,
) -> None:
    """Run `count` worker processes until `stopping` is set (or, with `drain`, until the queue is
    empty). A missing or wrong model raises ModelError before any process starts."""
    check_model(config.vosk_model)
    pool = WorkerPool(config, count, lease=lease, poll=poll, drain=drain)
    pool.start()
    try:
        while pool.check():
            try:
                await asyncio.wait_for(stopping.wait(), 0.5)
                break
            except TimeoutError:
                pass
    finally:
        await asyncio.to_thread(pool.stop)
