"""From MixMonitor's spool into the archive, with a database row, without ever losing a file.

Asterisk 22 sends no MixMonitorStop when a call hangs up (see the AMI captures), so the daemon
calls `on_call_ended` when its call tracker sees the call end, with the path MixMonitor was given
(MIXMONITOR_FILENAME). The file may still be open then: MixMonitor finishes writing and fills in
the WAV header's sizes only when it closes the file (format_wav.c: `wav_write` leaves the header
alone, `update_header` runs at close), so ingest waits until the header is final or the file has
stopped changing. A file whose header was never finalised or that was cut short
is repaired (only its two size fields are rewritten); one that cannot be read is archived anyway
and flagged. Ingest moves files, never deletes them.

`sweep` catches what the daemon missed (a crash, the AMI link down): files in the spool that an
ended call claims are ingested for that call, files no call claims become orphans, files moved
into the archive while the database refused their row are registered at the next sweep, and at
start files in the archive with no row (a crash between the move and the commit) are registered.

Archive layout: `<root>/YYYY/MM/DD/<call id><ext>`, with `.caller`/`.agent` before the extension
for MixMonitor's r()/t() files, and `orphan-<spool name>` for files no call claims. The original
extension is kept: the file is moved as Asterisk wrote it, not converted.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker

from hotline.config import Config
from hotline.db import error_reason
from recordings.store import TRANSCRIBABLE, Recording
from hotline.db.tables import Call
from hotline.errors import HotlineError
from hotline.web.live import Telemetry
from recordings import jobs
from recordings.audio import (
    AGENT,
    CALLER,
    HEADER_PROBE_BYTES,
    AudioError,
    NotAudio,
    is_raw,
    raw_facts,
    read_wav_header,
    repair_wav_header,
)

if TYPE_CHECKING:
    from hotline import calls as tracking

log = logging.getLogger("hotline.recordings")

# MixMonitor r()/t() files are named after the main file: <name>-in.<ext> is what the caller
# said (read from the channel), <name>-out.<ext> what they heard (the agent). See docs/recordings.md.
SIDE_SUFFIXES = {CALLER: "-in", AGENT: "-out"}
SETTLE_SECONDS = 2.0
APPEAR_SECONDS = 30.0
POLL_SECONDS = 0.25
SWEEP_SECONDS = 300.0
# A spool file must be this old before the sweep takes it as an orphan: the call tracker may
# not have stored its call yet.
ORPHAN_AGE_SECONDS = 3600.0
_PART = ".part"

# Spool files some task of this process is ingesting right now (on_call_ended and the sweep
# must not both take the same file).
_in_progress: set[Path] = set()
# Files moved into the archive whose row the database refused (a full disk, a read-only
# volume), by database and archive path: every sweep registers them again, so they are not
# unknown to the API until the next start's full sweep.
_refused_rows: dict[tuple[str, str], tuple[str, Archived, Call | None, datetime]] = {}


class RecordingMissing(HotlineError):
    """The recording file did not appear."""

    status_code = 404
    error_id = "recording-missing"


@dataclass(frozen=True)
class Inspection:
    """What ingest found in a file, after repairing its header if it could."""

    condition: str
    problem: str | None
    encoding: str
    sample_rate: int | None = None
    channels: int | None = None
    duration_seconds: float | None = None


def inspect(path: Path) -> Inspection:
    """Check `path`'s header and length, repairing a WAV header that does not match its data.

    Blocking (reads and may rewrite the file): run it in a thread.
    """
    size = path.stat().st_size
    if size == 0:
        return Inspection("empty", "zero-length file", "unknown", duration_seconds=0.0)
    if is_raw(path):
        facts = raw_facts(path, size)
        problem = None if facts.whole else "file ends inside a frame (cut short)"
        return Inspection(
            "ok" if facts.whole else "truncated", problem, facts.encoding,
            facts.sample_rate, facts.channels, facts.duration_seconds,
        )
    with path.open("rb") as file:
        head = file.read(HEADER_PROBE_BYTES)
    try:
        header = read_wav_header(head, size)
    except NotAudio as exc:
        return Inspection("not-audio", str(exc), "unknown")
    except AudioError as exc:
        return Inspection("damaged", str(exc), "wav")
    facts = dict(
        encoding=header.encoding, sample_rate=header.sample_rate, channels=header.channels,
        duration_seconds=header.duration_seconds,
    )
    if header.encoding not in ("pcm", "ulaw", "alaw", "gsm"):
        return Inspection("damaged", f"unsupported WAV encoding {header.encoding}", **facts)
    if header.whole_block_bytes == 0:
        # MixMonitor with option b leaves a 44-byte header when the call was never bridged.
        return Inspection("empty", "no audio (call never bridged?)", **facts)
    if header.finalised:
        return Inspection("ok", None, **facts)
    return Inspection("repaired", repair_wav_header(path, header), **facts)


def _file_state(path: Path) -> tuple[int, int, bool] | None:
    """(size, mtime, header final) of `path`, or None while it does not exist."""
    try:
        stat = path.stat()
        if is_raw(path):
            return stat.st_size, stat.st_mtime_ns, False
        with path.open("rb") as file:
            head = file.read(HEADER_PROBE_BYTES)
    except FileNotFoundError:
        return None
    try:
        finalised = read_wav_header(head, stat.st_size).finalised
    except AudioError:
        finalised = False
    return stat.st_size, stat.st_mtime_ns, finalised


async def wait_until_complete(
    path: Path,
    *,
    settle: float = SETTLE_SECONDS,
    appear: float = APPEAR_SECONDS,
) -> None:
    """Return when `path` is complete: its WAV header is final, or it has not changed for
    `settle` seconds. Raises RecordingMissing if it does not appear within `appear` seconds."""
    loop = asyncio.get_running_loop()
    poll = min(POLL_SECONDS, settle / 4)
    deadline = loop.time() + appear
    last: tuple[int, int] | None = None
    stable_since = loop.time()
    while True:
        state = await asyncio.to_thread(_file_state, path)
        now = loop.time()
        if state is None:
            if now >= deadline:
                raise RecordingMissing(f"recording {path.name} did not appear", path=str(path))
        elif state[:2] != last:
            last, stable_since = state[:2], now
        elif state[2] and state[0] > 44:
            # Final sizes and unchanged since the last look: closed. (Asterisk 1.x rewrote the
            # header after every write, so a final header alone does not prove it.)
            return
        elif now - stable_since >= settle:
            return
        await asyncio.sleep(poll)


def spool_path(config: Config, recording: str) -> Path:
    """The spool file for MixMonitor's file name. Asterisk may see the spool under another path
    (another machine, a container), so a name that does not exist as given is looked up by its
    base name in `recordings_spool`."""
    given = Path(recording)
    if given.is_absolute() and given.exists():
        return given
    return config.recordings_spool / given.name


def side_files(main: Path) -> dict[str, Path]:
    """MixMonitor's r()/t() files that belong to `main`, by speaker."""
    found = {}
    for speaker, suffix in SIDE_SUFFIXES.items():
        candidates = sorted(main.parent.glob(f"{main.stem}{suffix}.*"))
        if candidates:
            found[speaker] = candidates[0]
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _free(path: Path) -> Path:
    """`path`, or `name.1.ext`, `name.2.ext`...: never overwrite an archived file."""
    candidate, number = path, 0
    while candidate.exists() or candidate.with_name(candidate.name + _PART).exists():
        number += 1
        candidate = path.with_name(f"{path.stem}.{number}{path.suffix}")
    return candidate


