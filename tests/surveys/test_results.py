"""Results: the satisfaction rate as defined, the distribution, per window and staff member, for
a week or a month, and the suggestions with their transcripts; in the API (with masked numbers)
and `hotline surveys results`."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import delete, select

from hotline.cli import main
from hotline.config import SurveyConfig
from hotline.db.tables import Call
from hotline.db.users import Actor
from hotline.errors import InvalidInput
from hotline.surveys import store
from hotline.surveys.results import (
    Suggestion, SurveyRecord, ledger_day, period_weeks, results, satisfaction_rate, scoring_satisfaction, shortfall,
    week_month, weeks_between, weeks_of_month,
)
from hotline.web.openapi import check
from recordings.store import Recording, RecordingAudit, Transcript, TranscriptionJob
from recordings.texts import TranscriptTexts
from tests.surveys.conftest import MONDAY, WEEK, case_desk

# Who a command-line read is audited as: the process's user (hotline.db.users.Actor).
CLI_USER = f"cli {pwd.getpwuid(os.getuid()).pw_name}"


def record(status: str, *answers: int | None, window: str = "gongan", staff: str = "li-wei") -> SurveyRecord:
    return SurveyRecord("SV", WEEK, window, staff, status, tuple(answers) or (None, None, None))


def test_the_satisfaction_rate_is_the_share_of_answered_surveys_without_a_dissatisfied_answer():
    records = [
        record("completed", 1, 2, 3),
        record("completed", 1, 2, 2),
        record("partial", 2, None, None),
        record("partial", None, None, None),  # hung up before answering: does not count
        record("unreachable"),
        record("opted-out", 3, 3, None),  # opted out: its answers do not count
    ]
    assert satisfaction_rate(records) == Fraction(2, 3)
    assert satisfaction_rate([record("unreachable"), record("pending")]) is None


def test_scoring_gets_surveys_and_satisfied_per_window():
    records = [record("completed", 1, 1, 3), record("completed", 1, 1, 1),
               record("partial", 2, None, None, window="shuiwu"), record("unreachable", window="jiaotong")]
    assert scoring_satisfaction(records, "window") == {
        "gongan": {"surveys": 2, "satisfied": 1}, "shuiwu": {"surveys": 1, "satisfied": 1}}


def test_results_per_window_with_distribution_and_counts():
    records = [
        record("completed", 1, 1, 1), record("completed", 2, 3, 1, window="shuiwu", staff="wang"),
        record("partial", 1, None, None), record("unreachable", window="shuiwu", staff="wang"),
    ]
    found = results(records, "window")
    total = found["total"]
    assert (total["surveys"], total["completed"], total["partial"], total["unreachable"]) == (4, 2, 1, 1)
    assert total["distribution"]["efficiency"] == {"1": 1, "2": 0, "3": 1}
    assert total["satisfaction_rate"] == round(2 / 3, 4)
    assert (total["answered_surveys"], total["dissatisfied_surveys"]) == (3, 1)
    assert found["window"]["gongan"]["satisfaction_rate"] == 1.0
    assert found["window"]["shuiwu"]["satisfaction_rate"] == 0.0


def test_suggestions_are_listed_in_total_and_in_their_group_by_week_and_case_and_counts_stay():
    records = [record("completed", 1, 1, 1), record("completed", 2, 3, 1, window="shuiwu", staff="wang")]
    suggestions = [
        Suggestion("SV-2", "2026-W50", "shuiwu", "wang", "(no department)", 7, None, "pending"),
        Suggestion("SV-9", WEEK, "gongan", "li-wei", "(no department)", 3, "窗口太少", "transcribed"),
        Suggestion("SV-1", "2026-W50", "gongan", "li-wei", "(no department)", None, None, "no recording"),
    ]
    found = results(records, "window", suggestions=suggestions)
    assert [s["case"] for s in found["suggestions"]] == ["SV-9", "SV-1", "SV-2"]
    assert found["suggestions"][0] == {"case": "SV-9", "week": WEEK, "window": "gongan", "staff": "li-wei",
                                       "department": "(no department)", "call": 3, "transcript": "窗口太少",
                                       "state": "transcribed"}
    assert [s["case"] for s in found["window"]["gongan"]["suggestions"]] == ["SV-9", "SV-1"]
    assert [s["state"] for s in found["window"]["shuiwu"]["suggestions"]] == ["pending"]
    without = results(records, "window")
    assert without["suggestions"] == [] and without["window"]["gongan"]["suggestions"] == []
    assert found["total"] == without["total"] and found["window"]["gongan"]["surveys"] == 1


def test_weeks_count_in_the_month_of_their_thursday():
    assert weeks_of_month("2026-12") == ["2026-W49", "2026-W50", "2026-W51", "2026-W52", "2026-W53"]
    assert weeks_of_month("2026-11")[-1] == "2026-W48"
    assert all(week_month(week) == "2026-12" for week in weeks_of_month("2026-12"))
    assert period_weeks("2026-W49", None) == (["2026-W49"], "2026-W49")
    for week, month in ((None, None), ("2026-W49", "2026-12"), (None, "December")):
        with pytest.raises(InvalidInput):
            period_weeks(week, month)


def test_results_per_department_name_it_and_windows_without_one_stay_apart():
    records = [record("completed", 1, 1, 3), record("completed", 1, 2, 2)]
    records = [replace(r, department="police") for r in records] + [record("partial", 2, None, None, window="shuiwu")]
    found = results(records, "department", {"police": "公安局"})
    assert found["department"]["police"]["name"] == "公安局"
    assert found["department"]["police"]["satisfaction_rate"] == 0.5
    assert found["department"]["(no department)"]["answered_surveys"] == 1
    assert "name" not in found["department"]["(no department)"]


def test_a_year_counts_its_iso_weeks_and_a_surveys_points_fall_in_its_weeks_month():
    weeks = weeks_between(date(2026, 1, 1), date(2026, 12, 31))
    assert (weeks[0], weeks[-1], len(weeks)) == ("2026-W01", "2026-W53", 53)
    assert weeks_between(date(2026, 12, 1), date(2026, 12, 31)) == weeks_of_month("2026-12")
    # Week 49 runs from Monday 30 November and counts in December.
    assert ledger_day(WEEK, date(2026, 11, 30)) == date(2026, 12, 1)
    assert ledger_day(WEEK, date(2026, 12, 3)) == date(2026, 12, 3)
    assert ledger_day("2026-W44", date(2026, 11, 2)) == date(2026, 10, 31)  # a retry after the week


def test_the_shortfall_says_why():
    assert shortfall(5, ["completed"] * 5, None, True) == {"count": 0, "reason": None}
    assert shortfall(5, ["completed", "pending"], None, False) == {
        "count": 4, "reason": "week in progress: 1 surveys still to call"}
    assert shortfall(5, ["completed"], "population exhausted: ...", True)["reason"] == "population exhausted: ..."
    assert shortfall(5, ["completed", "unreachable"], None, True)["reason"] == "the week ended with 4 surveys not completed"


@pytest.fixture
async def surveyed(sessions, served) -> list[store.Survey]:
    """Week 49 drawn; the first survey completed with a suggestion on call 1, the second partial,
    the third unreachable after one attempt."""
    async with sessions() as session:
        drawn = await store.draw_week(session, WEEK, SurveyConfig(), case_desk(), MONDAY)
        first, second, third = drawn.surveys[:3]
        # Which citizens the draw picks is random: the windows the results group by are set here.
        for survey, window in zip(drawn.surveys, ("gongan", "gongan", "shuiwu", "shuiwu", "shuiwu")):
            survey.window = window
        first.status, first.attitude, first.efficiency, first.compliance = "completed", 1, 2, 3
        first.suggestion, first.complaint_case = "survey-x-1.1.wav", f"CP-{first.case}"
        second.status, second.attitude = "partial", 2
        third.status = "unreachable"
        session.add(store.SurveyAttempt(survey_id=third.id, number=1, action_id="a-1",
                                        started_at=MONDAY + timedelta(hours=9), outcome="busy"))
        session.add(Call(pbx="main", linkedid="1.1", status="ended", survey_case=first.case,
                         recording="/spool/survey-x-1.1.wav", started_at=MONDAY, updated_at=MONDAY))
        await session.commit()
        return drawn.surveys


@pytest.fixture
async def suggested(sessions, surveyed) -> dict[str, int]:
    """Spoken suggestions on three of week 49's surveys: the first's transcribed, the second's
    waiting for a worker, the fourth's recording deleted at the end of retention; their calls."""
    first, second, _, fourth = surveyed[:4]
    calls = {}
    async with sessions() as session:
        first_call = await session.scalar(select(Call).where(Call.survey_case == first.case))
        calls[first.case] = first_call.id
        for survey, linkedid in ((second, "1.2"), (fourth, "1.4")):
            survey = await session.get(store.Survey, survey.id)
            survey.suggestion = f"survey-x-{linkedid}.wav"
            call = Call(pbx="main", linkedid=linkedid, status="ended", survey_case=survey.case,
                        recording=f"/spool/survey-x-{linkedid}.wav", started_at=MONDAY, updated_at=MONDAY)
            session.add(call)
            await session.flush()
            calls[survey.case] = call.id
        recordings = {}
        for case, call_id in calls.items():
            recordings[case] = Recording(call_id=call_id, source=f"survey-{call_id}.wav", path=f"2026/11/30/{call_id}.wav",
                                         format="wav", size_bytes=1000, sha256="0" * 64, condition="ok",
                                         recorded_at=MONDAY, ingested_at=MONDAY)
            session.add(recordings[case])
        recordings[fourth.case].deleted_at = MONDAY + timedelta(days=180)
        await session.flush()
        session.add(Transcript(recording_id=recordings[first.case].id, model="vosk-model-small-cn-0.22",
                               text="希望 周末 也 开 窗口", audio_seconds=6.0, processing_seconds=1.0,
                               worker="test", created_at=MONDAY))
        for case, state in ((first.case, "done"), (second.case, "queued")):
            session.add(TranscriptionJob(recording_id=recordings[case].id, state=state, attempts=1, max_attempts=5,
                                         run_after=MONDAY, created_at=MONDAY))
        await session.commit()
    return calls


