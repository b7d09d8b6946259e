"""AMI ingest: events per second through the full path, as a ratio to panoramisk's raw parse rate.

Both runs read the same byte stream (real Asterisk 22 events of capture d, one queued and
answered call repeated with fresh ids) from a real AMI server on loopback:

- raw: a stock panoramisk Manager counting events in a callback (the baseline);
- full: `hotline serve`'s path, recordings on: our AMI link -> call tracking -> batched
  database writes -> recordings ingest (each call's MixMonitor file, a real Asterisk WAV, is in
  the spool), timed until the last call is saved as ended and the last recording is archived
  with its row.

Every run of the full path starts from an empty database (a fresh SQLite file, or with
`--database-url` a fresh database created on that PostgreSQL server and dropped afterwards) and
an empty archive.

Then memory: the call tracker holding N concurrent calls (each stopped at AgentConnect, four
legs), measured with tracemalloc, per 1,000 calls.

    python benchmarks/ami_ingest.py [--calls 1000] [--repeat 3] [--database-url SERVER_URL]

Targets: full path >= 0.5 x raw (aim 1.0); < 10 MB per 1,000 concurrent calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panoramisk import Manager  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from hotline import daemon  # noqa: E402
from hotline.calls import CallTracker  # noqa: E402
from hotline.config import Config, PbxConfig  # noqa: E402
from hotline.db import create_engine, scratch_database, session_factory  # noqa: E402
from hotline.db.tables import Call  # noqa: E402
from hotline.simulator import AmiServer  # noqa: E402
from recordings.store import Recording  # noqa: E402
from tests.captures import FIXTURES, Frame  # noqa: E402
from tests.fakes.asterisk import IdRewriter, capture_events  # noqa: E402

CAPTURE = "d-queue-call-agent-answers"
# The file MixMonitor wrote for that call, as Asterisk closed it.
MIXMONITOR_WAV = FIXTURES / f"{CAPTURE}.mixmonitor.1795811555.879.wav"
SECRET = "hotline-secret"


def call_events(server: AmiServer, calls: int) -> list[list[str]]:
    """`calls` copies of the capture's events, each with ids of its own."""
    events = capture_events(CAPTURE)
    return [list(map(IdRewriter(server), (frame.text for frame in events))) for _ in range(calls)]


class StreamingServer(AmiServer):
    """Sends the prepared stream to a client as soon as it has logged in."""

    def __init__(self, stream: bytes) -> None:
        super().__init__(secret=SECRET)
        self.stream = stream
        self.streaming_since = 0.0

    async def action_login(self, session, request) -> None:
        await super().action_login(session, request)
        if session.authenticated:
            # Let the client take its login reply first, as a real PBX's traffic would.
            asyncio.get_running_loop().call_later(0.05, self._send, session)

    def _send(self, session) -> None:
        # Both runs are timed from here: the rate of the path, not the client's start-up.
        self.streaming_since = time.perf_counter()
        session.write(self.stream)


async def raw_rate(stream: bytes, events: int) -> float:
    """Events per second a stock panoramisk Manager parses from `stream`."""
    async with StreamingServer(stream) as server:
        done = asyncio.Event()
        seen = 0

        def count(manager, message) -> None:
            nonlocal seen
            if message.get("Event") in ("FullyBooted", "SuccessfulAuth"):
                return
            seen += 1
            if seen == events:
                done.set()

        manager = Manager(host="127.0.0.1", port=server.port, username="hotline", secret=SECRET,
                          ping_delay=0, reconnect_timeout=1)
        manager.register_event("*", count)
        await manager.connect()
        await asyncio.wait_for(done.wait(), 600)
        elapsed = time.perf_counter() - server.streaming_since
        manager.close()
        return events / elapsed


def recording_names(calls: list[list[str]]) -> list[str]:
    """The MixMonitor file name (MIXMONITOR_FILENAME) of each call in the stream."""
    names = []
    for events in calls:
        (variable,) = (text for text in events if "Variable: MIXMONITOR_FILENAME\r\n" in text)
        names.append(Path(Frame(0, variable).as_dict()["Value"]).name)
    return names


@contextlib.asynccontextmanager
async def fresh_database(server_url: str | None, directory: Path):
    """An empty database for one run: a new SQLite file, or a new database on `server_url`."""
    if server_url is None:
        yield f"sqlite+aiosqlite:///{directory}/bench.db"
    else:
        async with scratch_database(server_url, "hotline_bench") as url:
            yield url


