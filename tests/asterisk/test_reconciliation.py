"""Reconciliation against a real Asterisk: what the daemon learns of calls it did not see begin."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from hotline import daemon
from hotline.ami import AmiEvent, AmiLink
from hotline.config import Config, PbxConfig
from hotline.db import database
from hotline.db.users import add_user
from recordings.store import Recording
from tests.asterisk.conftest import Asterisk

pytestmark = pytest.mark.asterisk


class Daemon:
    """`hotline serve` in a task, with a supervisor's HTTP session to its API."""

    def __init__(self, config: Config, token: str) -> None:
        self.config = config
        self.stop = asyncio.Event()
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self.task = asyncio.create_task(daemon.run(config, self.stop, on_ready=self._ready.put_nowait))
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
        self.url = ""

    async def ready(self) -> Daemon:
        async with asyncio.timeout(20):
            self.url = await self._ready.get()
        return self

    async def close(self) -> None:
        self.stop.set()
        # Ingests still waiting for their file get hotline.daemon.INGEST_GRACE_SECONDS.
        async with asyncio.timeout(30):
            await self.task
        await self.http.close()

    async def first_call(self, matches: Callable[[dict], bool], timeout: float = 20.0) -> dict:
        """The first call, in the WebSocket snapshot or a later update, that `matches`."""
        async with self.http.ws_connect(f"{self.url}/api/v1/events") as ws, asyncio.timeout(timeout):
            while True:
                message = await ws.receive_json()
                calls = message["calls"] if message["type"] == "snapshot" else [message["call"]]
                for call in calls:
                    if matches(call):
                        return call


class Observer:
    """A second AMI client watching the PBX's events (the project's own AmiLink)."""

    def __init__(self, pbx: PbxConfig) -> None:
        self.link = AmiLink(pbx, asyncio.Queue())
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.link.run(self.stop))

    async def event(self, matches: Callable[[dict], bool], timeout: float = 20.0) -> AmiEvent:
        async with asyncio.timeout(timeout):
            while True:
                item = await self.link.sink.get()
                if isinstance(item, AmiEvent) and matches(item.fields):
                    return item

    async def close(self) -> None:
        self.stop.set()
        async with asyncio.timeout(10):
            await self.task


def config_for(asterisk: Asterisk, database_url: str, tmp_path: Path) -> Config:
    return Config(
        database_url=database_url, web_port=0, fastagi_port=asterisk.agi_port,
        recordings_root=tmp_path / "recordings", recordings_spool=asterisk.spool,
        pbxs=(PbxConfig(port=asterisk.ami_port, secret="hotline-secret", action_timeout=5.0,
                        reconnect_min=0.05, reconnect_max=0.5),),
    )


async def test_a_call_begun_while_the_daemon_was_down_gets_its_hotline_and_recording(
    asterisk, database_url, tmp_path
):
    config = config_for(asterisk, database_url, tmp_path)
    async with database(config.database_url) as sessions, sessions() as session:
        token = await add_user(session, "supervisor-1", "supervisor")
    observer = Observer(config.pbxs[0])
    try:
        first = await Daemon(config, token).ready()
        await first.close()

        # The daemon is down: a citizen calls 12319. The dialplan sets HOTLINE and starts
        # MixMonitor; the IVR's AGI fails (no FastAGI server) and the call stays up.
        await asterisk.originate("12319", "hold")
        recording = await observer.event(
            lambda e: e["Event"] == "VarSet" and e["Variable"] == "MIXMONITOR_FILENAME"
        )
        await observer.event(lambda e: e["Event"] == "UserEvent" and e["UserEvent"] == "IvrDone")

        second = await Daemon(config, token).ready()
        try:
            live = await second.first_call(lambda call: call["linkedid"] is not None)
            assert live["hotline"] == "12319"
            assert live["ended_at"] is None
            linkedid = live["linkedid"]
            assert recording.fields["Linkedid"] == linkedid

            await asterisk.hang_up_all()
            ended = await second.first_call(
                lambda call: call["linkedid"] == linkedid and call["ended_at"] is not None
            )
            assert ended["hotline"] == "12319"
        finally:
            # The ingest of the ended call's recording finishes within the shutdown grace.
            await second.close()
    finally:
        await observer.close()

    async with database(config.database_url) as sessions, sessions() as session:
        [archived] = (await session.scalars(select(Recording))).all()
    assert archived.call_id == ended["id"]
    assert Path(archived.source).name == Path(recording.fields["Value"]).name
    assert (config.recordings_root / archived.path).is_file()
