"""The rating after the operator hangs up, on a real Asterisk running the shipped dialplan,
queues and AMI user (docs/asterisk/) under `hotline serve`.

A citizen (tests/asterisk/rating/extensions.conf) calls 12345, chooses 2 in the IVR menu and
reaches the inquiry queue, whose one member is a Local channel playing the operator. Nothing is
faked: AMI and FastAGI over TCP, keys sent with SendDTMF.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline.db import database
from hotline.db.users import add_user
from tests.asterisk.conftest import CONFIG, Asterisk, Daemon, config_for, running_asterisk

pytestmark = pytest.mark.asterisk

SHIPPED = Path(__file__).parents[2] / "docs" / "asterisk"
HERE = Path(__file__).parent / "rating"
# The ports set aside for these tests (tests/asterisk/conftest.py and the survey tests use others).
PORTS = range(17000, 18000)
OPERATOR = "Local/{}@rating-operators/n"


@pytest.fixture
async def pbx(tmp_path: Path, english_sounds) -> AsyncIterator[Asterisk]:
    """A real Asterisk on the shipped configuration plus the test's citizens and operators."""
    conf = tmp_path / "asterisk-conf"
    conf.mkdir()
    (conf / "extensions.conf").write_text(
        (SHIPPED / "extensions.conf").read_text() + (HERE / "extensions.conf").read_text())
    for name in ("queues.conf", "manager.conf"):
        shutil.copy(SHIPPED / name, conf / name)
    for name in ("logger.conf", "modules.conf"):
        shutil.copy(CONFIG / name, conf / name)
    async with running_asterisk(tmp_path / "asterisk", conf, PORTS) as instance:
        yield instance


async def serve(pbx: Asterisk, database_url: str, tmp_path: Path) -> Daemon:
    """`hotline serve` logged in as the shipped AMI user, with a supervisor's token."""
    secret = re.search(r"^\[hotline\]\nsecret = (\S+)", (SHIPPED / "manager.conf").read_text(), re.M)[1]
    config = config_for(pbx, database_url, tmp_path)
    config = dataclasses.replace(config, pbxs=(dataclasses.replace(config.pbxs[0], secret=secret),))
    async with database(config.database_url) as sessions, sessions() as session:
        token = await add_user(session, "supervisor-1", "supervisor")
    return await Daemon(config, token).ready()


async def call_through_the_queue(pbx: Asterisk, running: Daemon, citizen: str, operator: str) -> dict:
    """`citizen` calls 12345 and reaches `operator` in the inquiry queue; the call once ended,
    as the API shows it."""
    await pbx.cli(f"queue add member {OPERATOR.format(operator)} to inquiry")
    await pbx.originate("12345", citizen, "rating-citizens")
    ended = await running.first_call(
        lambda call: call["hotline"] == "12345" and call["ended_at"] is not None, timeout=60)
    response = await running.http.get(f"{running.url}/api/v1/calls/{ended['id']}")
    assert response.status == 200
    return await response.json()


async def test_the_caller_rates_the_call_after_the_operator_hangs_up(pbx, database_url, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="callflows")
    running = await serve(pbx, database_url, tmp_path)
    try:
        call = await call_through_the_queue(pbx, running, "rates-3", "hangs-up")
    finally:
        await running.close()

    assert (call["disposition"], call["queue"]) == ("answered", "inquiry")
    assert call["agent"] is not None and "rating-operators" in call["agent"]
    assert call["rating"] == 3
    assert call["rated_at"] >= call["answered_at"]
    assert f"call {call['linkedid']} rated 3" in caplog.text
    # The rating ran on the caller's channel, in the shipped context, once.
    assert pbx.log.count("Executing [s@hotline-rating:1]") == 1


async def test_a_caller_who_hangs_up_first_is_not_rated(pbx, database_url, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="callflows")
    running = await serve(pbx, database_url, tmp_path)
    try:
        call = await call_through_the_queue(pbx, running, "hangs-up-first", "stays")
    finally:
        await running.close()

    assert (call["disposition"], call["queue"]) == ("answered", "inquiry")
    assert (call["rating"], call["rated_at"]) == (None, None)
    assert "hotline-rating" not in pbx.log
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING
                and record.name.startswith(("callflows", "hotline.tracking"))]