def move(source: Path, destination: Path) -> Path:
    """Move `source` to `destination` (or a free name next to it) atomically; return where.

    Same file system: one rename. Otherwise copy to `<name>.part`, fsync, rename into place,
    then remove the source: at every instant one complete copy exists under a final name.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination = _free(destination)
    try:
        os.rename(source, destination)
        return destination
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    part = destination.with_name(destination.name + _PART)
    with source.open("rb") as reader, part.open("wb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)
        writer.flush()
        os.fsync(writer.fileno())
    os.rename(part, destination)
    directory = os.open(destination.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    source.unlink()
    return destination


@dataclass(frozen=True)
class Archived:
    """A file now in the archive, with what ingest learnt about it."""

    path: str  # relative to the recordings root
    sides: dict[str, str]
    inspection: Inspection
    sha256: str
    size_bytes: int


def archive(source: Path, root: Path, day: datetime, name: str, sides: dict[str, Path]) -> Archived:
    """Inspect (and repair) `source` and its side files, move them to `root/YYYY/MM/DD/name...`.

    Blocking: run it in a thread.
    """
    inspection = inspect(source)
    problems = [inspection.problem] if inspection.problem else []
    folder = root / f"{day:%Y/%m/%d}"
    moved_sides = {}
    for speaker, side in sides.items():
        side_inspection = inspect(side)
        if side_inspection.problem:
            problems.append(f"{speaker} side: {side_inspection.problem}")
        moved_sides[speaker] = move(side, folder / f"{name}.{speaker}{side.suffix}").relative_to(root).as_posix()
    destination = move(source, folder / f"{name}{source.suffix}")
    inspection = replace(inspection, problem="; ".join(problems) or None)
    return Archived(
        destination.relative_to(root).as_posix(), moved_sides, inspection,
        _sha256(destination), destination.stat().st_size,
    )


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)


async def _register(sessions: async_sessionmaker, source: str, archived: Archived, call: Call | None, recorded_at: datetime) -> Recording:
    inspection = archived.inspection
    recording = Recording(
        call_id=call.id if call is not None else None,
        source=source,
        path=archived.path,
        caller_path=archived.sides.get(CALLER),
        agent_path=archived.sides.get(AGENT),
        format=inspection.encoding,
        sample_rate=inspection.sample_rate,
        channels=inspection.channels,
        duration_seconds=inspection.duration_seconds,
        size_bytes=archived.size_bytes,
        sha256=archived.sha256,
        condition=inspection.condition,
        problem=inspection.problem,
        recorded_at=recorded_at,
        ingested_at=datetime.now(timezone.utc),
        legal_hold=False,
    )
    async with sessions() as session, session.begin():
        session.add(recording)
        await session.flush()
        if inspection.condition in TRANSCRIBABLE and inspection.duration_seconds:
            await jobs.enqueue(session, recording.id)
    if inspection.condition != "ok":
        # The problem text names sizes only, never content.
        log.warning("recording %s archived as %s: %s", archived.path, inspection.condition, inspection.problem,
                    extra={"action": "ingest"})
    return recording


async def ingest(sessions: async_sessionmaker, config: Config, source: Path, call: Call | None) -> Recording:
    """Archive the complete spool file `source` for `call` (None: an orphan), record it and
    queue its transcription."""
    recorded_at = call.started_at if call is not None else await asyncio.to_thread(_mtime, source)
    name = str(call.id) if call is not None else f"orphan-{source.stem}"
    sides = await asyncio.to_thread(side_files, source)  # lists the spool directory: blocking
    archived = await asyncio.to_thread(archive, source, config.recordings_root, recorded_at, name, sides)
    try:
        return await _register(sessions, str(source), archived, call, recorded_at)
    except SQLAlchemyError:
        _refused_rows[(config.database_url, archived.path)] = (str(source), archived, call, recorded_at)
        raise


async def _register_refused(sessions: async_sessionmaker, config: Config) -> int:
    """Rows for the archive files whose row this database refused earlier in this process.

    Raises the database's error while it still refuses writes (the next sweep tries again)."""
    registered = 0
    for key, (source, archived, call, recorded_at) in list(_refused_rows.items()):
        if key[0] != config.database_url:
            continue
        async with sessions() as session:
            known = await session.scalar(select(Recording.id).where(Recording.path == archived.path))
            if call is not None and await session.get(Call, call.id) is None:
                call = None  # its call is gone: an orphan, as the start-up sweep would take it
        if known is None:
            await _register(sessions, source, archived, call, recorded_at)
            registered += 1
        del _refused_rows[key]
    return registered


