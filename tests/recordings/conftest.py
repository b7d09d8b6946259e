from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hotline.config import Config
from hotline.db.tables import Call
from recordings.transcription import Recogniser
from tests.recordings.speech import deterministic_model


@pytest.fixture(scope="session")
def vosk_model(tmp_path_factory) -> Path:
    """The real Korean vosk model, dither off so that the same audio gives the same words."""
    return deterministic_model(tmp_path_factory.mktemp("vosk"))


@pytest.fixture(scope="session")
def recogniser(vosk_model) -> Recogniser:
    """That model, loaded once for the whole run (it takes seconds)."""
    return Recogniser(vosk_model)


@pytest.fixture
def config(tmp_path, database_url, vosk_model) -> Config:
    spool, root = tmp_path / "spool", tmp_path / "archive"
    spool.mkdir()
    root.mkdir()
    return Config(database_url=database_url, recordings_root=root, recordings_spool=spool, vosk_model=vosk_model, workers=2)


T0 = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def add_call(sessions):
    """Store a call (ended unless told otherwise) and return it."""

    async def add(n: int = 1, **fields) -> Call:
        values = dict(
            pbx="main", linkedid=f"1795811555.{n}", hotline="12345", caller_number="0698765432",
            status="ended", disposition="answered", started_at=T0 + timedelta(minutes=n),
            answered_at=T0 + timedelta(minutes=n, seconds=5), ended_at=T0 + timedelta(minutes=n, seconds=65),
            agent="agent1", recording=f"/opt/asterisk/var/spool/asterisk/monitor/1795811555.{n}.wav",
            updated_at=T0,
        )
        call = Call(**(values | fields))
        async with sessions() as session, session.begin():
            session.add(call)
        return call

    return add


@pytest.fixture
async def api(sessions, config):
    """The web app over this test's database and recordings root, with a user of each role."""
    from aiohttp.test_utils import TestClient, TestServer

    from hotline.db.users import add_user
    from hotline.web.app import make_app
    from hotline.web.live import CallHub, Telemetry

    client = TestClient(TestServer(make_app(config, sessions, CallHub(), Telemetry())))
    await client.start_server()
    tokens = {}
    async with sessions() as session:
        for role in ("operator", "supervisor", "handler", "admin"):
            tokens[role] = await add_user(session, f"{role}-1", role)
    client.auth = lambda role: {"Authorization": f"Bearer {tokens[role]}"}
    yield client
    await client.close()
