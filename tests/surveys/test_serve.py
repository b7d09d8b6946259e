"""`hotline serve` runs the campaign by itself: it draws the week, dials the drawn citizen through
its AMI link, serves the survey flow on its FastAGI port and scores the dissatisfied citizen."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from hotline.config import SurveyConfig
from hotline.surveys import store
from hotline.surveys.draw import week_bounds, week_of
from hotline.surveys.served import ServedItem
from scoring.occurrences import Subject
from scoring.store import OccurrenceEntry, save_subject
from tests.surveys.test_flows import Citizen, call
from tests.test_daemon import config, start_daemon  # noqa: F401 (config is a fixture)
from tests.fakes.asterisk import FakeAsterisk

SURVEYS = SurveyConfig(dial="Local/{number}@citizens", calling_days="all",
                       calling_hours=((time(0), time.max),))


async def test_serve_draws_dials_and_runs_the_survey_flow(config, sessions):
    now = datetime.now(UTC)
    monday, _ = week_bounds(week_of(now, SURVEYS.zone), SURVEYS.zone)
    async with sessions() as session:
        await store.add_served_items(session, [ServedItem(
            "gongan", "li-wei", "张三", "13800138000", "居住证办理", monday - timedelta(days=1))], now)
        await save_subject(session, Subject("li-wei", "李伟"), "staff")
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    agi_port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with FakeAsterisk() as fake:
        config = replace(config, fastagi_port=agi_port, surveys=SURVEYS,
                         pbxs=(replace(config.pbxs[0], port=fake.port),))
        running = await start_daemon(config, fake)
        try:
            await fake.wait_for(lambda: any(r.get("Action") == "Originate" for r in fake.requests), timeout=10)
            [originate] = [r for r in fake.requests if r.get("Action") == "Originate"]
            assert originate.get("Channel") == "Local/13800138000@citizens"
            case = originate.get("ActionID").removeprefix("survey-").removesuffix("-1")
            async with asyncio.timeout(10):
                await call(agi_port, Citizen(case, ["3", "2", "1", None]))
        finally:
            await running.close()
    async with sessions() as session:
        survey = await session.scalar(select(store.Survey).where(store.Survey.case == case))
        [entry] = await session.scalars(select(OccurrenceEntry))
    assert (survey.status, survey.attitude, survey.efficiency, survey.compliance) == ("completed", 3, 2, 1)
    # The daemon's default: 宜黃 先進個人 績(1), each dissatisfied citizen, for the staff member.
    assert (entry.rubric, entry.subject_id, entry.item) == ("yihuang-staff", "li-wei", "dissatisfied")
    assert entry.evidence.startswith(f"case {case}; callback survey")
