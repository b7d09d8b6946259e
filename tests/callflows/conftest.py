"""A FastAGI server on 127.0.0.1, port 0, with short timeouts so misbehaving callers end fast."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from callflows.fastagi import AgiHandler, FastAgiServer

StartServer = Callable[..., Awaitable[FastAgiServer]]


@pytest.fixture(autouse=True)
def callflow_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Capture the call flows' INFO lines (hang-ups, silent probes) for the tests to read."""
    caplog.set_level(logging.INFO, logger="callflows")


@pytest.fixture
async def agi_server() -> AsyncIterator[StartServer]:
    """`await agi_server(routes, **options)` starts a FastAgiServer, closed after the test."""
    servers: list[FastAgiServer] = []

    async def start(routes: Mapping[str, AgiHandler], **options: Any) -> FastAgiServer:
        options = {"environment_timeout": 0.2, "command_timeout": 2.0, "grace": 1.0, **options}
        server = FastAgiServer(routes, "127.0.0.1", 0, **options)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()