async def on_call_ended(
    sessions: async_sessionmaker,
    config: Config,
    call_id: int,
    recording: str,
    *,
    settle: float = SETTLE_SECONDS,
    appear: float = APPEAR_SECONDS,
) -> Recording | None:
    """Ingest the MixMonitor file `recording` of call `call_id`, which has just ended.

    Waits for the file to be complete (see `wait_until_complete`). Returns None if the file never
    appeared (the sweep looks again later) or is being ingested already; calling it twice for
    one call is harmless.
    """
    source = spool_path(config, recording)
    if source in _in_progress:
        return None
    _in_progress.add(source)
    try:
        async with sessions() as session:
            done = await session.scalar(select(Recording).where(Recording.source == str(source)))
            call = await session.get(Call, call_id)
        if done is not None:
            return done
        try:
            await wait_until_complete(source, settle=settle, appear=appear)
        except RecordingMissing:
            log.warning("recording %s of call %s has not appeared; the sweep will look again", source.name, call_id,
                        extra={"action": "ingest"})
            return None
        return await ingest(sessions, config, source, call)
    finally:
        _in_progress.discard(source)


@dataclass
class SweepReport:
    """What one sweep did."""

    ingested: int = 0
    orphans: int = 0
    registered: int = 0
    waiting: int = 0
    failed: int = 0