def _suggestions_of(surveyed, calls) -> list[dict]:
    """What results show for `suggested`'s three suggestions, by case."""
    first, second, _, fourth = surveyed[:4]
    expected = [
        {"case": first.case, "window": "gongan", "staff": first.staff, "call": calls[first.case],
         "transcript": "希望 周末 也 开 窗口", "state": "transcribed"},
        {"case": second.case, "window": "gongan", "staff": second.staff, "call": calls[second.case],
         "transcript": None, "state": "pending"},
        {"case": fourth.case, "window": "shuiwu", "staff": fourth.staff, "call": calls[fourth.case],
         "transcript": None, "state": "no recording"},
    ]
    return sorted(({"week": WEEK, "department": "(no department)"} | s for s in expected), key=lambda s: s["case"])


async def audit_rows(sessions) -> list[RecordingAudit]:
    async with sessions() as session:
        return list(await session.scalars(select(RecordingAudit).order_by(RecordingAudit.id)))


async def test_api_results_show_each_suggestion_with_its_transcript_and_audit_each_one_shown(
        api, sessions, surveyed, suggested):
    response = await api.get(f"/api/v1/surveys/results?week={WEEK}&by=window", headers=api.auth("supervisor"))
    assert response.status == 200
    body = await response.json()
    expected = _suggestions_of(surveyed, suggested)
    assert body["suggestions"] == expected
    assert body["window"]["gongan"]["suggestions"] == [s for s in expected if s["window"] == "gongan"]
    assert [s["state"] for s in body["window"]["shuiwu"]["suggestions"]] == ["no recording"]
    # As the OpenAPI document declares it (schemathesis holds the running daemon to it too).
    document = await (await api.get("/api/v1/openapi.json", headers=api.auth("supervisor"))).json()
    schema = document["paths"]["/api/v1/surveys/results"]["get"]["responses"]["200"]["content"]["application/json"]
    check(schema["schema"], body, "")
    for window, group in body["window"].items():
        check(schema["schema"]["properties"]["window"]["additionalProperties"], group, window)
    # Suggestions are listed, not counted.
    assert (body["total"]["surveys"], body["total"]["completed"]) == (5, 1)
    # Personal data: the one transcript shown is in the recordings audit log, as its API's reads are.
    [entry] = await audit_rows(sessions)
    assert (entry.actor, entry.role, entry.action, entry.call_id, entry.detail) == (
        "supervisor-1", "supervisor", "transcript.read", suggested[surveyed[0].case], f"survey results {WEEK}")
    assert (await api.get(f"/api/v1/surveys/results?week={WEEK}", headers=api.auth("operator"))).status == 403
    assert len(await audit_rows(sessions)) == 1
    # The figures alone (the console's month table): no transcript read, none audited.
    response = await api.get("/api/v1/surveys/results?month=2026-12&by=window&suggestions=false",
                             headers=api.auth("supervisor"))
    figures = await response.json()
    assert figures["suggestions"] == [] and figures["window"]["gongan"]["suggestions"] == []
    assert figures["total"]["completed"] == 1
    assert len(await audit_rows(sessions)) == 1


