"""`hotline demo`: the daemon against the built-in PBX simulator, on the default SQLite database.

The simulator speaks real AMI on a loopback port, so everything downstream of the AMI link (call
tracking, storage, API, WebSocket, recordings) sees the same traffic a real Asterisk would send.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, AsyncIterator, Callable

import aiohttp

from hotline import daemon
from hotline.config import Config, PbxConfig
from hotline.db import database
from hotline.db.users import reissue_token, revoke_user, set_password
from hotline.passwords import hash_password
from hotline.simulator import PbxSimulator, Traffic

DEMO_USER = "demo"
log = logging.getLogger(__name__)

# What the demo's operators file from its first answered calls, in turn: each case goes as far
# through the workflow as its actions reach. Departments are created first (their windows are
# the yihuang-window subject ids of docs/scoring.md's example).
DEMO_DEPARTMENTS = {"police": ("公安局", "gongan"), "urban": ("城管局", "chengguan"), "housing": ("住建局", "zhujian")}
DEMO_CASES: tuple[tuple[str, dict[str, Any], tuple[tuple[str, dict[str, Any]], ...]], ...] = (
    ("12345", {"type": "inquiry", "description": "居住证办理需要哪些材料?"},
     (("resolve", {"answer": "身份证、租房合同和近期照片,到公安窗口办理。"}),)),
    ("12345", {"type": "complaint", "description": "公安窗口工作人员态度生硬,未一次性告知所需材料。", "window": "gongan"},
     (("register", {}), ("dispatch", {"department": "police"}))),
    ("12319", {"type": "report", "description": "花园路与纬五路交叉口井盖缺失", "address": "金水区花园路与纬五路交叉口",
               "grid_code": "410106010203"},
     (("register", {}), ("dispatch", {"department": "urban"}))),
    ("12345", {"type": "help", "description": "小区停水两天,物业无人处理。"}, (("register", {}),)),
)
# One console user per role the demo shows; each demo run gives them fresh passwords.
DEMO_ROLES = ("operator", "supervisor", "admin")


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


async def demo_passwords(config: Config) -> dict[str, str]:
    """Console user name -> a fresh password, one user per role of DEMO_ROLES."""
    passwords = {f"{DEMO_USER}-{role}": secrets.token_urlsafe(9) for role in DEMO_ROLES}
    hashes = await asyncio.to_thread(lambda: {name: hash_password(p) for name, p in passwords.items()})
    async with database(config.database_url) as sessions, sessions() as session:
        for role, name in zip(DEMO_ROLES, passwords):
            await reissue_token(session, name, role)
            await set_password(session, name, hashes[name])
    return passwords


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
    passwords = await demo_passwords(config)
    async with demo_token(config) as token, simulator:
        pbx = PbxConfig(name="demo", port=simulator.port, username=simulator.username, secret=secret)
        config = replace(config, pbxs=(pbx,))

        ready_url: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def ready(url: str) -> None:
            ready_url.set_result(url)
            announce(
                f"hotline demo: simulated 12345/12319 calls on AMI port {simulator.port}, "
                f"about {traffic.calls_per_minute / time_scale:.0f} calls a minute\n"
                f"  console: {url}/  sign in as\n"
                + "".join(f"    {name:<16} password {password}\n" for name, password in passwords.items())
                + f"  API:    curl -H 'Authorization: Bearer {token}' {url}/api/v1/calls\n"
                f"  cases:  curl -H 'Authorization: Bearer {token}' {url}/api/v1/cases"
                "  (filed from the first answered calls)\n"
                "  Ctrl-C stops."
            )

        async with asyncio.TaskGroup() as group:
            group.create_task(simulator.run(stop))
            group.create_task(daemon.run(config, stop, on_ready=ready))
            group.create_task(file_demo_cases(ready_url, token, stop, announce))
            if duration:
                group.create_task(_stop_after(stop, duration))


async def file_demo_cases(ready_url: asyncio.Future[str], token: str, stop: asyncio.Event,
                          announce: Callable[[str], None], poll_seconds: float = 2.0) -> None:
    """File DEMO_CASES from the demo's first answered calls, through the API as an operator's
    client would (the demo user is an admin, so it may take every step), announcing each."""
    done = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({ready_url, done}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            return
        url, used = ready_url.result(), set()
        async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {token}"}) as http:
            for department, (name, window) in DEMO_DEPARTMENTS.items():
                async with http.put(f"/api/v1/departments/{department}", json={"name": name, "window": window}) as r:
                    r.raise_for_status()
            for hotline, fields, actions in DEMO_CASES:
                call = None
                while call is None:
                    async with http.get("/api/v1/calls", params={"disposition": "answered", "hotline": hotline}) as r:
                        calls = (await r.json())["calls"]
                    call = next((c for c in calls if c["id"] not in used), None)
                    if call is None:
                        try:
                            await asyncio.wait_for(asyncio.shield(done), poll_seconds)
                            return
                        except TimeoutError:
                            continue
                used.add(call["id"])
                async with http.post("/api/v1/cases", json=fields | {"channel": hotline, "call_id": call["id"]}) as r:
                    r.raise_for_status()
                    number = (await r.json())["number"]
                for action, body in actions:
                    async with http.post(f"/api/v1/cases/{number}/actions/{action}", json=body) as r:
                        r.raise_for_status()
                        status = (await r.json())["status"]
                announce(f"hotline demo: case {number} ({fields['type']}) filed from call {call['id']}, now {status}")
    except aiohttp.ClientError as exc:
        # The demo goes on without its cases rather than stopping the simulated calls.
        log.error("demo: could not file its cases: %s", exc, extra={"action": "demo-case"})
    finally:
        done.cancel()


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
