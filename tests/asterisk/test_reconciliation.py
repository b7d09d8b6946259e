"""Reconciliation against a real Asterisk: what the daemon learns of calls it did not see begin."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from hotline.db import database
from hotline.db.users import add_user
from recordings.store import Recording
from tests.asterisk.conftest import Daemon, Observer, config_for

pytestmark = pytest.mark.asterisk


async def test_a_call_begun_while_the_daemon_was_down_gets_its_hotline_and_recording(
    asterisk, database_url, tmp_path
):
    config = config_for(asterisk, database_url, tmp_path)
    async with database(config.database_url) as sessions, sessions() as session:
        token = await add_user(session, "supervisor-1", "supervisor")
    observer = await Observer(config.pbxs[0]).ready()
    try:
        first = await Daemon(config, token).ready()
        await first.close()

        # The daemon is down: a citizen calls 12319. The dialplan sets HOTLINE and starts
        # MixMonitor; the IVR's AGI fails (no FastAGI server) and the call stays up.
        await asterisk.originate("12319", "hold")
        recording = await observer.event(
            lambda e: e["Event"] == "VarSet" and e["Variable"] == "MIXMONITOR_FILENAME"
        )
        await observer.event(lambda e: e["Event"] == "UserEvent" and e["UserEvent"] == "IvrDone")

        second = await Daemon(config, token).ready()
        try:
            live = await second.first_call(lambda call: call["linkedid"] is not None)
            assert live["hotline"] == "12319"
            assert live["ended_at"] is None
            linkedid = live["linkedid"]
            assert recording.fields["Linkedid"] == linkedid

            await asterisk.hang_up_all()
            ended = await second.first_call(
                lambda call: call["linkedid"] == linkedid and call["ended_at"] is not None
            )
            assert ended["hotline"] == "12319"
        finally:
            # The ingest of the ended call's recording finishes within the shutdown grace.
            await second.close()
    finally:
        await observer.close()

    async with database(config.database_url) as sessions, sessions() as session:
        [archived] = (await session.scalars(select(Recording))).all()
    assert archived.call_id == ended["id"]
    assert Path(archived.source).name == Path(recording.fields["Value"]).name
    assert (config.recordings_root / archived.path).is_file()