def _is_side(path: Path) -> bool:
    """True for an r()/t() file whose main file is next to it."""
    return any(
        path.stem.endswith(suffix) and any(path.parent.glob(f"{path.stem[: -len(suffix)]}.*"))
        for suffix in SIDE_SUFFIXES.values()
    )


def _spool_files(spool: Path, min_age: float) -> tuple[list[Path], int]:
    """Main files in the spool unchanged for `min_age` seconds, and how many are younger."""
    now = datetime.now(timezone.utc).timestamp()
    files, young = [], 0
    for path in sorted(spool.rglob("*")):
        if not path.is_file() or path.name.startswith(".") or path.name.endswith(_PART):
            continue
        if _is_side(path):
            continue  # a side file travels with its main file
        if now - path.stat().st_mtime < min_age:
            young += 1
            continue
        files.append(path)
    return files, young


async def _claimant(sessions: async_sessionmaker, path: Path) -> Call | None:
    async with sessions() as session:
        return await session.scalar(
            select(Call)
            .where(or_(Call.recording == str(path), Call.recording.endswith(f"/{path.name}", autoescape=True)))
            .order_by(Call.id.desc())
            .limit(1)
        )


def _unregistered(root: Path, known: set[str]) -> list[Path]:
    names = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative not in known and not path.name.endswith(_PART):
            names.append(path)
    return names


async def _register_archive(sessions: async_sessionmaker, config: Config) -> int:
    """Rows for archive files that have none (the process died between move and commit)."""
    root = config.recordings_root
    async with sessions() as session:
        rows = await session.execute(select(Recording.path, Recording.caller_path, Recording.agent_path))
        known = {path for row in rows for path in row if path}
    registered = 0
    for path in await asyncio.to_thread(_unregistered, root, known):
        if any(f".{speaker}." in path.name for speaker in SIDE_SUFFIXES):
            continue  # a side file belongs to its main file's row; alone it stays on disk
        stem = path.name.split(".")[0]
        # Call ids are INTEGER: a longer run of digits is no call of ours (PostgreSQL would
        # refuse the look-up), and int() refuses non-ASCII digits such as "²".
        is_call_id = stem.isascii() and stem.isdigit() and int(stem) < 2**31
        try:
            async with sessions() as session:
                call = await session.get(Call, int(stem)) if is_call_id else None
            inspection = await asyncio.to_thread(inspect, path)
            archived = Archived(
                path.relative_to(root).as_posix(), {}, inspection,
                await asyncio.to_thread(_sha256, path), path.stat().st_size,
            )
            await _register(sessions, str(path), archived, call, await asyncio.to_thread(_mtime, path))
        except (OSError, HotlineError) as exc:
            # Like the spool: one unreadable file must not stop the start-up sweep every time
            # (the spool would then never be swept); the next full sweep tries it again.
            log.error("archive file %s could not be registered: %s", path.name, exc, extra={"action": "sweep"})
            continue
        registered += 1
    return registered


