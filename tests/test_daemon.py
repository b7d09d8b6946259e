"""The daemon end to end over real sockets: fake Asterisk -> AMI link -> tracking -> database ->
API and WebSocket. Runs on SQLite and PostgreSQL like every database test."""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import aiohttp
import pytest

from hotline import daemon
from hotline.cli import build_parser
from hotline.config import Config, PbxConfig
from hotline.db import database
from hotline.db.users import add_user
from tests.capture_expectations import HOTLINES, PBX, expected_calls
from hotline.simulator import Channel
from tests.fakes.agi import call as agi_call, load_agi_capture
from tests.fakes.asterisk import FakeAsterisk, IdRewriter, capture_events

BASE = datetime(2026, 11, 27, 20, 32, 22, tzinfo=timezone.utc)
CALL_CAPTURES = ("c-hotline-inbound-call", "d-queue-call-agent-answers", "e-callback-survey",
                 "f-queue-call-caller-hangs-up", "g-action-responses", "h-queue-caller-abandons")


@dataclass
class Running:
    fake: FakeAsterisk
    url: str
    token: str
    stop: asyncio.Event
    task: asyncio.Task
    http: aiohttp.ClientSession

    async def calls(self, query: str = "") -> list[dict]:
        async with self.http.get(f"{self.url}/api/v1/calls?limit=500&{query}") as response:
            assert response.status == 200
            return (await response.json())["calls"]

    async def close(self) -> None:
        self.stop.set()
        # Ingests still waiting for their file get hotline.daemon.INGEST_GRACE_SECONDS.
        async with asyncio.timeout(20):
            await self.task
        await self.http.close()

    async def updates(self):
        """The WebSocket of call updates (snapshot first)."""
        return await self.http.ws_connect(f"{self.url}/api/v1/events")


async def start_daemon(config: Config, fake: FakeAsterisk, user: str = "supervisor-1") -> Running:
    async with database(config.database_url) as sessions, sessions() as session:
        token = await add_user(session, user, "supervisor")
    stop, ready = asyncio.Event(), asyncio.Queue()
    task = asyncio.create_task(daemon.run(config, stop, on_ready=ready.put_nowait))
    logins = fake.logins
    async with asyncio.timeout(10):
        url = await ready.get()
        await fake.wait_for(lambda: fake.logins > logins)
    http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
    return Running(fake, url, token, stop, task, http)


@pytest.fixture
async def config(database_url, tmp_path) -> Config:
    return Config(
        database_url=database_url, web_port=0, fastagi_port=0, hotlines=HOTLINES,
        recordings_root=tmp_path / "recordings", recordings_spool=tmp_path / "spool",
        pbxs=(PbxConfig(name=PBX, secret="hotline-secret", reconnect_min=0.05, reconnect_max=0.3),),
    )


@pytest.fixture
async def running(config):
    async with FakeAsterisk() as fake:
        config = replace(config, pbxs=(replace(config.pbxs[0], port=fake.port),))
        running = await start_daemon(config, fake)
        try:
            yield running
        finally:
            await running.close()


async def ended_calls(ws, count: int, timeout: float = 10.0) -> list[dict]:
    """Wait for `count` call updates with an end time on the WebSocket."""
    ended: dict[int, dict] = {}
    async with asyncio.timeout(timeout):
        while len(ended) < count:
            message = await ws.receive_json()
            if message["type"] == "call" and message["call"]["ended_at"]:
                ended[message["call"]["id"]] = message["call"]
    return list(ended.values())


@pytest.mark.parametrize("capture", CALL_CAPTURES)
async def test_replaying_a_real_capture_yields_exactly_its_calls(running, capture):
    expected = expected_calls(capture, BASE)
    async with await running.updates() as ws:
        await running.fake.replay(capture, fresh_ids=False, timestamp_base=BASE.timestamp())
        live = await ended_calls(ws, len(expected))
    stored = await running.calls()
    assert [{k: v for k, v in call.items() if k != "id"} for call in stored] == expected
    assert sorted(c["id"] for c in live) == sorted(c["id"] for c in stored)
    assert all(c in stored for c in live)


def queue_call(fake: FakeAsterisk) -> list[str]:
    """Capture d's events as a new call with fresh ids: one citizen queued and answered."""
    rewrite = IdRewriter(fake)
    return [rewrite(frame.text) for frame in capture_events("d-queue-call-agent-answers")]


def index_of(events: list[str], name: str) -> int:
    return next(i for i, text in enumerate(events) if text.startswith(f"Event: {name}\r\n"))


def live_channels(events: list[str]) -> list[Channel]:
    """The channels `events` created and did not hang up, as CoreShowChannels would list them."""
    channels: dict[str, Channel] = {}
    for text in events:
        fields = dict(line.split(": ", 1) for line in text.split("\r\n") if ": " in line)
        if fields["Event"] == "Newchannel":
            channels[fields["Uniqueid"]] = Channel(
                name=fields["Channel"], uniqueid=fields["Uniqueid"], linkedid=fields["Linkedid"],
                context=fields["Context"], exten=fields["Exten"], state=6,
                caller_num="0698765432", caller_name="Queue Caller",
            )
        elif fields["Event"] == "Hangup":
            channels.pop(fields["Uniqueid"], None)
    return list(channels.values())


