"""The HTTP server as an attacker meets it, over real TCP: over-long headers, forged log lines,
slow-loris connections and connection floods."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from dataclasses import dataclass, replace

import pytest
from aiohttp import web
from sqlalchemy import update

from hotline.config import Config
from hotline.db.tables import User
from hotline.db.users import add_user
from hotline.web.app import make_app
from hotline.web.live import CallHub, Telemetry
from hotline.web.server import WebRunner


@dataclass
class Server:
    host: str
    port: int
    token: str

    async def exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send raw bytes, read the answer until the server closes; status, headers, body."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(request)
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:] if line)
            body = await reader.readexactly(int(headers["Content-Length"]))
        writer.close()
        return int(lines[0].split()[1]), headers, body


async def serve(sessions, config: Config, user: str = "supervisor-1"):
    async with sessions() as session:
        token = await add_user(session, user, "supervisor")
    runner = WebRunner(make_app(config, sessions, CallHub(), Telemetry()), config)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, Server(host, port, token)


@pytest.fixture
def config() -> Config:
    return Config(database_url="unused", web_header_timeout=60.0)


@pytest.fixture
async def server(sessions, config):
    runner, server = await serve(sessions, config)
    yield server
    await runner.cleanup()


PAD = "x" * 9000


@pytest.mark.parametrize("request_text", [
    "GET /api/v1/calls HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {token}, " + PAD + "\r\n\r\n",
    "GET /api/v1/events?access_token={token}&pad=" + PAD + " HTTP/1.1\r\nHost: h\r\n\r\n",
], ids=["long-authorization-header", "long-request-line"])
async def test_an_over_long_request_is_a_json_400_that_neither_echoes_nor_logs_the_token(
    server, caplog, request_text
):
    caplog.set_level(logging.DEBUG)
    status, headers, body = await server.exchange(request_text.format(token=server.token).encode())
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["error"] == "bad-request"
    assert server.token not in body.decode()
    assert server.token not in caplog.text
    assert "over 8190 bytes" in caplog.text


async def test_a_user_name_or_path_with_a_newline_cannot_forge_an_access_log_line(sessions, config, caplog):
    forged = 'eve\n127.0.0.1 "GET /api/v1/calls" 200 2 0.001s admin-1'
    runner, server = await serve(sessions, config, user="eve")
    # `user add` refuses such a name now; a database from before, or edited by hand, has it.
    async with sessions() as session, session.begin():
        await session.execute(update(User).where(User.name == "eve").values(name=forged))
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    try:
        for path in ("/api/v1/calls", "/api/v1/calls%0D%0A127.0.0.1%20%22GET%20/%22%20200"):
            await server.exchange(
                f"GET {path} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {server.token}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
    finally:
        await runner.cleanup()
    lines = [record.getMessage() for record in caplog.records if record.name == "aiohttp.access"]
    assert len(lines) == 2
    assert all("\n" not in line and "\r" not in line for line in lines)
    assert lines[0].endswith('eve\\x0a127.0.0.1 "GET /api/v1/calls" 200 2 0.001s admin-1')
    assert "/api/v1/calls\\x0d\\x0a127.0.0.1" in lines[1]


def test_every_log_line_the_cli_and_workers_write_is_one_line():
    script = (
        "import logging; from hotline.logs import log_to_stderr; log_to_stderr('INFO'); "
        "logging.getLogger('hotline').warning('token of user %s revoked', "
        "'eve\\n2026-12-01 00:00:00,000 INFO hotline: forged\\u2028\\x1b[2J')"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    (line,) = result.stderr.splitlines()
    assert line.endswith("WARNING hotline: token of user eve\\x0a2026-12-01 00:00:00,000 INFO hotline: "
                         "forged\\u2028\\x1b[2J revoked")


async def test_slow_loris_connections_are_cut_after_the_header_timeout(sessions, config):
    runner, server = await serve(sessions, replace(config, web_header_timeout=0.5))

    async def slow_loris() -> float:
        """One header line at a time, never the blank line that ends the head; seconds until cut."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"GET /api/v1/health HTTP/1.1\r\nHost: h\r\n")
        try:
            while True:
                try:
                    async with asyncio.timeout(0.1):
                        if not await reader.read(1024):
                            return loop.time() - started
                except TimeoutError:
                    writer.write(b"X-Slow: 1\r\n")
        except ConnectionError:
            return loop.time() - started
        finally:
            writer.close()

    try:
        async with asyncio.timeout(15):
            attackers = [asyncio.create_task(slow_loris()) for _ in range(40)]
            # Meanwhile the API answers a client that sends its request at once.
            status, _, _ = await server.exchange(b"GET /api/v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            assert status == 200
            cut_after = await asyncio.gather(*attackers)
    finally:
        await runner.cleanup()
    assert len(cut_after) == 40 and max(cut_after) < 5


async def test_connections_past_the_limit_are_refused_with_a_503(sessions, config):
    runner, server = await serve(sessions, replace(config, web_max_connections=5))
    idle = []
    try:
        for _ in range(5):
            reader, writer = await asyncio.open_connection(server.host, server.port)
            # One request each, so the server has surely counted the connection; it then idles.
            writer.write(b"GET /api/v1/health HTTP/1.1\r\nHost: h\r\n\r\n")
            async with asyncio.timeout(5):
                assert b" 200 " in await reader.readuntil(b"\r\n")
            idle.append(writer)
        status, headers, body = await server.exchange(b"GET /api/v1/health HTTP/1.1\r\nHost: h\r\n\r\n")
        assert status == 503 and json.loads(body)["error"] == "too-many-connections"
    finally:
        for writer in idle:
            writer.close()
        await runner.cleanup()


@pytest.mark.parametrize("path, authorized", [
    ("/api/v1/cases", True),  # a route of the API's own body reading (openapi.Body)
    ("/api/v1/sign-in", False),  # sign-in reads its body itself, before anyone is known
])
async def test_a_body_that_stalls_is_a_408_and_the_connection_closes(sessions, config, path, authorized):
    runner, server = await serve(sessions, replace(config, web_body_timeout=1.0))
    token = f"Authorization: Bearer {server.token}\r\n" if authorized else ""
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        started = loop.time()
        # The head announces 1,000 bytes of JSON; 10 arrive, then nothing.
        writer.write(f"POST {path} HTTP/1.1\r\nHost: h\r\n{token}Content-Type: application/json\r\n"
                     f"Content-Length: 1000\r\n\r\n{{\"name\": \"".encode())
        async with asyncio.timeout(10):
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            waited = loop.time() - started
            rest = await reader.read()  # until the server closes the connection
        # Closed with the answer, not after draining the rest of the body for body_timeout again.
        closed_after = loop.time() - started - waited
        writer.close()
        # Meanwhile, and after, the server answers others.
        status, _, _ = await server.exchange(b"GET /api/v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    finally:
        await runner.cleanup()
    assert head.startswith("HTTP/1.1 408 ") and "Connection: close" in head
    assert json.loads(rest)["error"] == "request-timeout"
    assert 1.0 <= waited < 5 and closed_after < 0.5 and status == 200