async def full_rate(stream: bytes, events: int, recordings: list[str], database_url: str, directory: Path) -> float:
    """Events per second through the daemon until every call is saved as ended and every
    recording is in the archive with its row."""
    spool = directory / "spool"
    spool.mkdir()
    for name in recordings:
        shutil.copyfile(MIXMONITOR_WAV, spool / name)
    calls = len(recordings)
    async with StreamingServer(stream) as server:
        config = Config(
            database_url=database_url, web_port=0, fastagi_port=0,
            pbxs=(PbxConfig(name="bench", port=server.port, secret=SECRET),),
            hotlines={"12300": "12345"},
            recordings_spool=spool, recordings_root=directory / "archive",
        )
        stop = asyncio.Event()
        engine = create_engine(database_url)
        task = asyncio.create_task(daemon.run(config, stop))
        sessions = session_factory(engine)
        ended = archived = 0
        try:
            while ended < calls or archived < calls:
                await asyncio.sleep(0.05)
                if task.done():
                    task.result()
                async with sessions() as session:
                    try:
                        ended = await session.scalar(
                            select(func.count()).select_from(Call).where(Call.ended_at.is_not(None))
                        )
                        archived = await session.scalar(select(func.count()).select_from(Recording))
                    except Exception:  # the schema may not exist yet in the first tenths
                        ended = archived = 0
            elapsed = time.perf_counter() - server.streaming_since
            archive = sum(1 for path in config.recordings_root.rglob("*") if path.is_file())
            if (ended, archived, archive) != (calls, calls, calls):
                raise SystemExit(f"a run must start from nothing: {ended} calls ended, {archived} recording rows,"
                                 f" {archive} archived files for {calls} calls streamed")
        finally:
            stop.set()
            await task
            await engine.dispose()
        return events / elapsed


def tracker_memory(calls: int) -> float:
    """Bytes the call tracker holds per call with `calls` calls in progress."""
    connected = call_events(AmiServer(), calls)
    cut = next(i for i, text in enumerate(connected[0]) if text.startswith("Event: AgentConnect\r\n")) + 1
    at = datetime.now(timezone.utc)
    streams = [[Frame(0, text).as_dict() for text in events[:cut]] for events in connected]
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    tracker = CallTracker("bench", {"12300": "12345"})
    for events in streams:
        for event in events:
            tracker.feed(event, at)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    assert len(tracker.active()) == calls
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return grown / calls


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls in the stream (default 1000)")
    parser.add_argument("--concurrent", type=int, default=10_000,
                        help="calls in progress for the memory figure (default 10000)")
    parser.add_argument("--database-url", metavar="SERVER_URL",
                        help="a PostgreSQL server (postgresql+asyncpg://...): each run gets a new database"
                             " on it, dropped afterwards (default: a new SQLite file each run)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each path; the median is reported (default 3)")
    args = parser.parse_args()

    calls = call_events(AmiServer(), args.calls)
    recordings = recording_names(calls)
    events = sum(len(c) for c in calls)
    stream = "".join(text + "\r\n\r\n" for c in calls for text in c).encode()
    print(f"stream: {args.calls} calls, {events} events, {len(stream) / 1e6:.1f} MB of AMI")

    raws, fulls = [], []
    for run in range(args.repeat):
        # Interleaved, so that a busy moment of the machine weighs on both paths alike.
        raws.append(await raw_rate(stream, events))
        with tempfile.TemporaryDirectory() as directory:
            async with fresh_database(args.database_url, Path(directory)) as url:
                fulls.append(await full_rate(stream, events, recordings, url, Path(directory)))
        print(f"  run {run + 1}: raw {raws[-1]:,.0f}/s, full {fulls[-1]:,.0f}/s = {fulls[-1] / raws[-1]:.2f} x raw",
              file=sys.stderr)
    raw, full = statistics.median(raws), statistics.median(fulls)
    # Each run's ratio pairs two measurements taken back to back; their median is the figure
    # least moved by other work on the machine.
    ratio = statistics.median(f / r for f, r in zip(fulls, raws))
    print(f"raw panoramisk parse:           {raw:10,.0f} events/s  (baseline, median of {args.repeat})")
    print(f"full path (serve, recordings):  {full:10,.0f} events/s  (median of {args.repeat})")
    print(f"full / raw, median of the runs' ratios: {ratio:.2f} x raw  (target >= 0.50)")
    per_call = tracker_memory(args.concurrent)
    print(f"memory: {per_call * 1000 / 1e6:.2f} MB per 1,000 concurrent calls (target < 10)")


if __name__ == "__main__":
    asyncio.run(main())
