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
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import insert, or_, select
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
POLL_SECONDS = 0.1
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
_refused_rows: dict[tuple[str, str], Filed] = {}


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


class Completion:
    """The rule that says a spool file is complete, fed one look at the file at a time: its WAV
    header is final and it has not changed since the previous look, or it has not changed for
    `settle` seconds. A file that has not appeared `appear` seconds after the first look is
    missing. Times are `time.monotonic()` seconds."""

    def __init__(self, path: Path, now: float, *, settle: float = SETTLE_SECONDS, appear: float = APPEAR_SECONDS) -> None:
        self.path, self.settle = path, settle
        self.deadline = now + appear
        self.last: tuple[int, int] | None = None
        self.stable_since = now

    def complete(self, state: tuple[int, int, bool] | None, now: float) -> bool:
        """Whether the file, found in `state` (see `_file_state`) at `now`, is complete; raises
        RecordingMissing once it is overdue."""
        if state is None:
            if now >= self.deadline:
                raise RecordingMissing(f"recording {self.path.name} did not appear", path=str(self.path))
            return False
        if state[:2] != self.last:
            self.last, self.stable_since = state[:2], now
            return False
        # Final sizes and unchanged since the last look: closed. (Asterisk 1.x rewrote the
        # header after every write, so a final header alone does not prove it.)
        return (state[2] and state[0] > 44) or now - self.stable_since >= self.settle


async def wait_until_complete(
    path: Path,
    *,
    settle: float = SETTLE_SECONDS,
    appear: float = APPEAR_SECONDS,
) -> None:
    """Return when `path` is complete (see `Completion`). Raises RecordingMissing if it does not
    appear within `appear` seconds."""
    poll = min(POLL_SECONDS, settle / 4)
    completion = Completion(path, time.monotonic(), settle=settle, appear=appear)
    while not completion.complete(await asyncio.to_thread(_file_state, path), time.monotonic()):
        await asyncio.sleep(poll)


def spool_path(config: Config, recording: str) -> Path:
    """The spool file for MixMonitor's file name. Asterisk may see the spool under another path
    (another machine, a container), so a name that does not exist as given is looked up by its
    base name in `recordings_spool`."""
    given = Path(recording)
    if given.is_absolute() and given.exists():
        return given
    return config.recordings_spool / given.name


def sides_in(folder: Path) -> dict[str, dict[str, Path]]:
    """MixMonitor's r()/t() files in `folder`, by the stem of their main file, by speaker: one
    listing serves a whole batch of main files (a glob per file rescans the spool each time)."""
    found: dict[str, dict[str, Path]] = {}
    for name in sorted(os.listdir(folder)):
        base = name.rpartition(".")[0]
        for speaker, suffix in SIDE_SUFFIXES.items():
            if base.endswith(suffix):
                found.setdefault(base[: -len(suffix)], {}).setdefault(speaker, folder / name)
    return found


def side_files(main: Path) -> dict[str, Path]:
    """MixMonitor's r()/t() files that belong to `main`, by speaker."""
    return sides_in(main.parent).get(main.stem, {})


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


@dataclass(frozen=True)
class Filed:
    """An archived file on its way to its row: for which call, from where, recorded when."""

    source: str
    archived: Archived
    call_id: int | None
    recorded_at: datetime