async def test_results_command_lists_the_suggestions_after_the_table_and_in_json(
        surveys_cli, sessions, surveyed, suggested, capsys, monkeypatch):
    # The audit names the process's user, which no variable of the environment can change.
    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.setenv("LOGNAME", "someone-else")
    assert await asyncio.to_thread(surveys_cli, "results", "--month", "2026-12", "--by", "window") == 0
    out = capsys.readouterr().out.splitlines()
    lines = out[out.index("suggestions (3)") + 1:]
    expected = _suggestions_of(surveyed, suggested)
    assert [line.split()[:3] for line in lines] == [[s["case"], s["window"], s["staff"]] for s in expected]
    said = {s["case"]: line.split(maxsplit=3)[3] for s, line in zip(expected, lines)}
    assert said == {surveyed[0].case: "希望 周末 也 开 窗口", surveyed[1].case: "(pending)",
                    surveyed[3].case: "(no recording)"}
    assert await asyncio.to_thread(surveys_cli, "results", "--week", WEEK, "--by", "staff", "--format", "json") == 0
    body = json.loads(capsys.readouterr().out)
    assert body["suggestions"] == expected
    assert body["staff"][surveyed[0].staff]["suggestions"][0]["transcript"] == "希望 周末 也 开 窗口"
    # Each reading is audited, by the system user who ran the command; the counts alone read no transcript.
    assert await asyncio.to_thread(surveys_cli, "results", "--week", WEEK, "--format", "scoring") == 0
    entries = await audit_rows(sessions)
    assert [(e.actor, e.action, e.detail) for e in entries] == [
        (CLI_USER, "transcript.read", "survey results 2026-12"),
        (CLI_USER, "transcript.read", f"survey results {WEEK}")]


