"""The console's browser tests, whatever the browser: a real daemon (fake Asterisk over TCP, the
database of the run: SQLite or PostgreSQL) with a user of each role, and where screenshots go."""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from hotline import daemon
from hotline.cases.store import Department, save_departments
from hotline.config import Config, PbxConfig
from hotline.db import database
from hotline.db.users import add_user, set_password
from hotline.passwords import hash_password
from scoring.occurrences import Subject
from scoring.store import save_subject
from tests.capture_expectations import HOTLINES, PBX
from tests.fakes.asterisk import FakeAsterisk

SCREENSHOTS = Path(os.environ.get("HOTLINE_SCREENSHOTS", Path(__file__).parents[2] / "artifacts" / "screenshots"))
PASSWORDS = {"li.operator": "operator", "wang.supervisor": "supervisor", "zhao.handler": "handler", "root": "admin"}
PASSWORD = "工作台-correct horse"
HANDLER_DEPARTMENT = "gongan"
WAIT = 15


class RunningDaemon:
    """`hotline serve` against a fake Asterisk, in a thread of its own (the browser's driver blocks)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._ready: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        async with FakeAsterisk() as fake:
            self.fake = fake
            config = replace(self.config, pbxs=(replace(self.config.pbxs[0], port=fake.port),))
            logins = fake.logins
            task = asyncio.create_task(daemon.run(config, self.stop, on_ready=self._ready.put_nowait))
            await fake.wait_for(lambda: fake.logins > logins, timeout=WAIT)
            self.sessions_ready = True
            await task

    def __enter__(self) -> RunningDaemon:
        self._thread.start()
        self.url = self._ready.get(timeout=30)
        self.run(asyncio.sleep(0))
        return self

    def run(self, coroutine, timeout: float = WAIT):
        """Run `coroutine` on the daemon's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self, coroutine):
        """Start `coroutine` on the daemon's loop without waiting for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self._thread.join(30)


@contextmanager
def console_daemon(database_url: str, tmp_path: Path):
    """A running daemon with a user of each role (password PASSWORD)."""
    config = Config(
        database_url=database_url, web_port=0, fastagi_port=0, hotlines=HOTLINES,
        recordings_root=tmp_path / "recordings", recordings_spool=tmp_path / "spool",
        pbxs=(PbxConfig(name=PBX, secret="hotline-secret", reconnect_min=0.05, reconnect_max=0.3),),
        masked_roles=("supervisor", "handler"),  # a centre whose auditors never call back
        agents={"Agent One": "li.operator"},  # the replayed queue call's member: its screen pops for li
    )
    config.recordings_spool.mkdir()
    hashed = hash_password(PASSWORD)
    with RunningDaemon(config) as running:
        async def users() -> None:
            async with database(database_url) as sessions, sessions() as session:
                await save_departments(session, [Department(id="gongan", name="公安局", window="gongan"),
                                                 Department(id="urban", name="城管局", window=None)])
                await save_subject(session, Subject("gongan", "公安局"), "window")
                for name, role in PASSWORDS.items():
                    await add_user(session, name, role, HANDLER_DEPARTMENT if role == "handler" else None)
                    await set_password(session, name, hashed)

        running.run(users())
        yield running


def seed(browser, work) -> object:
    """Run `work(sessions)` against the database of the daemon `browser` is using."""
    async def run():
        async with database(browser.daemon.config.database_url) as sessions:
            return await work(sessions)

    return browser.daemon.run(run())