async def _register_all(sessions: async_sessionmaker, filed: list[Filed]) -> list[int]:
    """Rows for `filed` and transcription jobs for those that can be transcribed, in one
    transaction with one insert per table; returns the new recordings' ids."""
    now = datetime.now(timezone.utc)
    rows = []
    for item in filed:
        inspection = item.archived.inspection
        rows.append({
            "call_id": item.call_id, "source": item.source, "path": item.archived.path,
            "caller_path": item.archived.sides.get(CALLER), "agent_path": item.archived.sides.get(AGENT),
            "format": inspection.encoding, "sample_rate": inspection.sample_rate,
            "channels": inspection.channels, "duration_seconds": inspection.duration_seconds,
            "size_bytes": item.archived.size_bytes, "sha256": item.archived.sha256,
            "condition": inspection.condition, "problem": inspection.problem,
            "recorded_at": item.recorded_at, "ingested_at": now, "legal_hold": False,
        })
    async with sessions() as session, session.begin():
        # One row at a time keeps the ids in the order of `filed` on every backend; the
        # statement is compiled once and sent as one executemany.
        result = await session.execute(
            insert(Recording.__table__).returning(Recording.__table__.c.id, sort_by_parameter_order=True), rows
        )
        ids = list(result.scalars())
        await jobs.enqueue_new(session, [
            id_ for id_, item in zip(ids, filed)
            if item.archived.inspection.condition in TRANSCRIBABLE and item.archived.inspection.duration_seconds
        ])
    for item in filed:
        inspection = item.archived.inspection
        if inspection.condition != "ok":
            # The problem text names sizes only, never content.
            log.warning("recording %s archived as %s: %s", item.archived.path, inspection.condition,
                        inspection.problem, extra={"action": "ingest"})
    return ids


async def _register(sessions: async_sessionmaker, source: str, archived: Archived, call: Call | None, recorded_at: datetime) -> Recording:
    (id_,) = await _register_all(sessions, [Filed(source, archived, call.id if call is not None else None, recorded_at)])
    async with sessions() as session:
        return await session.get(Recording, id_)


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
        _refused_rows[(config.database_url, archived.path)] = Filed(
            str(source), archived, call.id if call is not None else None, recorded_at
        )
        raise


async def _register_refused(sessions: async_sessionmaker, config: Config) -> int:
    """Rows for the archive files whose row this database refused earlier in this process.

    Raises the database's error while it still refuses writes (the next sweep tries again)."""
    registered = 0
    for key, item in list(_refused_rows.items()):
        if key[0] != config.database_url:
            continue
        async with sessions() as session:
            known = await session.scalar(select(Recording.id).where(Recording.path == item.archived.path))
            if item.call_id is not None and await session.get(Call, item.call_id) is None:
                # Its call is gone: an orphan, as the start-up sweep would take it.
                item = replace(item, call_id=None)
        if known is None:
            await _register_all(sessions, [item])
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


@dataclass
class _Watch:
    """A call's recording the Ingestor is waiting for."""

    call_id: int
    recording: str
    started_at: datetime
    source: Path | None = None
    completion: Completion | None = None


def _look_and_archive(config: Config, watches: list[_Watch]) -> tuple[list[Filed], list[_Watch]]:
    """One look at every watched file; archive those that are complete. Returns what was
    archived and every watch that is over (archived, overdue, or failed and left in the spool
    for the sweep).

    Blocking: run it in a thread, once for all the files watched (a thread hop per file per look
    was the cost of ingest when thousands of calls end at once).
    """
    filed, over = [], []
    listings: dict[Path, dict[str, dict[str, Path]]] = {}
    for watch in watches:
        try:
            if not watch.completion.complete(_file_state(watch.source), time.monotonic()):
                continue
            folder = watch.source.parent
            if folder not in listings:
                listings[folder] = sides_in(folder)
            archived = archive(watch.source, config.recordings_root, watch.started_at, str(watch.call_id),
                               listings[folder].get(watch.source.stem, {}))
        except RecordingMissing:
            log.warning("recording %s of call %s has not appeared; the sweep will look again",
                        watch.source.name, watch.call_id, extra={"action": "ingest"})
        except (OSError, HotlineError) as exc:
            log.error("recording %s of call %s could not be archived: %s; the sweep will try again",
                      watch.source.name, watch.call_id, exc, extra={"action": "ingest"})
        else:
            filed.append(Filed(str(watch.source), archived, watch.call_id, watch.started_at))
        over.append(watch)
    return filed, over


