"""The `hotline` command as an operator runs it: real processes, real signals, real sockets."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from contextlib import asynccontextmanager
from typing import AsyncIterator

import aiohttp
import pytest

from hotline.cli import main
from hotline.config import Config
from hotline.db import database
from hotline.db.users import user_for_token
from hotline.demo import run_demo
from hotline.simulator import Traffic
from hotline.web.context import HUB
from tests.fakes.asterisk import FakeAsterisk


def test_user_add_prints_a_token_that_works_only_once_per_name(database_url, capsys, monkeypatch):
    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)
    assert main(["user", "add", "li.supervisor", "--role", "supervisor"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "user li.supervisor (supervisor) created; their bearer token (shown only now):"
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", out[1])
    assert main(["user", "add", "li.supervisor", "--role", "operator"]) == 2
    assert capsys.readouterr().err == "hotline: error: user 'li.supervisor' already exists\n"


@pytest.mark.parametrize("name, why", [
    ("eve\n2026-12-01 12:00:00Z  active", "a control character U+000A"),
    ("eve\x1b[31m", "a control character U+001B"),
    ("eve\u2028admin", "a control character U+2028"),
    ("eve\u202eadmin", "a control character U+202E"),
    ("e" * 101, "101 characters, at most 100"),
])
def test_a_user_name_that_would_forge_a_line_or_not_fit_is_refused_in_one_line(
    database_url, capsys, monkeypatch, name, why
):
    # `user list` prints names one a line and a terminal obeys escape sequences; the column holds
    # 100 characters (PostgreSQL refuses more, SQLite would keep them).
    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)
    assert main(["user", "add", name, "--role", "operator"]) == 2
    assert capsys.readouterr().err == f"hotline: error: user name {name!r}: {why}\n"
    assert main(["user", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == []


async def test_serve_stops_cleanly_on_sigterm_with_every_call_saved(database_url, tmp_path):
    async with FakeAsterisk() as fake:
        env = os.environ | {
            "HOTLINE_DATABASE_URL": database_url, "HOTLINE_WEB_PORT": "0", "HOTLINE_FASTAGI_PORT": "0",
            "HOTLINE_AMI_PORT": str(fake.port), "HOTLINE_AMI_SECRET": "hotline-secret",
            "HOTLINE_RECORDINGS_ROOT": str(tmp_path / "recordings"),
            "HOTLINE_RECORDINGS_SPOOL": str(tmp_path / "spool"),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hotline.cli", "serve", env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        log = []
        async with asyncio.timeout(30):
            while not any("web UI and API at" in line for line in log):
                log.append((await process.stderr.readline()).decode())
            await fake.wait_for(lambda: fake.logins >= 1)
        assert "hotline-secret" not in "".join(log)

        # A call is in progress when the daemon is told to stop.
        await fake.replay("c-hotline-inbound-call")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rest = (await process.stderr.read()).decode()
            assert await process.wait() == 0
        assert "stopped cleanly" in rest and "Traceback" not in rest
        assert [r.get("Action") for r in fake.requests][-1:] == ["Logoff"], [r.get("Action") for r in fake.requests]

    from hotline.db import database
    from hotline.db.calls import CallFilter, list_calls

    async with database(database_url) as sessions, sessions() as session:
        calls, _ = await list_calls(session, CallFilter(), 10)
    assert [(c.hotline, c.disposition, c.caller_number) for c in calls] == [("12345", "answered", "0612345678")]


@asynccontextmanager
async def running_demo(database_url: str, tmp_path) -> AsyncIterator[tuple[str, str, str, asyncio.Queue]]:
    """A demo running until the block ends: its console URL, the admin token and demo-admin's
    password it printed, and the queue of what it announces next."""
    config = Config(database_url=database_url, web_port=0, fastagi_port=0, recordings_root=tmp_path / "recordings",
                    recordings_spool=tmp_path / "spool")
    announced: asyncio.Queue = asyncio.Queue()
    stop = asyncio.Event()
    demo = asyncio.create_task(run_demo(
        config, Traffic(calls_per_minute=30), time_scale=0.01, stop=stop, announce=announced.put_nowait,
    ))
    try:
        async with asyncio.timeout(20):
            text = await announced.get()
        assert "token=" not in text
        url = re.search(r"console: (\S+)/ ", text).group(1)
        password = re.search(r"demo-admin +password (\S+)", text).group(1)
        token = re.search(r"Authorization: Bearer (\S+)'", text).group(1)
        yield url, token, password, announced
    finally:
        stop.set()
        async with asyncio.timeout(20):
            await demo


async def test_demo_shows_simulated_calls_through_the_api_and_the_websocket(database_url, tmp_path):
    async with running_demo(database_url, tmp_path) as (url, _, password, announced):
        # The printed name and password sign in; the session cookie then carries every request.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(f"{url}/api/v1/sign-in", json={"name": "demo-admin", "password": password}) as response:
                assert response.status == 200, await response.text()
            async with http.ws_connect(f"{url}/api/v1/events") as ws:
                statuses = set()
                async with asyncio.timeout(20):
                    while "ended" not in statuses:
                        message = await ws.receive_json()
                        if message["type"] == "call":
                            statuses.add(message["call"]["status"])
            async with http.get(f"{url}/api/v1/calls") as response:
                calls = (await response.json())["calls"]
            ended = [c for c in calls if c["ended_at"]]
            assert ended and all(c["hotline"] in ("12345", "12319") for c in calls)
            assert all(c["wait_seconds"] is not None and c["talk_seconds"] is not None for c in ended)

            # The simulated MixMonitor file of an answered call reaches the archive and the API.
            answered = [c for c in ended if c["disposition"] == "answered" and c["agent"]]
            audio = None
            async with asyncio.timeout(30):
                while audio is None:
                    for call in answered:
                        async with http.get(f"{url}/api/v1/calls/{call['id']}/recording") as response:
                            if response.status == 200:
                                audio = await response.read()
                                break
                    else:
                        await asyncio.sleep(0.5)
                        async with http.get(f"{url}/api/v1/calls?disposition=answered") as response:
                            answered = [c for c in (await response.json())["calls"] if c["agent"]]
            assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"

            # The demo's operators file cases from its answered calls, linked to them.
            async with asyncio.timeout(30):
                filed = [await announced.get() for _ in range(2)]
            assert all(re.match(r"hotline demo: case 12345-\d{8}-\d{4} \(\w+\) filed from call \d+", f) for f in filed)
            assert filed[0].endswith("now resolved") and filed[1].endswith("now dispatched")
            async with http.get(f"{url}/api/v1/cases") as response:
                cases = (await response.json())["cases"]
            assert {c["type"] for c in cases} >= {"inquiry", "complaint"} and all(c["call_id"] for c in cases)


async def test_the_demo_admin_token_works_only_while_its_demo_runs(database_url, tmp_path):
    # The token is printed; the database it opens is the configured one, which `serve` uses too.
    for _ in range(2):  # the second demo gets a token that works again
        async with running_demo(database_url, tmp_path) as (url, token, _, _):
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/api/v1/calls", headers={"Authorization": f"Bearer {token}"}) as response:
                    assert response.status == 200
        async with database(database_url) as sessions, sessions() as session:
            assert await user_for_token(session, token) is None


async def test_a_busy_web_port_is_one_clear_line(database_url, tmp_path):
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    env = os.environ | {"HOTLINE_DATABASE_URL": database_url, "HOTLINE_WEB_PORT": str(port), "HOTLINE_FASTAGI_PORT": "0",
                        "HOTLINE_RECORDINGS_SPOOL": str(tmp_path / "spool"),
                        "HOTLINE_RECORDINGS_ROOT": str(tmp_path / "recordings")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "serve", env=env, stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        err = (await process.stderr.read()).decode()
        assert await process.wait() == 2
    blocker.close()
    assert err.splitlines()[-1] == (
        f"hotline: error: web.port: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert "Traceback" not in err


async def hotline(database_url: str, *args: str) -> tuple[int, str, str]:
    """Run `hotline ARGS...` as its own process on `database_url`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", *args, env=os.environ | {"HOTLINE_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_a_revoked_token_is_refused_at_once_and_its_open_websocket_closed(api, database_url):
    operator = api.auth("operator")
    assert (await api.get("/api/v1/calls", headers=operator)).status == 200
    async with api.ws_connect("/api/v1/events", headers=operator) as revoked, \
            api.ws_connect("/api/v1/events", headers=api.auth("supervisor")) as kept:
        assert (await revoked.receive_json(timeout=5))["type"] == "snapshot"
        assert (await kept.receive_json(timeout=5))["type"] == "snapshot"

        status, out, err = await hotline(database_url, "user", "revoke", "operator-1")
        assert (status, err) == (0, "")
        assert out.startswith("user operator-1 revoked at ")

        response = await api.get("/api/v1/calls", headers=operator)
        assert response.status == 401 and (await response.json())["error"] == "unauthorized"
        closed = await revoked.receive(timeout=10)
        assert (closed.type, closed.data, closed.extra) == (aiohttp.WSMsgType.CLOSE, 1008, "token revoked")
        # The other user's socket stays open and keeps receiving.
        api.server.app[HUB].publish({"id": 1, "ended_at": None, "status": "ringing"})
        assert (await kept.receive_json(timeout=5))["call"]["id"] == 1
    assert (await api.get("/api/v1/calls", headers=api.auth("supervisor"))).status == 200


