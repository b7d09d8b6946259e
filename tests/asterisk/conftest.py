"""A real Asterisk 22.10.1 per test, started with run-asterisk (see ../shared/asterisk/README.md).

The script is found through HOTLINE_ASTERISK (its path), else at ../shared/asterisk/run-asterisk
beside the checkout, where CI has it. A machine without it fails these tests, saying what is
missing: they are part of the suite, not optional. Each instance runs in the test's own
directory with tests/fixtures/asterisk/ laid over the default configuration, AMI and FastAGI on
free loopback ports in 15000-15999 (the range set aside for these tests), and is stopped after
the test.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from hotline import daemon
from hotline.ami import AmiEvent, AmiLink
from hotline.config import Config, PbxConfig

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "tests" / "fixtures" / "asterisk"
SCRIPT_SETTING = "HOTLINE_ASTERISK"
DEFAULT_SCRIPT = ROOT.parent / "shared" / "asterisk" / "run-asterisk"
PORTS = range(15000, 16000)
# Debian's asterisk-core-sounds-en-wav: run-asterisk gives the instance these real prompts.
ENGLISH_SOUNDS = Path("/usr/share/asterisk/sounds/en")
SCRIPT_TIMEOUT = 30.0


def run_asterisk_script() -> Path:
    """The run-asterisk script, or a test failure naming what is missing and how to provide it."""
    setting = os.environ.get(SCRIPT_SETTING)
    script = Path(setting) if setting else DEFAULT_SCRIPT
    if not (script.is_file() and os.access(script, os.X_OK)):
        where = f"{SCRIPT_SETTING}={setting}" if setting else f"the default {DEFAULT_SCRIPT}"
        pytest.fail(
            f"no real Asterisk for this test: {where} is not an executable run-asterisk script. "
            f"Set {SCRIPT_SETTING} to the path of run-asterisk (shared/asterisk/ of the CI "
            "machine: Asterisk 22.10.1 and its start script)",
            pytrace=False,
        )
    return script


def free_ports(count: int, candidates: range = PORTS) -> list[int]:
    """`count` distinct loopback ports in `candidates` that nothing listens on now."""
    ports: list[int] = []
    for port in random.sample(candidates, len(candidates)):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    pytest.fail(f"no {count} free ports in {candidates.start}-{candidates.stop - 1}", pytrace=False)


@dataclass
class Asterisk:
    """One running instance: its directory, its ports, and its CLI."""

    script: Path
    directory: Path
    ami_port: int
    agi_port: int

    @property
    def spool(self) -> Path:
        """Where MixMonitor writes (run-asterisk points the dialplan's spool here)."""
        return self.directory / "spool" / "monitor"

    @property
    def log(self) -> str:
        """messages.log so far (tests/fixtures/asterisk/logger.conf: warnings and verbose 3)."""
        path = self.directory / "log" / "messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def script_run(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            str(self.script), *args, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with asyncio.timeout(SCRIPT_TIMEOUT):
                output, _ = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            pytest.fail(f"run-asterisk {' '.join(args)} did not finish in {SCRIPT_TIMEOUT:g} s",
                        pytrace=False)
        text = output.decode(errors="replace")
        if process.returncode != 0:
            pytest.fail(f"run-asterisk {' '.join(args)} failed: {text}", pytrace=False)
        return text

    async def cli(self, command: str) -> str:
        """One Asterisk CLI command (`asterisk -rx`), its output."""
        return await self.script_run("cli", str(self.directory), command)

    async def originate(self, hotline: str, citizen: str, context: str = "caller-sim") -> None:
        """A citizen (extension `citizen` of `context`) calls `hotline`: a Local pair whose `;2`
        side runs hotline-in, as in the captures."""
        await self.cli(f"channel originate Local/{hotline}@hotline-in extension {citizen}@{context}")

    async def channels(self) -> list[str]:
        """The names of the live channels (`core show channels concise`)."""
        output = await self.cli("core show channels concise")
        return [line.split("!")[0] for line in output.splitlines() if "!" in line]

    async def hang_up_all(self) -> None:
        await self.cli("channel request hangup all")


class Daemon:
    """`hotline serve` in a task, with a supervisor's HTTP session to its API."""

    def __init__(self, config: Config, token: str = "") -> None:
        self.config = config
        self.stop = asyncio.Event()
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self.task = asyncio.create_task(daemon.run(config, self.stop, on_ready=self._ready.put_nowait))
        self.http = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {token}"} if token else None
        )
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

    async def ready(self) -> Observer:
        """Once logged in (FullyBooted is the first event of a session), so nothing is missed."""
        await self.event(lambda e: e["Event"] == "FullyBooted")
        return self

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


def config_for(asterisk: Asterisk, database_url: str, tmp_path: Path, **settings) -> Config:
    """Settings for `hotline serve` against `asterisk`: its AMI and FastAGI ports, its spool."""
    return Config(
        database_url=database_url, web_port=0, fastagi_port=asterisk.agi_port,
        recordings_root=tmp_path / "recordings", recordings_spool=asterisk.spool,
        pbxs=(PbxConfig(port=asterisk.ami_port, secret="hotline-secret", action_timeout=5.0,
                        reconnect_min=0.05, reconnect_max=0.5),),
        **settings,
    )


@asynccontextmanager
async def running_asterisk(directory: Path, config: Path = CONFIG, ports: range = PORTS) -> AsyncIterator[Asterisk]:
    """A real Asterisk in `directory` with `config` laid over the default configuration, AMI and
    FastAGI on free ports of `ports`, stopped on exit."""
    script = run_asterisk_script()
    ami_port, agi_port = free_ports(2, ports)
    instance = Asterisk(script, directory, ami_port, agi_port)
    try:
        await instance.script_run(
            "start", str(instance.directory), "--config", str(config),
            "--ami-port", str(ami_port), "--agi-port", str(agi_port),
        )
        # run-asterisk returns once AMI answers, which can be before the modules have loaded:
        # until then an originate gets "PBX requires Asterisk to be fully booted".
        await instance.cli("core waitfullybooted")
        yield instance
    finally:
        await instance.script_run("stop", str(instance.directory))


@pytest.fixture
async def asterisk(tmp_path: Path) -> AsyncIterator[Asterisk]:
    """A real Asterisk with tests/fixtures/asterisk/ for configuration, stopped afterwards."""
    async with running_asterisk(tmp_path / "asterisk") as instance:
        yield instance


@pytest.fixture
def english_sounds() -> Path:
    """The real English prompts, or a failure saying which package provides them."""
    if not (ENGLISH_SOUNDS / "hello-world.wav").is_file():
        pytest.fail(
            f"no real English prompts in {ENGLISH_SOUNDS}: install Debian's "
            "asterisk-core-sounds-en-wav (.ci/run does)",
            pytrace=False,
        )
    return ENGLISH_SOUNDS