class Ingestor:
    """The daemon's side of ingest: takes ended calls from call tracking without blocking it,
    ingests their recordings in batches, and sweeps. Wiring in `hotline serve`:

        ingestor = Ingestor(sessions, config)
        tracking = CallTracking(..., on_call_ended=[ingestor.call_ended])
        group.create_task(ingestor.run(stop))
    """

    def __init__(
        self, sessions: async_sessionmaker, config: Config, *, grace: float = APPEAR_SECONDS,
        poll: float = POLL_SECONDS, telemetry: Telemetry | None = None,
    ) -> None:
        self.sessions, self.config, self.grace, self.poll = sessions, config, grace, poll
        self.telemetry = telemetry
        self._handed: list[_Watch] = []
        self._watching: list[_Watch] = []
        self._wake = asyncio.Event()

    async def call_ended(self, call: tracking.Call, call_id: int) -> None:
        """An EndedCallHandler: note `call.recording` for ingest and return at once.

        Waiting for MixMonitor to close the file takes a moment; call tracking must not wait.
        """
        if not call.recording:
            return
        self._handed.append(_Watch(call_id, call.recording, call.started_at))
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Ingest and sweep until `stopping`; then give ingests under way `grace` seconds to
        finish (what is cut short stays in the spool for the sweep at the next start)."""
        async with asyncio.TaskGroup() as group:
            group.create_task(sweep_forever(self.sessions, self.config, stopping, telemetry=self.telemetry))
            group.create_task(self._ingest(stopping))

    async def _ingest(self, stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        stopped_at: float | None = None
        while True:
            if stopping.is_set():
                stopped_at = stopped_at if stopped_at is not None else loop.time()
                if not (self._handed or self._watching) or loop.time() - stopped_at >= self.grace:
                    break
            if not (self._handed or self._watching):
                self._wake.clear()
                waiting = asyncio.ensure_future(self._wake.wait())
                stop = asyncio.ensure_future(stopping.wait())
                await asyncio.wait((waiting, stop), return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                stop.cancel()
                continue
            try:
                await self._ingest_once()
            except (SQLAlchemyError, OSError, HotlineError) as exc:
                # The files stay where they are (spool, or archive without a row): the sweep
                # takes them.
                log.error("ingesting recordings failed: %s", exc, extra={"action": "ingest"})
            if self._watching:
                await asyncio.sleep(self.poll)
        for watch in self._watching:
            _in_progress.discard(watch.source)
        self._watching = []

    async def _ingest_once(self) -> None:
        """Watch the recordings of the calls handed over since the last time, look at every
        file watched, archive and register those that are complete."""
        handed, self._handed = self._handed, []
        if handed:
            await self._watch(handed)
        filed, over = await asyncio.to_thread(_look_and_archive, self.config, self._watching)
        finished = {id(watch) for watch in over}
        self._watching = [watch for watch in self._watching if id(watch) not in finished]
        try:
            if filed:
                await self._register(filed)
        finally:
            for watch in over:
                _in_progress.discard(watch.source)

    async def _register(self, filed: list[Filed]) -> None:
        try:
            await _register_all(self.sessions, filed)
        except SQLAlchemyError as error:
            # The files are in the archive now; every sweep tries their rows again.
            for item in filed:
                _refused_rows[(self.config.database_url, item.archived.path)] = item
            if self.telemetry is not None:
                self.telemetry.save_failed("recordings", error)
            log.error("saving %d recordings' rows failed: %s", len(filed), error_reason(error),
                      extra={"action": "ingest"})
        else:
            if self.telemetry is not None:
                self.telemetry.saved("recordings")

    async def _watch(self, handed: list[_Watch]) -> None:
        config = self.config
        # spool_path looks at the file system: off the event loop, once for the whole batch.
        sources = await asyncio.to_thread(lambda: [spool_path(config, watch.recording) for watch in handed])
        async with self.sessions() as session:
            done = set(await session.scalars(
                select(Recording.source).where(Recording.source.in_([str(source) for source in sources]))
            ))
        now = time.monotonic()
        for watch, source in zip(handed, sources):
            # Handing a call over twice, or a file the sweep is taking, is harmless.
            if str(source) in done or source in _in_progress:
                continue
            _in_progress.add(source)
            watch.source, watch.completion = source, Completion(source, now)
            self._watching.append(watch)
