"""`hotline demo`: the daemon against the built-in PBX simulator, on the default SQLite database.

The simulator speaks real AMI on a loopback port, so everything downstream of the AMI link (call
tracking, storage, API, WebSocket, recordings) sees the same traffic a real Asterisk would send.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import AsyncIterator, Callable

from hotline import daemon
from hotline.config import Config, PbxConfig
from hotline.db import database
from hotline.db.users import reissue_token, revoke_user
from hotline.simulator import PbxSimulator, Traffic

DEMO_USER = "demo"


@asynccontextmanager
async def demo_token(config: Config) -> AsyncIterator[str]:
    """A fresh admin token for the demo user, revoked when the demo ends: it was printed and put
    in a URL a browser keeps, and the database is the configured one, which `serve` uses too."""
    async with database(config.database_url) as sessions, sessions() as session:
        token = await reissue_token(session, DEMO_USER, "admin")
    try:
        yield token
    finally:
        async with database(config.database_url) as sessions, sessions() as session:
            await revoke_user(session, DEMO_USER)


async def run_demo(
    config: Config,
    traffic: Traffic,
    *,
    agents: int = 6,
    time_scale: float = 0.1,
    duration: float = 0.0,
    stop: asyncio.Event | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Simulate a PBX and run the daemon against it until `stop`, Ctrl-C or `duration` seconds."""
    stop = stop or asyncio.Event()
    secret = secrets.token_urlsafe(16)
    simulator = PbxSimulator(
        traffic, agents=agents, time_scale=time_scale, spool=config.recordings_spool,
        secret=secret, timestampevents=True,
    )
    config.recordings_spool.mkdir(parents=True, exist_ok=True)
    async with demo_token(config) as token, simulator:
        pbx = PbxConfig(name="demo", port=simulator.port, username=simulator.username, secret=secret)
        config = replace(config, pbxs=(pbx,))

        def ready(url: str) -> None:
            announce(
                f"hotline demo: simulated 12345/12319 calls on AMI port {simulator.port}, "
                f"about {traffic.calls_per_minute / time_scale:.0f} calls a minute\n"
                f"  web UI: {url}/#token={token}\n"
                f"  API:    curl -H 'Authorization: Bearer {token}' {url}/api/v1/calls\n"
                f"  Ctrl-C stops."
            )

        async with asyncio.TaskGroup() as group:
            group.create_task(simulator.run(stop))
            group.create_task(daemon.run(config, stop, on_ready=ready))
            if duration:
                group.create_task(_stop_after(stop, duration))


async def _stop_after(stop: asyncio.Event, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        stop.set()


def _demo(args: argparse.Namespace, config: Config) -> int:
    traffic = Traffic(calls_per_minute=args.calls_per_minute)
    asyncio.run(run_demo(config, traffic, agents=args.agents, time_scale=args.time_scale,
                         duration=args.duration))
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo", help="run the daemon against a built-in PBX simulator (no Asterisk needed)"
    )
    demo.add_argument("--calls-per-minute", type=float, default=4.0,
                      help="arrivals per simulated minute (default 4)")
    demo.add_argument("--agents", type=int, default=6, help="queue agents (default 6)")
    demo.add_argument("--time-scale", type=float, default=0.1,
                      help="real seconds per simulated second (default 0.1: a 3-minute call takes 18 s)")
    demo.add_argument("--duration", type=float, default=0.0,
                      help="stop after this many seconds (default: run until Ctrl-C)")
    demo.set_defaults(func=_demo)