async def test_a_calls_text_is_its_newest_kept_recordings_else_its_newest_jobs_state(sessions, surveyed, suggested):
    first, second, _, fourth = surveyed[:4]
    async with sessions() as session:
        # The first call recorded again (a re-archived file): its newest recording's job failed.
        again = Recording(call_id=suggested[first.case], source="again.wav", path="2026/11/30/again.wav", format="wav",
                          size_bytes=1000, sha256="1" * 64, condition="ok", recorded_at=MONDAY, ingested_at=MONDAY)
        session.add(again)
        await session.flush()
        for state in ("queued", "failed"):
            session.add(TranscriptionJob(recording_id=again.id, state=state, attempts=5, max_attempts=5,
                                         run_after=MONDAY, created_at=MONDAY))
        second_recording = await session.scalar(select(Recording).where(Recording.call_id == suggested[second.case]))
        await session.execute(delete(TranscriptionJob).where(TranscriptionJob.recording_id == second_recording.id))
        texts = await TranscriptTexts().texts(session, list(suggested.values()), Actor("test"), "test")
        await session.commit()
    assert {call: (found.text, found.state) for call, found in texts.items()} == {
        suggested[first.case]: (None, "failed"), suggested[second.case]: (None, "not queued"),
        suggested[fourth.case]: (None, "no recording")}
    # The second transcribed after all, and vosk heard nothing: not an empty text, a state.
    async with sessions() as session:
        session.add(Transcript(recording_id=second_recording.id, model="m", text="", audio_seconds=3,
                               processing_seconds=1, worker="w", created_at=MONDAY))
        await session.flush()
        texts = await TranscriptTexts().texts(session, [suggested[second.case]], Actor("test"), "test")
        await session.commit()
    assert (texts[suggested[second.case]].text, texts[suggested[second.case]].state) == (None, "no speech")
    assert await audit_rows(sessions) == []  # no text shown, nothing read


