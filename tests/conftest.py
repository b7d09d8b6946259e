"""Shared fixtures: a fresh, migrated database per test, on SQLite or PostgreSQL.

The suite runs against SQLite by default. With HOTLINE_TEST_DATABASE_URL set to a PostgreSQL
server URL (CI: postgresql+asyncpg://postgres@127.0.0.1:5432/test), each test gets a database of
its own on that server, created from nothing and dropped afterwards.
"""

from __future__ import annotations

import os

import pytest

from hotline.db import create_engine, scratch_database, session_factory, upgrade

# Helpers that assert, outside test modules: pytest explains their failures too.
pytest.register_assert_rewrite("tests.recordings.speech")

SERVER_URL = os.environ.get("HOTLINE_TEST_DATABASE_URL", "")
# Tests of PostgreSQL's own behaviour (marked `postgresql`) use this server when the suite runs
# on SQLite: the one .ci/run starts on this machine.
LOCAL_POSTGRESQL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def pytest_report_header(config) -> str:
    return f"hotline database: {SERVER_URL or 'SQLite (set HOTLINE_TEST_DATABASE_URL for PostgreSQL)'}"


@pytest.fixture
async def database_url(request, tmp_path) -> str:
    """The URL of an empty database for this test alone (PostgreSQL for `postgresql` tests)."""
    server_url = SERVER_URL or (LOCAL_POSTGRESQL if request.node.get_closest_marker("postgresql") else "")
    if not server_url:
        yield f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
        return
    async with scratch_database(server_url, "hotline_test") as url:
        yield url


@pytest.fixture
async def engine(database_url):
    """An async engine on a database migrated to the newest schema."""
    engine = create_engine(database_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine):
    return session_factory(engine)


@pytest.fixture
def web_config():
    """The configuration `api` runs with (a test module may override it)."""
    from hotline.config import Config

    return Config(database_url="unused")


@pytest.fixture
async def api(sessions, web_config):
    """A running web app on a free port and a way to act as a user of each role."""
    from aiohttp.test_utils import TestClient, TestServer

    from hotline.db.users import add_user
    from hotline.web.app import make_app
    from hotline.web.live import CallHub, Telemetry

    app = make_app(web_config, sessions, CallHub(), Telemetry())
    client = TestClient(TestServer(app))
    await client.start_server()
    tokens = {}
    async with sessions() as session:
        for role in ("operator", "supervisor", "handler", "admin"):
            tokens[role] = await add_user(session, f"{role}-1", role)
    client.tokens = tokens
    client.auth = lambda role: {"Authorization": f"Bearer {tokens[role]}"}
    yield client
    await client.close()
