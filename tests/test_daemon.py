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
from prometheus_client.parser import text_string_to_metric_families

from hotline import __version__, daemon, tracking
from hotline.cli import build_parser
from hotline.config import Config, PbxConfig
from hotline.db import database
from hotline.db.users import add_user
from hotline.errors import ConfigError
from tests.capture_expectations import HOTLINES, PBX, expected_calls
from hotline.simulator import Channel
from tests.fakes.agi import call as agi_call, load_agi_capture
from tests.fakes.asterisk import FakeAsterisk, IdRewriter, capture_events
from tests.outage import REFUSAL, writes_refused

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


async def ended_calls(ws, count: int, timeout: float = 10.0, *, of: set[str] | None = None) -> list[dict]:
    """Wait for `count` call updates with an end time on the WebSocket (of the calls whose
    Linkedids are `of`, if given)."""
    ended: dict[int, dict] = {}
    async with asyncio.timeout(timeout):
        while len(ended) < count:
            message = await ws.receive_json()
            if (
                message["type"] == "call" and message["call"]["ended_at"]
                and (of is None or message["call"]["linkedid"] in of)
            ):
                ended[message["call"]["id"]] = message["call"]
    return list(ended.values())


@pytest.mark.parametrize("capture", CALL_CAPTURES)
async def test_replaying_a_real_capture_yields_exactly_its_calls(running, capture):
    expected = expected_calls(capture, BASE)
    async with await running.updates() as ws:
        await running.fake.replay(capture, fresh_ids=False, timestamp_base=BASE.timestamp())
        live = await ended_calls(ws, len(expected))
    stored = await running.calls()
    # The API says whether the PBX recorded a call, never where the file lies on the server; no
    # caller of these captures rated a call.
    expected = [{k: v for k, v in call.items() if k != "recording"} | {"recorded": call["recording"] is not None}
                | {"rating": None, "rated_at": None} for call in expected]
    assert [{k: v for k, v in call.items() if k != "id"} for call in stored] == expected
    assert not any("/spool/" in str(value) for call in live + stored for value in call.values())
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
                # The reconciliation's own update may still be on its way to this client.
                [finished] = await ended_calls(ws, 1, of={linkedid_of(still_up)})
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


async def until(probe, timeout: float = 20.0):
    """Ask `probe()` (async) every 50 ms until it returns something true; return that."""
    async with asyncio.timeout(timeout):
        while not (found := await probe()):
            await asyncio.sleep(0.05)
    return found


async def health(running: Running) -> tuple[int, dict]:
    async with running.http.get(f"{running.url}/api/v1/health") as response:
        return response.status, await response.json()