async def test_the_meeting_report_lists_the_months_suggestions_escaped_from_the_command_and_the_api(
        api, sessions, surveyed, suggested, database_url, monkeypatch, tmp_path):
    async with sessions() as session:
        transcript = await session.scalar(select(Transcript))
        transcript.text = "希望 <b>周末</b> 也 开 窗口"
        await session.commit()
    first, second, _, fourth = surveyed[:4]
    rows = {first.case: "<td>希望 &lt;b&gt;周末&lt;/b&gt; 也 开 窗口</td>",
            second.case: "<td class='none'>(pending)</td>", fourth.case: "<td class='none'>(no recording)</td>"}
    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)
    assert await asyncio.to_thread(main, ["score", "report", "--month", "2026-12", "--output-dir", str(tmp_path)]) == 0
    response = await api.get("/api/v1/scores/report?rubric=yihuang-window&month=2026-12",
                             headers=api.auth("supervisor"))
    assert response.status == 200
    for page in ((tmp_path / "yihuang-window-2026-12.html").read_text(encoding="utf-8"), await response.text()):
        section = page.split("<h2>市民意見 Citizens' suggestions</h2>")[1].split("</table>")[0]
        for survey in (first, second, fourth):
            assert (f"<tr><td>{survey.case}</td><td>{survey.window}</td><td>{survey.staff}</td>"
                    f"{rows[survey.case]}</tr>") in section
        assert "<b>" not in section
    assert [(e.actor, e.detail) for e in await audit_rows(sessions)] == [
        (CLI_USER, "meeting report 2026-12-01 to 2026-12-31"),
        ("supervisor-1", "meeting report 2026-12-01 to 2026-12-31")]


async def test_api_week_shows_each_survey_with_masked_numbers_for_supervisors(api, sessions, surveyed):
    response = await api.get(f"/api/v1/surveys?week={WEEK}", headers=api.auth("supervisor"))
    assert response.status == 200
    body = await response.json()
    assert (body["week"], body["completed"]) == (WEEK, 1)
    # Whether week 49 is over depends on when the test runs; both wordings are tested above.
    ongoing = datetime.now(UTC) < MONDAY + timedelta(days=7)
    assert body["shortfall"] == {"count": 4, "reason": "week in progress: 2 surveys still to call"
                                 if ongoing else "the week ended with 4 surveys not completed"}
    first, second, third = body["surveys"][:3]
    assert first["phone"] == surveyed[0].phone[:3] + "****" + surveyed[0].phone[-4:]
    assert first["answers"] == {"attitude": 1, "efficiency": 2, "compliance": 3}
    async with sessions() as session:
        call_id = await session.scalar(select(Call.id))
    assert first["suggestion"] == {"file": "survey-x-1.1.wav", "call": call_id,
                                   "recording": f"/api/v1/calls/{call_id}/recording",
                                   "transcript": f"/api/v1/calls/{call_id}/transcript"}
    assert first["complaint_case"] == f"CP-{surveyed[0].case}"
    assert (second["status"], second["answers"]["efficiency"], second["suggestion"]) == ("partial", None, None)
    assert third["attempts"] == [{"number": 1, "at": "2026-11-30T01:00:00+00:00", "outcome": "busy"}]
    admin = await (await api.get(f"/api/v1/surveys?week={WEEK}", headers=api.auth("admin"))).json()
    assert admin["surveys"][0]["phone"] == surveyed[0].phone


