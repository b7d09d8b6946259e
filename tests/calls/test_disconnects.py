"""1,000 calls through the fake Asterisk while the AMI link drops 100 times and the PBX restarts
twice: every call is in the database exactly once, ended or live as the PBX says.

The calls are the real captures c, d and e with fresh ids, up to CONCURRENT at once, their
events interleaved (each call's own order kept) by a seeded generator. At 100 seeded points the
connection is cut (what was in flight is lost) and a seeded number of events happen while the
link is down: the fake's channels follow them, the daemon never sees them. Twice the PBX
restarts: the calls in progress die without a Hangup, and the next Asterisk hands out new
Uniqueids (another time, the sequence and the Local channel suffixes from zero). The AMI link,
call tracking and saving run as `hotline serve` runs them, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections import deque

from sqlalchemy import select

from hotline.ami import AmiLink
from hotline.calls import CallTracker
from hotline.config import PbxConfig
from hotline.db.tables import Call, CallLeg
from hotline.tracking import CallTracking
from hotline.web.live import CallHub, Telemetry
from tests.capture_expectations import HOTLINES, PBX
from tests.fakes.asterisk import FakeAsterisk, IdRewriter, capture_events

SEED = 20261201
CALLS = 1000
DROPS = 100
BOOTS = (334, 333, 333)  # calls per run of Asterisk: two restarts
CONCURRENT = 30
MISSED_MAX = 40  # events that happen while the link is down, at most, per drop
KINDS = ("c-hotline-inbound-call", "d-queue-call-agent-answers", "e-callback-survey")
TEMPLATES = {kind: [frame.text for frame in capture_events(kind)] for kind in KINDS}
RESTART = "restart"
SHUTDOWN = b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n"


class Boot:
    """The ids one run of Asterisk hands out: Uniqueid `<seconds>.<sequence>` with a sequence
    that starts over at every start, like the Local channel suffixes."""

    def __init__(self, seconds: int, rng: random.Random) -> None:
        self.seconds = seconds
        self._rng = rng
        self._sequence = itertools.count()
        self._locals = itertools.count()

    def new_uniqueid(self) -> str:
        return f"{self.seconds}.{next(self._sequence)}"

    def new_local_suffix(self) -> str:
        return f"{next(self._locals):08x}"

    def new_bridge_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128)))


def pbx_events(rng: random.Random) -> list[str]:
    """Everything the PBX does, in order: event texts, and RESTART where Asterisk restarts
    (the calls still in progress then are cut short: their remaining events never happen)."""
    items: list[str] = []
    for number, calls in enumerate(BOOTS):
        boot = Boot(1796000000 + 3600 * number, rng)
        waiting, active = calls, []
        last = number == len(BOOTS) - 1
        # Restart with some calls up; the last run ends with CONCURRENT calls still going.
        while waiting or (len(active) > (0 if last else CONCURRENT // 2)):
            while waiting and len(active) < CONCURRENT:
                rewrite = IdRewriter(boot)
                active.append(deque(rewrite(text) for text in TEMPLATES[rng.choice(KINDS)]))
                waiting -= 1
            call = rng.choice(active)
            items.append(call.popleft())
            if not call:
                active.remove(call)
            if last and not waiting and len(active) == CONCURRENT // 2:
                break
        if not last:
            items.append(RESTART)
    return items


def fields(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.split("\r\n") if ": " in line)


async def delivered(fake: FakeAsterisk) -> None:
    for session in list(fake.sessions):
        await session.writer.drain()


async def reconnected(fake: FakeAsterisk, requests: int) -> None:
    """Wait until the link has logged in again and reconciled (CoreShowChannels, then Status
    when a channel is alive) after the first `requests` actions."""
    def done() -> bool:
        names = [request.name for request in fake.requests[requests:]]
        if "Login" not in names:
            return False
        after = names[names.index("Login"):]
        return "CoreShowChannels" in after and (not fake.channels or "Status" in after)

    await fake.wait_for(done, timeout=10)


async def test_every_call_is_stored_once_ended_or_live_as_the_pbx_says(sessions):
    rng = random.Random(SEED)
    items = pbx_events(rng)
    events = [index for index, item in enumerate(items) if item != RESTART]
    drops = deque(sorted(rng.sample(events, DROPS)))
    truth = {f["Uniqueid"]: f["Linkedid"] for f in map(fields, items)
             if f.get("Event") == "Newchannel"}

    async with FakeAsterisk() as fake:
        pbx = PbxConfig(name=PBX, port=fake.port, secret="hotline-secret", action_timeout=5.0,
                        ping_interval=60.0, reconnect_min=0.01, reconnect_max=0.05)
        queue: asyncio.Queue = asyncio.Queue()
        link = AmiLink(pbx, queue)
        tracking = CallTracking({PBX: CallTracker(PBX, HOTLINES)}, queue, sessions, CallHub(),
                                Telemetry())
        stop, links_done = asyncio.Event(), asyncio.Event()
        link_task = asyncio.create_task(link.run(stop))
        tracking_task = asyncio.create_task(tracking.run(links_done))
        try:
            await reconnected(fake, 0)
            index, restarts, missed = 0, 0, 0
            while index < len(items):
                if items[index] == RESTART:
                    requests = len(fake.requests)
                    # The first restart is announced (Shutdown), the second a crash.
                    fake.drop(SHUTDOWN if restarts == 0 else b"")
                    fake.channels.clear()
                    restarts += 1
                    index += 1
                    await reconnected(fake, requests)
                elif drops and drops[0] <= index:
                    drops.popleft()
                    requests = len(fake.requests)
                    fake.drop()
                    for _ in range(rng.randint(0, MISSED_MAX)):
                        if index == len(items) or items[index] == RESTART:
                            break
                        fake.happen(items[index], send=False)
                        index += 1
                        missed += 1
                    await reconnected(fake, requests)
                else:
                    fake.happen(items[index])
                    index += 1
                    if index % 100 == 0:
                        await delivered(fake)
            await delivered(fake)
        finally:
            stop.set()
            async with asyncio.timeout(10):
                await link_task
            links_done.set()
            async with asyncio.timeout(30):
                await tracking_task

        live = {channel.linkedid for channel in fake.channels.values()}
        assert (fake.logins, restarts) == (1 + DROPS + len(BOOTS) - 1, len(BOOTS) - 1)
        assert missed > DROPS  # the link really missed events, about MISSED_MAX / 2 per drop

    async with sessions() as session:
        calls = (await session.execute(select(Call.linkedid, Call.ended_at, Call.id))).all()
        legs = (await session.execute(select(CallLeg.uniqueid, CallLeg.call_id))).all()
    linkedids = [linkedid for linkedid, _, _ in calls]
    assert len(linkedids) == len(set(linkedids)) == CALLS
    assert set(linkedids) == set(truth.values())
    assert {linkedid for linkedid, ended_at, _ in calls if ended_at is None} == live
    assert 0 < len(live) < CALLS
    # No leg is counted twice or filed under another call.
    by_id = {call_id: linkedid for linkedid, _, call_id in calls}
    assert len({uniqueid for uniqueid, _ in legs}) == len(legs)
    assert all(truth[uniqueid] == by_id[call_id] for uniqueid, call_id in legs)