async def metrics(running: Running) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    async with aiohttp.ClientSession() as anonymous:  # Prometheus sends no token
        async with anonymous.get(f"{running.url}/metrics") as response:
            assert response.status == 200
            text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(found: dict, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


async def test_each_metric_the_readme_lists_counts_what_happened(running):
    fake = running.fake
    before = await metrics(running)
    # Exactly the metrics the README lists, each with the value the daemon's state gives.
    assert {name for name, _ in before} == {
        "hotline_ami_link_up", "hotline_ami_events_received_total", "hotline_ami_frames_skipped_total",
        "hotline_events_processed_total", "hotline_active_calls", "hotline_saves_failed_total",
        "hotline_cases_open", "hotline_cases_overdue",
    }
    # No case filed yet (tests/cases/test_statistics.py counts filed ones).
    assert sample(before, "hotline_cases_overdue") == 0
    assert {value for (name, _), value in before.items() if name == "hotline_cases_open"} <= {0}
    assert sample(before, "hotline_ami_link_up", pbx=PBX) == 1
    assert sample(before, "hotline_ami_frames_skipped_total", pbx=PBX) == 0
    assert sample(before, "hotline_active_calls") == 0
    assert sample(before, "hotline_saves_failed_total", what="calls") == 0
    assert sample(before, "hotline_saves_failed_total", what="recordings") == 0
    received = sample(before, "hotline_ami_events_received_total", pbx=PBX)
    processed = sample(before, "hotline_events_processed_total")

    events = queue_call(fake)
    connected = index_of(events, "AgentConnect") + 1
    async with await running.updates() as ws:
        await send(fake, events[:connected])
        async with asyncio.timeout(10):
            while (await ws.receive_json()).get("call", {}).get("status") != "answered":
                pass
    during = await until(lambda: _settled(running, processed + connected))
    assert sample(during, "hotline_active_calls") == 1
    assert sample(during, "hotline_ami_events_received_total", pbx=PBX) == received + connected

    await fake.send_raw(b"Event: Newexten\r\nthis line has no colon\r\n\r\n")
    async with await running.updates() as ws:
        await send(fake, events[connected:])
        await ended_calls(ws, 1)
    after = await until(lambda: _settled(running, processed + len(events)))
    assert sample(after, "hotline_ami_events_received_total", pbx=PBX) == received + len(events)
    assert sample(after, "hotline_ami_frames_skipped_total", pbx=PBX) == 1
    assert sample(after, "hotline_active_calls") == 0


async def _settled(running: Running, processed: float) -> dict | None:
    """The metrics once the tracker has applied `processed` events, else None."""
    found = await metrics(running)
    return found if sample(found, "hotline_events_processed_total") == processed else None


async def test_health_is_ok_degraded_without_asterisk_and_503_while_saves_fail(running, config, caplog):
    fake = running.fake
    ok = {"status": "ok", "version": __version__, "database": "ok",
          "writes": {"calls": "ok", "recordings": "ok"}, "ami": {PBX: True}}
    assert await health(running) == (200, ok)

    # Asterisk gone: the API still works, so 200, but degraded and the link named.
    fake.reject_logins = True
    fake.drop()
    assert await until(lambda: _health_is(running, "degraded")) == (200, ok | {"status": "degraded", "ami": {PBX: False}})
    assert sample(await metrics(running), "hotline_ami_link_up", pbx=PBX) == 0
    logins = fake.logins
    fake.reject_logins = False
    await fake.wait_for(lambda: fake.logins > logins, timeout=10)
    assert await until(lambda: _health_is(running, "ok")) == (200, ok)

    # The database answers `select 1` but refuses every save of a call, as on a full disk: 503.
    events = queue_call(fake)
    async with writes_refused(config.database_url, "calls"):
        await send(fake, events)
        status, body = await until(lambda: _health_is(running, "error"))
        assert status == 503 and body["database"] == "ok" and body["ami"] == {PBX: True}
        assert REFUSAL in body["writes"]["calls"] and body["writes"]["recordings"] == "ok"
        assert sample(await metrics(running), "hotline_saves_failed_total", what="calls") >= 1
        assert await running.calls() == []
    # The tracker kept the call and saves it when the database takes writes again.
    assert await until(lambda: _health_is(running, "ok")) == (200, ok)
    [call] = await running.calls()
    assert call["linkedid"] == linkedid_of(events) and call["ended_at"] is not None
    failures = [r for r in caplog.records if r.getMessage().startswith("saving 1 calls failed")]
    assert sample(await metrics(running), "hotline_saves_failed_total", what="calls") == len(failures) >= 1


async def test_calls_the_database_refuses_until_shutdown_are_kept_and_saved_at_the_next_start(
    config, tmp_path, caplog, monkeypatch
):
    # The stop grace is what systemd's TimeoutStopSec leaves the tracker; a test need not wait it out.
    monkeypatch.setattr(tracking, "STOP_GRACE_SECONDS", 0.5)
    config = replace(config, unsaved_calls=tmp_path / "state" / "unsaved-calls.json")
    async with FakeAsterisk() as fake:
        config = replace(config, pbxs=(replace(config.pbxs[0], port=fake.port),))
        running = await start_daemon(config, fake)
        ended, live = queue_call(fake), queue_call(fake)
        connected = index_of(live, "AgentConnect") + 1
        async with writes_refused(config.database_url, "calls"):
            await send(fake, ended + live[:connected])
            await until(lambda: _health_is(running, "error"))
            await running.close()
        [kept] = [r for r in caplog.records if r.levelno >= logging.ERROR and "unsaved-calls.json" in r.getMessage()]
        assert kept.getMessage().startswith("the database refused 2 calls until shutdown: kept in ")
        assert config.unsaved_calls.exists()

        # The database takes writes again: the next start saves both, as the PBX left them.
        running = await start_daemon(config, fake, user="supervisor-2")
        try:
            calls = await until(lambda: _calls_if(running, 2))
        finally:
            await running.close()
    by_linkedid = {call["linkedid"]: call for call in calls}
    assert set(by_linkedid) == {linkedid_of(ended), linkedid_of(live)}
    assert by_linkedid[linkedid_of(ended)]["ended_at"] is not None
    assert by_linkedid[linkedid_of(live)]["answered_at"] is not None
    assert not config.unsaved_calls.exists()


@pytest.mark.parametrize("where, message", [
    ("a-file/state/unsaved-calls.json", "cannot write there: [Errno 20] Not a directory"),
    ("broken.json", "not a file of unsaved calls (Expecting value: line 1 column 1 (char 0)); move it aside"),
])
async def test_an_unsaved_calls_file_that_cannot_be_used_stops_the_start_in_one_line(config, tmp_path, where, message):
    # Found out at shutdown, during an outage, it would lose the very calls it is there to keep.
    (tmp_path / "a-file").write_text("")
    (tmp_path / "broken.json").write_text("")
    config = replace(config, unsaved_calls=tmp_path / where, pbxs=())
    with pytest.raises(ConfigError) as raised:
        await daemon.run(config, asyncio.Event())
    assert str(raised.value) == f"database.unsaved_calls: {tmp_path / where}: {message}"


async def _calls_if(running: Running, count: int) -> list[dict] | None:
    found = await running.calls()
    return found if len(found) == count else None


async def _health_is(running: Running, status: str) -> tuple[int, dict] | None:
    found = await health(running)
    return found if found[1]["status"] == status else None


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