async def test_user_list_shows_who_is_active_and_who_revoked(database_url):
    for name, role in (("zhao.admin", "admin"), ("li.operator", "operator")):
        assert (await hotline(database_url, "user", "add", name, "--role", role))[0] == 0
    first = await hotline(database_url, "user", "revoke", "li.operator")
    again = await hotline(database_url, "user", "revoke", "li.operator")
    assert again == first  # revoking twice keeps the first time
    status, out, _ = await hotline(database_url, "user", "list")
    header, li, zhao = out.splitlines()
    assert status == 0 and header.split() == ["NAME", "ROLE", "CREATED", "STATUS"]
    assert li.split()[:2] == ["li.operator", "operator"] and li.split()[-3] == "revoked"
    assert zhao.split()[:2] == ["zhao.admin", "admin"] and zhao.split()[-1] == "active"
    assert await hotline(database_url, "user", "revoke", "nobody") == (
        2, "", "hotline: error: no user 'nobody' (see hotline user list)\n"
    )


def test_output_cut_short_by_a_closed_pipe_is_no_traceback():
    # `hotline score rubric show NAME | head -1`: head exits after one line and the rest of the
    # output meets a closed pipe (EPIPE; Python ignores SIGPIPE, so it is a BrokenPipeError).
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "hotline.cli", "score", "rubric", "show", "yihuang-window"],
            stdout=write_end, stderr=subprocess.PIPE, timeout=60,
        )
    finally:
        os.close(write_end)
    assert finished.stderr.decode() == ""
    assert finished.returncode == 141  # 128 + SIGPIPE, what a shell reports for a killed writer