def linkedid_of(events: list[str]) -> str:
    return next(line.split(": ")[1] for line in events[0].split("\r\n") if line.startswith("Linkedid"))


async def send(fake: FakeAsterisk, events: list[str]) -> None:
    await fake.send_raw("".join(text + "\r\n\r\n" for text in events).encode())


async def test_every_call_is_accounted_for_when_the_link_drops_mid_call(running):
    fake = running.fake
    ended_while_down, still_up, began_while_down = queue_call(fake), queue_call(fake), queue_call(fake)
    connected = index_of(ended_while_down, "AgentConnect") + 1
    async with await running.updates() as ws:
        await send(fake, ended_while_down[:connected] + still_up[:connected])
        async with asyncio.timeout(10):
            while len([c for c in await running.calls() if c["status"] == "answered"]) < 2:
                await ws.receive_json()

        # The link goes down. Meanwhile one call ends, one goes on, one begins: when the link
        # is back, CoreShowChannels lists the channels of the last two only.
        fake.channels = {c.uniqueid: c for c in live_channels(still_up[:connected])
                         + live_channels(began_while_down[:connected])}
        logins = fake.logins
        fake.drop()
        await fake.wait_for(lambda: fake.logins > logins, timeout=10)
        calls = {c["linkedid"]: c for c in await ended_calls(ws, 1)}

    # The call whose hang-up was missed is closed, answered, its end at the reconciliation.
    [closed] = calls.values()
    assert closed["linkedid"] == linkedid_of(ended_while_down)
    assert closed["disposition"] == "answered" and closed["ended_at"] is not None
    by_linkedid = {c["linkedid"]: c for c in await running.calls()}
    assert len(by_linkedid) == 3
    assert by_linkedid[closed["linkedid"]] == closed
    others = [c for linkedid, c in by_linkedid.items() if linkedid != closed["linkedid"]]
    assert sorted(c["status"] for c in others) == ["answered", "answered"]

    # The rest of both live calls arrives after the reconnection; both end normally.
    async with await running.updates() as ws:
        await send(fake, still_up[connected:] + began_while_down[connected:])
        ended = await ended_calls(ws, 2)
    assert sorted(c["disposition"] for c in ended) == ["answered", "answered"]
    assert all(c["hangup_cause"] == 16 for c in ended)
    final = await running.calls()
    assert len(final) == 3 and all(c["ended_at"] for c in final)


async def test_a_restarted_daemon_settles_the_calls_the_last_one_left_in_progress(config):
    async with FakeAsterisk() as fake:
        config = replace(config, pbxs=(replace(config.pbxs[0], port=fake.port),))
        ended_meanwhile, still_up = queue_call(fake), queue_call(fake)
        connected = index_of(still_up, "AgentConnect") + 1

        first = await start_daemon(config, fake)
        async with await first.updates() as ws:
            await send(fake, ended_meanwhile[:connected] + still_up[:connected])
            async with asyncio.timeout(10):
                while len([c for c in await first.calls() if c["status"] == "answered"]) < 2:
                    await ws.receive_json()
        await first.close()

        # While no daemon runs, one call ends; the other is still up when the next one starts.
        fake.channels = {c.uniqueid: c for c in live_channels(still_up[:connected])}
        second = await start_daemon(config, fake, user="supervisor-2")
        try:
            async with await second.updates() as ws:
                # The reconciliation may come before this client subscribed: ask the API.
                async with asyncio.timeout(10):
                    while not (closed := await second.calls("disposition=answered")):
                        await ws.receive_json()
                assert [c["linkedid"] for c in closed] == [linkedid_of(ended_meanwhile)]
                await send(fake, still_up[connected:])
                [finished] = await ended_calls(ws, 1)
            assert finished["linkedid"] == linkedid_of(still_up)
            assert finished["hangup_cause_text"] == "Normal Clearing"
            assert len(await second.calls()) == 2
        finally:
            await second.close()


async def test_the_daemon_answers_the_ivr_over_fastagi_as_the_capture_shows(config):
    # A free port found now: the daemon reports only its web URL.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    ivr = load_agi_capture("c-hotline-inbound-call.1")
    async with FakeAsterisk() as fake:
        config = replace(config, fastagi_port=port, pbxs=(replace(config.pbxs[0], port=fake.port),))
        running = await start_daemon(config, fake)
        try:
            async with asyncio.timeout(10):
                assert await agi_call(port, ivr) == ivr.sent
        finally:
            await running.close()


async def test_without_a_model_the_daemon_says_how_to_transcribe_with_commands_that_exist(config, caplog):
    caplog.set_level(logging.WARNING, "hotline.daemon")
    stop, ready = asyncio.Event(), asyncio.Queue()
    task = asyncio.create_task(daemon.run(replace(config, pbxs=()), stop, on_ready=ready.put_nowait))
    try:
        async with asyncio.timeout(10):
            await ready.get()
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task
    (warning,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("no vosk model")]
    commands = re.findall(r"`hotline ([^`]*)`", warning)
    assert commands, warning
    for command in commands:
        build_parser().parse_args(shlex.split(command))  # an unknown option exits with status 2