async def test_api_refuses_bad_weeks_and_other_roles(api, surveyed):
    assert (await api.get("/api/v1/surveys?week=49", headers=api.auth("supervisor"))).status == 400
    # Well-formed, but 2027 has 52 ISO weeks.
    response = await api.get("/api/v1/surveys?week=2027-W53", headers=api.auth("supervisor"))
    assert response.status == 404 and (await response.json())["error"] == "not-found"
    assert (await api.get("/api/v1/surveys/results?month=2026-13", headers=api.auth("supervisor"))).status == 400
    assert (await api.get(f"/api/v1/surveys?week={WEEK}", headers=api.auth("operator"))).status == 403
    assert (await api.get(f"/api/v1/surveys?week={WEEK}")).status == 401
    response = await api.get("/api/v1/surveys/results?week=2026-W49&month=2026-12", headers=api.auth("supervisor"))
    assert response.status == 400 and (await response.json())["error"] == "invalid-input"


async def test_api_results_for_the_month_by_window(api, surveyed):
    response = await api.get("/api/v1/surveys/results?month=2026-12&by=window", headers=api.auth("supervisor"))
    body = await response.json()
    assert body["weeks"][0] == WEEK
    assert (body["total"]["completed"], body["total"]["partial"]) == (1, 1)
    assert body["total"]["satisfaction_rate"] == 0.5
    assert sum(row["surveys"] for row in body["window"].values()) == 5


async def test_results_command_table_and_json(surveys_cli, surveyed, capsys):
    assert await asyncio.to_thread(surveys_cli, "results", "--week", WEEK, "--by", "staff") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"surveys {WEEK} ({WEEK})"
    assert lines[2].split() == ["total", "5", "1", "1", "1", "0", "2", "1", "50.0%"]
    assert await asyncio.to_thread(surveys_cli, "results", "--month", "2026-12", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["total"]["satisfaction_rate"] == 0.5
    assert await asyncio.to_thread(surveys_cli, "results", "--month", "2026-12", "--format", "scoring") == 0
    assert json.loads(capsys.readouterr().out) == {"satisfaction": {"gongan": {"surveys": 2, "satisfied": 1}}}


async def test_an_operator_opts_a_number_out_and_its_open_survey_ends(api, sessions, surveyed):
    pending = surveyed[3]
    response = await api.post("/api/v1/survey-opt-outs", json={"phone": f"+86 {pending.phone}"},
                              headers=api.auth("operator"))
    assert response.status == 200
    assert await response.json() == {"phone": pending.phone[:3] + "****" + pending.phone[-4:], "ended": 1}
    async with sessions() as session:
        opted = await session.get(store.OptOut, pending.phone)
        survey = await session.get(store.Survey, pending.id)
    assert (opted.by, survey.status) == ("operator operator-1", "opted-out")
    for body in ({"phone": "110"}, {"phone": 13800138000}, {"phone": pending.phone, "reason": "x" * 201}):
        response = await api.post("/api/v1/survey-opt-outs", json=body, headers=api.auth("operator"))
        assert response.status == 400
    response = await api.post("/api/v1/survey-opt-outs", json={"phone": pending.phone}, headers=api.auth("handler"))
    assert response.status == 403
