"""What the console reads besides calls: masked numbers, the agent filter, dashboard figures,
audit marks, the recordings audit log and the meeting report, over real HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hotline.cases.store import Department, save_departments
from hotline.config import Config
from hotline.db.tables import CallRating
from tests.web.console_data import T0, add_department_work, add_recorded_call, add_scores, stored_call


@pytest.fixture
def web_config(tmp_path) -> Config:
    # A centre whose auditors never call citizens back: supervisors see numbers masked.
    return Config(database_url="unused", recordings_root=tmp_path / "archive", masked_roles=("supervisor", "handler"))


@pytest.fixture
def console(api, web_config):
    api.root = web_config.recordings_root
    return api


async def get(client, path: str, role: str = "supervisor", status: int = 200):
    response = await client.get(path, headers=client.auth(role))
    assert response.status == status, await response.text()
    return await response.json() if response.content_type == "application/json" else await response.text()


async def test_masked_roles_see_callers_numbers_masked_operators_in_full(console, sessions):
    async with sessions() as session, session.begin():
        session.add(stored_call(1))
    assert (await get(console, "/api/v1/calls", "operator"))["calls"][0]["caller_number"] == "13812345678"
    listed = (await get(console, "/api/v1/calls", "supervisor"))["calls"][0]
    assert listed["caller_number"] == "138****5678"
    assert (await get(console, f"/api/v1/calls/{listed['id']}"))["caller_number"] == "138****5678"
    assert (await get(console, "/api/v1/calls", "admin"))["calls"][0]["caller_number"] == "13812345678"


async def test_the_websocket_masks_numbers_for_supervisors_too(console):
    from hotline.web.context import HUB

    console.server.app[HUB].publish({"id": 3, "ended_at": None, "caller_number": "13812345678"})
    async with console.ws_connect("/api/v1/events", headers=console.auth("supervisor")) as ws:
        assert (await ws.receive_json(timeout=5))["calls"][0]["caller_number"] == "138****5678"
        console.server.app[HUB].publish({"id": 3, "ended_at": "2026-11-27T01:00:00+00:00", "caller_number": "13812345678"})
        assert (await ws.receive_json(timeout=5))["call"]["caller_number"] == "138****5678"


async def test_calls_filter_by_agent(console, sessions):
    async with sessions() as session, session.begin():
        session.add_all([stored_call(1), stored_call(2, agent="PJSIP/8002")])
    body = await get(console, "/api/v1/calls?agent=PJSIP/8002")
    assert [c["agent"] for c in body["calls"]] == ["PJSIP/8002"]


async def test_the_dashboard_counts_answers_within_15_s_abandons_and_averages_per_hour(console, sessions):
    async with sessions() as session, session.begin():
        session.add_all([
            stored_call(1, wait_seconds=5.0, talk_seconds=60.0),
            stored_call(2, wait_seconds=20.0, talk_seconds=120.0),  # answered, but late
            stored_call(70, disposition="abandoned", answered_at=None, wait_seconds=40.0, talk_seconds=0.0),
            stored_call(75, hotline="12319", wait_seconds=1.0, talk_seconds=30.0),
            stored_call(80, status="answered", disposition=None, ended_at=None),  # still talking: not counted
        ])
        # Rated by their callers: two ended calls of the period, one still in progress, and one
        # that call tracking has not saved yet.
        session.add_all([CallRating(linkedid=f"1795900000.{n}", uniqueid=f"1795900000.{n}", rating=rating,
                                    rated_at=T0 + timedelta(hours=2))
                         for n, rating in ((1, 3), (75, 1), (80, 1), (9999, 2))])
    since, until = T0.isoformat().replace("+00:00", "Z"), (T0 + timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    body = await get(console, f"/api/v1/dashboard/calls?since={since}&until={until}")
    assert (body["calls"], body["answered"], body["answered_in_target"], body["abandoned"]) == (4, 3, 2, 1)
    assert body["answered_in_target_rate"] == 0.5 and body["abandon_rate"] == 0.25
    assert body["average_wait_seconds"] == pytest.approx(26 / 3) and body["average_talk_seconds"] == 70.0
    assert [(h["hour"], h["calls"], h["abandoned"]) for h in body["hours"]] == [
        ("2026-11-27T01:00:00+00:00", 2, 0), ("2026-11-27T02:00:00+00:00", 2, 1)]
    assert body["ratings"] == {"satisfied": 1, "basically_satisfied": 0, "dissatisfied": 1}
    only_12319 = await get(console, f"/api/v1/dashboard/calls?since={since}&until={until}&hotline=12319")
    assert only_12319["calls"] == 1
    assert only_12319["ratings"] == {"satisfied": 1, "basically_satisfied": 0, "dissatisfied": 0}
    await get(console, "/api/v1/dashboard/calls", "operator", status=403)
    await get(console, f"/api/v1/dashboard/calls?since={until}&until={since}", status=400)


async def test_the_dashboard_counts_open_and_overdue_cases_per_department_and_a_month_s_satisfaction(console, sessions):
    await add_department_work(sessions, datetime.now(timezone.utc))
    body = await get(console, "/api/v1/dashboard/departments?month=2026-11")
    assert body["month"] == "2026-11" and (body["open"], body["overdue"]) == (3, 1)
    assert [(d["id"], d["name"], d["open"], d["overdue"]) for d in body["departments"]] == [
        (None, None, 1, 0), ("gongan", "公安局", 2, 1), ("urban", "城管局", 0, 0)]
    # Two answered surveys, one of them dissatisfied; the unreachable citizen said nothing.
    assert body["satisfaction"] == {"surveys": 2, "dissatisfied": 1, "satisfaction_rate": 0.5, "windows": [
        {"window": "gongan", "name": "公安局", "surveys": 2, "dissatisfied": 1, "satisfaction_rate": 0.5}]}
    december = await get(console, "/api/v1/dashboard/departments?month=2026-12")
    assert december["satisfaction"]["satisfaction_rate"] is None and december["satisfaction"]["windows"] == []
    assert (await get(console, "/api/v1/dashboard/departments"))["month"] == \
        datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    for role in ("operator", "handler"):
        await get(console, "/api/v1/dashboard/departments", role, status=403)
    await get(console, "/api/v1/dashboard/departments?month=2026-13", status=400)


async def test_audit_marks_come_from_the_transcript_with_offsets(console, sessions):
    call_id = await add_recorded_call(sessions, console.root)
    body = await get(console, f"/api/v1/calls/{call_id}/marks")
    assert body["marks"] == [
        {"kind": "greeting", "phrase": "您好", "ok": True, "offset": 0.5, "speaker": "agent"},
        {"kind": "required", "phrase": "感谢您的来电", "ok": True, "offset": 15.0, "speaker": "agent"},
        {"kind": "forbidden", "phrase": "不知道", "ok": False, "offset": 11.0, "speaker": "agent"},
    ]
    await get(console, f"/api/v1/calls/{call_id}/marks", "operator", status=403)


async def test_supervisors_page_through_the_recordings_audit_newest_first(console, sessions):
    call_id = await add_recorded_call(sessions, console.root)
    for _ in range(3):
        await get(console, f"/api/v1/calls/{call_id}/transcript")
    await get(console, f"/api/v1/calls/{call_id}/transcript", "operator", status=403)
    first = await get(console, "/api/v1/recordings/audit?limit=2")
    assert [(e["actor"], e["action"]) for e in first["entries"]] == [
        ("supervisor-1", "audit.read"), ("operator-1", "transcript.read.denied")]
    rest = await get(console, f"/api/v1/recordings/audit?limit=10&before={first['next_before']}")
    assert [e["action"] for e in rest["entries"]] == ["transcript.read"] * 3 and rest["next_before"] is None
    mine = await get(console, "/api/v1/recordings/audit?actor=operator-1")
    assert [e["action"] for e in mine["entries"]] == ["transcript.read.denied"]
    await get(console, "/api/v1/recordings/audit", "handler", status=403)


async def test_the_meeting_report_downloads_as_html(console, sessions):
    await add_scores(sessions, 1)
    response = await console.get("/api/v1/scores/report?rubric=yihuang-window&month=2026-10",
                                 headers=console.auth("supervisor"))
    assert response.status == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="yihuang-window-2026-10.html"'
    text = await response.text()
    assert "公安局" in text and "call:1@9" in text


async def test_by_default_only_handlers_are_masked():
    from hotline.config import load_config

    assert load_config(environ={}).masked_roles == ("handler",)


async def test_the_openapi_document_describes_the_consoles_routes(console):
    document = await get(console, "/api/v1/openapi.json", "operator")
    assert {"/api/v1/sign-in", "/api/v1/sign-out", "/api/v1/me", "/api/v1/dashboard/calls",
            "/api/v1/dashboard/departments",
            "/api/v1/calls/{call_id}/marks", "/api/v1/recordings/audit", "/api/v1/scores/rubrics",
            "/api/v1/scores/report"} <= set(document["paths"])
    assert document["paths"]["/api/v1/sign-in"]["post"]["security"] == []
    assert "agent" in [p["name"] for p in document["paths"]["/api/v1/calls"]["get"]["parameters"]]


async def test_a_window_two_departments_name_is_shown_under_the_department_the_survey_results_put_it_in(console, sessions):
    await add_department_work(sessions, datetime.now(timezone.utc))
    async with sessions() as session:
        await save_departments(session, [Department(id="zz-tax", name="稅務局", window="gongan")])
    results = await get(console, "/api/v1/surveys/results?month=2026-11&by=department")
    assert list(results["department"]) == ["gongan"] and results["department"]["gongan"]["name"] == "公安局"
    body = await get(console, "/api/v1/dashboard/departments?month=2026-11")
    assert [(w["window"], w["name"]) for w in body["satisfaction"]["windows"]] == [("gongan", "公安局")]