async def sweep(
    sessions: async_sessionmaker,
    config: Config,
    *,
    full: bool = False,
    min_age: float = SETTLE_SECONDS,
    orphan_age: float = ORPHAN_AGE_SECONDS,
) -> SweepReport:
    """Ingest the spool files the daemon missed and register the archive files whose row the
    database refused; with `full`, also every other unrecorded archive file. Files of calls
    still in progress, and unclaimed files younger than `orphan_age`, wait."""
    report = SweepReport()
    config.recordings_spool.mkdir(parents=True, exist_ok=True)
    config.recordings_root.mkdir(parents=True, exist_ok=True)
    report.registered = await _register_refused(sessions, config)
    if full:
        report.registered += await _register_archive(sessions, config)
    files, report.waiting = await asyncio.to_thread(_spool_files, config.recordings_spool, min_age)
    for path in files:
        if path in _in_progress:
            continue
        call = await _claimant(sessions, path)
        if call is not None and call.ended_at is None:
            report.waiting += 1
            continue
        age = datetime.now(timezone.utc) - await asyncio.to_thread(_mtime, path)
        if call is None and age.total_seconds() < orphan_age:
            report.waiting += 1
            continue
        _in_progress.add(path)
        try:
            await ingest(sessions, config, path, call)
        except (OSError, HotlineError) as exc:
            # One file that cannot be read or moved must not hold up every file after it, sweep
            # after sweep: it stays in the spool and the next sweep tries it again.
            log.error("recording %s could not be ingested: %s", path.name, exc, extra={"action": "sweep"})
            report.failed += 1
            continue
        finally:
            _in_progress.discard(path)
        if call is None:
            report.orphans += 1
        else:
            report.ingested += 1
    return report


async def sweep_forever(
    sessions: async_sessionmaker,
    config: Config,
    stopping: asyncio.Event,
    interval: float = SWEEP_SECONDS,
    telemetry: Telemetry | None = None,
) -> None:
    """Sweep at start (full: spool and archive) and then every `interval` seconds (spool) until
    `stopping` is set. A sweep that fails on a file system or database error is logged and
    tried again at the next interval; `telemetry` learns whether the database took its rows."""
    full = True
    while not stopping.is_set():
        try:
            report = await sweep(sessions, config, full=full)
            full = False
            if report.ingested or report.orphans or report.registered:
                if telemetry is not None:
                    telemetry.saved("recordings")
                log.info(
                    "recordings sweep: %d ingested, %d orphans, %d registered from the archive",
                    report.ingested, report.orphans, report.registered, extra={"action": "sweep"},
                )
        except SQLAlchemyError as exc:
            if telemetry is not None:
                telemetry.save_failed("recordings", exc)
            log.error("recordings sweep failed: %s", error_reason(exc), extra={"action": "sweep"})
        except (OSError, HotlineError) as exc:
            log.error("recordings sweep failed: %s", exc, extra={"action": "sweep"})
        try:
            await asyncio.wait_for(stopping.wait(), interval)
        except TimeoutError:
            pass


class Ingestor:
    """The daemon's side of ingest: takes ended calls from call tracking without blocking it,
    and sweeps. Wiring in `hotline serve`:

        ingestor = Ingestor(sessions, config)
        tracking = CallTracking(..., on_call_ended=[ingestor.call_ended])
        group.create_task(ingestor.run(stop))
    """

    def __init__(
        self,
        sessions: async_sessionmaker,
        config: Config,
        *,
        grace: float = APPEAR_SECONDS,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.sessions, self.config, self.grace, self.telemetry = sessions, config, grace, telemetry
        self._pending: set[asyncio.Task] = set()

    async def call_ended(self, call: tracking.Call, call_id: int) -> None:
        """An EndedCallHandler: start ingesting `call.recording` in the background and return.

        Waiting for MixMonitor to close the file takes seconds; call tracking must not wait.
        """
        if not call.recording:
            return
        task = asyncio.create_task(on_call_ended(self.sessions, self.config, call_id, call.recording))
        self._pending.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._pending.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, SQLAlchemyError):
            # The file is in the archive (or still in the spool); every sweep tries its row again.
            if self.telemetry is not None:
                self.telemetry.save_failed("recordings", error)
            log.error("saving a recording's row failed: %s", error_reason(error), extra={"action": "ingest"})
        elif error is not None:
            # The file stays in the spool; the next sweep takes it.
            log.error("ingesting a recording failed: %s", error, exc_info=error, extra={"action": "ingest"})
        elif task.result() is not None and self.telemetry is not None:
            self.telemetry.saved("recordings")

    async def run(self, stopping: asyncio.Event) -> None:
        """Sweep until `stopping`; then give ingests under way `grace` seconds to finish (what is
        cut short stays in the spool for the sweep at the next start)."""
        try:
            await sweep_forever(self.sessions, self.config, stopping, telemetry=self.telemetry)
        finally:
            if self._pending:
                _done, cut = await asyncio.wait(set(self._pending), timeout=self.grace)
                for task in cut:
                    task.cancel()
