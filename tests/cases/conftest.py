"""Cases on a migrated database: departments, scored windows and staff, a call with a recording,
and the services wired as the composition root wires them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hotline.cases.calendar import SHANGHAI
from hotline.cases.store import CaseServices, Department, Viewer, case_services, save_departments
from hotline.cases.workflow import Actor
from hotline.config import CasesConfig
from hotline.db.tables import Call
from hotline.db.users import add_user
from recordings.holds import RecordingHolds
from recordings.store import Recording
from scoring.case_points import CasePoints
from scoring.occurrences import Subject
from scoring.store import save_subject

# Tuesday 1 December 2026, 10:00 in Beijing.
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
OPERATOR = Viewer(Actor("wang.operator", "operator"))
SUPERVISOR = Viewer(Actor("li.supervisor", "supervisor"))
SUPERVISOR_2 = Viewer(Actor("chen.supervisor", "supervisor"))
URBAN = Viewer(Actor("zhao.handler", "handler", "urban"))
POLICE = Viewer(Actor("sun.handler", "handler", "police"))

COMPLAINT = {"type": "complaint", "channel": "12345", "description": "公安窗口工作人员与群众争吵",
             "caller_number": "13800000001", "caller_name": "张三", "window": "gongan", "staff": "li"}


@pytest.fixture
async def services(sessions) -> CaseServices:
    async with sessions() as session:
        await save_departments(session, [Department(id="urban", name="城管局", window="chengguan"),
                                         Department(id="police", name="公安局", window="gongan")])
        await save_subject(session, Subject("gongan", "公安局窗口"), "window")
        await save_subject(session, Subject("chengguan", "城管局窗口"), "window")
        await save_subject(session, Subject("li", "李警官"), "staff", window_id="gongan")
        session.add(Call(pbx="main", linkedid="1795811542.7", hotline="12345", caller_number="13800000001",
                         caller_name="张三", status="ended", disposition="answered",
                         started_at=datetime(2026, 12, 1, 1, 55, tzinfo=timezone.utc),
                         updated_at=datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)))
        await session.flush()
        session.add(Recording(call_id=1, source="mixmonitor", path="2026/12/01/1.wav", format="wav",
                              size_bytes=1000, sha256="0" * 64, condition="ok",
                              recorded_at=datetime(2026, 12, 1, 1, 55, tzinfo=timezone.utc),
                              ingested_at=datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)))
        await session.commit()
        return await case_services(session, CasesConfig(), CasePoints("yihuang-window", ["yihuang-staff"]),
                                   RecordingHolds())


@pytest.fixture
async def client(api, sessions, services):
    async with sessions() as session:
        api.tokens["police"] = await add_user(session, "sun.handler", "handler", "police")
        api.tokens["urban"] = await add_user(session, "zhao.handler", "handler", "urban")
        api.tokens["portal"] = await add_user(session, "portal", "open311")
        api.tokens["supervisor-2"] = await add_user(session, "chen.supervisor", "supervisor")
    api.auth = lambda role: {"Authorization": f"Bearer {api.tokens[role]}"}
    return api
