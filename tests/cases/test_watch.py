"""The deadline watch `serve` runs: overdue once, criticism after urging, holds released."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from hotline.cases.store import act_on_case, file_case, view_case
from hotline.cases.watch import watch_forever, watch_once
from hotline.config import CasesConfig
from recordings.holds import RecordingHolds
from recordings.store import Recording
from scoring.case_points import CasePoints
from tests.cases.conftest import COMPLAINT, OPERATOR, SUPERVISOR, T0

POINTS = CasePoints("yihuang-window", ["yihuang-staff"])


async def test_one_pass_marks_overdue_then_criticised_and_a_later_pass_adds_nothing(sessions, services):
    async with sessions() as session:
        number = (await file_case(session, COMPLAINT | {"call_id": 1}, OPERATOR.actor, T0, services)).case.number
        await act_on_case(session, number, "register", {}, OPERATOR, T0, services)
        await act_on_case(session, number, "dispatch", {"department": "urban"}, SUPERVISOR, T0, services)
        urged = await act_on_case(session, number, "urge", {}, SUPERVISOR, T0 + timedelta(days=14), services)
    late = urged.case.due_at + timedelta(minutes=5)
    assert await watch_once(sessions, CasesConfig(), POINTS, RecordingHolds(), late) == ([number], [], [])
    after_criticism = urged.case.criticism_due_at + timedelta(minutes=5)
    assert await watch_once(sessions, CasesConfig(), POINTS, RecordingHolds(), after_criticism) == ([], [number], [])
    assert await watch_once(sessions, CasesConfig(), POINTS, RecordingHolds(), after_criticism) == ([], [], [])
    async with sessions() as session:
        view = await view_case(session, number, SUPERVISOR)
        assert [s.action for s in view.history][-2:] == ["overdue", "criticise"]
        assert (await session.get(Recording, 1)).legal_hold


class Records(logging.Handler):
    """Log records into a queue a test can wait on."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.queue: asyncio.Queue[logging.LogRecord] = asyncio.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        self.queue.put_nowait(record)


async def test_the_watch_runs_until_stopped_and_logs_what_it_marked(sessions, services):
    async with sessions() as session:
        number = (await file_case(session, COMPLAINT | {"call_id": 1}, OPERATOR.actor, T0 - timedelta(days=400),
                                  services)).case.number
    stopping, records = asyncio.Event(), Records()
    logger = logging.getLogger("hotline.cases")
    logger.addHandler(records)
    level, logger.level = logger.level, logging.INFO
    try:
        task = asyncio.create_task(watch_forever(sessions, CasesConfig(), POINTS, RecordingHolds(), stopping, 3600))
        async with asyncio.timeout(10):
            first = await records.queue.get()
        stopping.set()
        async with asyncio.timeout(5):
            await task
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    assert first.getMessage() == f"cases overdue: {number}"
