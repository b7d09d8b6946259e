"""Command-line: `hotline transcribe`, `hotline worker` and `hotline recordings sweep|retention|requeue|status`."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable

from sqlalchemy.ext.asyncio import async_sessionmaker
from tqdm import tqdm

from hotline.config import Config
from hotline.db import database
from recordings import ingest, jobs, retention, workers
from recordings.audio import AudioError, duration_seconds, sides
from recordings.transcription import Recogniser, check_model, model_name


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    # A lease of 0 expires as it is taken (any worker may take the job again) and renews in a
    # loop without pause.
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def add_commands(subparsers: Any) -> None:
    """Add the recordings sub-commands to the `hotline` parser."""
    transcribe = subparsers.add_parser(
        "transcribe", help="transcribe audio files directly (no database), with a progress bar"
    )
    transcribe.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    transcribe.add_argument("--model", type=Path, help="vosk model directory (default: [transcription] model)")
    transcribe.add_argument("--format", choices=("json", "text"), default="text")
    transcribe.set_defaults(func=transcribe_files)

    worker = subparsers.add_parser(
        "worker", help="run transcription worker processes on the configured database and recordings root"
    )
    worker.add_argument("--workers", type=_at_least_one, metavar="N", help="processes (default: [transcription] workers, the core count)")
    worker.add_argument("--lease", type=_seconds, default=workers.LEASE.total_seconds(), metavar="SECONDS",
                        help="how long a job stays claimed without a sign of life")
    worker.set_defaults(func=run_worker)

    maintenance = subparsers.add_parser("recordings", help="recordings maintenance")
    commands = maintenance.add_subparsers(dest="recordings_command", required=True)
    sweep = commands.add_parser("sweep", help="ingest spool files the daemon missed; register unrecorded archive files")
    sweep.set_defaults(func=sweep_once)
    purge = commands.add_parser("retention", help="delete recordings past the retention period (held ones stay)")
    purge.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    purge.set_defaults(func=apply_retention)
    requeue = commands.add_parser("requeue", help="queue recordings not yet transcribed by the configured model")
    requeue.set_defaults(func=requeue_for_model)
    status = commands.add_parser("status", help="transcription jobs by state, and the latest failures")
    status.set_defaults(func=queue_status)


def transcribe_files(args: argparse.Namespace, config: Config) -> int:
    """Transcribe PATHs to stdout as text or JSON; 1 if any file could not be read."""
    recogniser = Recogniser(args.model or config.vosk_model)
    total = sum(duration_seconds(path) for path in args.paths if path.is_file())
    results, status = [], 0
    with tqdm(total=total, unit="s", unit_scale=True, desc="transcribing", file=sys.stderr) as bar:
        for path in args.paths:
            try:
                segments = recogniser.transcribe(sides(path), progress=bar.update)
            except (AudioError, OSError) as exc:
                print(f"hotline transcribe: {path}: {exc}", file=sys.stderr)
                status = 1
                continue
            results.append({"path": str(path), "model": recogniser.name, "segments": [s.to_json() for s in segments]})
    if args.format == "json":
        json.dump(results, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        for result in results:
            print(f"== {result['path']}")
            for segment in result["segments"]:
                print(f"[{segment['start']:7.2f}-{segment['end']:7.2f} {segment['speaker']}] {segment['text']}")
    return status


def _stop_on_signals(stopping: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)


def run_worker(args: argparse.Namespace, config: Config) -> int:
    """Run worker processes until SIGTERM or Ctrl-C."""
    count = args.workers or config.workers
    check_model(config.vosk_model)

    async def run() -> None:
        stopping = asyncio.Event()
        _stop_on_signals(stopping)
        await workers.run_workers(config, count, stopping, lease=timedelta(seconds=args.lease))

    print(f"hotline worker: processes={count} model={model_name(config.vosk_model)}", file=sys.stderr)
    asyncio.run(run())
    return 0


def _with_sessions(config: Config, action: Callable[[async_sessionmaker], Awaitable[str]]) -> int:
    async def run() -> str:
        async with database(config.database_url) as sessions:
            return await action(sessions)

    print(asyncio.run(run()))
    return 0


def sweep_once(args: argparse.Namespace, config: Config) -> int:
    """One full sweep of the spool and the archive."""

    async def sweep(sessions: async_sessionmaker) -> str:
        report = await ingest.sweep(sessions, config, full=True)
        return (f"{report.ingested} ingested, {report.orphans} orphans, {report.registered} registered "
                f"from the archive, {report.waiting} waiting")

    return _with_sessions(config, sweep)


def apply_retention(args: argparse.Namespace, config: Config) -> int:
    """Delete (or list, with --dry-run) recordings past the retention period."""

    async def purge(sessions: async_sessionmaker) -> str:
        report = await retention.apply_retention(sessions, config, dry_run=args.dry_run)
        verb = "would delete" if args.dry_run else "deleted"
        return f"{verb} {len(report.deleted)} recordings older than {config.retention_days} days; {report.held} on hold kept"

    return _with_sessions(config, purge)


def queue_status(args: argparse.Namespace, config: Config) -> int:
    """Jobs per state, then the latest failed jobs with their errors."""

    async def status(sessions: async_sessionmaker) -> str:
        async with sessions() as session:
            counts = await jobs.queue_counts(session)
            failed = await jobs.failed_jobs(session)
        lines = [", ".join(f"{counts.get(state, 0)} {state}" for state in (jobs.QUEUED, jobs.RUNNING, jobs.DONE, jobs.FAILED))]
        lines += [f"failed: job {job.id} recording {job.recording_id} after {job.attempts} attempts: {job.last_error}"
                  for job in failed]
        return "\n".join(lines)

    return _with_sessions(config, status)


def requeue_for_model(args: argparse.Namespace, config: Config) -> int:
    """Queue every recording whose transcript came from another model than the configured one."""
    name = model_name(check_model(config.vosk_model))

    async def requeue(sessions: async_sessionmaker) -> str:
        async with sessions() as session, session.begin():
            queued = await jobs.requeue_for_model(session, name)
        return f"queued {queued} recordings for model {name}"

    return _with_sessions(config, requeue)
