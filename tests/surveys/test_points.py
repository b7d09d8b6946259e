"""Surveys into scores without --input: each dissatisfied citizen costs the staff member 5 on
yihuang-staff (績(1), no verification), apart from the verified complaint (德(2)); the XX city
annual public evaluation follows the year's satisfaction rate."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from hotline.cases.desk import SurveyDesk
from hotline.cases.store import CaseRow, Department, act_on_case, save_departments
from hotline.cli import main
from hotline.config import CasesConfig, SurveyConfig
from hotline.errors import ConfigError
from hotline.surveys import store
from hotline.surveys.dialer import close_call
from hotline.surveys.points import Dissatisfied
from scoring.case_points import CasePoints
from scoring.occurrences import Subject
from scoring.store import OccurrenceEntry, reverse_occurrence, save_subject
from scoring.survey_points import SurveyPoints
from tests.cases.conftest import SUPERVISOR, T0, services  # noqa: F401  (a fixture)
from tests.cases.test_store import to_feedback, walk
from tests.surveys.conftest import MONDAY, WEEK, case_desk, case_of

CONFIG = SurveyConfig()
POINTS = SurveyPoints(CONFIG.dissatisfied_rubrics, CONFIG.dissatisfied_item)
CLOSED = MONDAY + timedelta(hours=10)  # Monday 30 November, in week 49, which counts in December


@pytest.fixture
async def calling(sessions, served) -> list[store.Survey]:
    """Week 49 drawn, every survey on the phone; staff-0..2 (gongan) are scoring subjects,
    staff-9 (shuiwu) is not."""
    async with sessions() as session:
        for n in range(3):
            await save_subject(session, Subject(f"staff-{n}", f"窗口人员{n}"), "staff")
        drawn = await store.draw_week(session, WEEK, CONFIG, case_desk(), MONDAY)
        for survey in drawn.surveys:
            survey.status = "calling"
        # Whom the draw picks is random: the last one is about shuiwu's staff-9 here.
        drawn.surveys[-1].window, drawn.surveys[-1].staff = "shuiwu", "staff-9"
        for n, survey in enumerate(drawn.surveys[:-1]):
            survey.window, survey.staff = "gongan", f"staff-{n % 3}"
        await session.commit()
        return drawn.surveys


async def answered(sessions, case: str, *values: int | None) -> None:
    async with sessions() as session:
        survey = await session.scalar(select(store.Survey).where(store.Survey.case == case))
        survey.attitude, survey.efficiency, survey.compliance = values
        await session.commit()


async def ledger(sessions) -> list[OccurrenceEntry]:
    async with sessions() as session:
        return list(await session.scalars(select(OccurrenceEntry).order_by(OccurrenceEntry.id)))


async def entries_of(sessions, subject: str, item: str) -> int:
    return sum(1 for row in await ledger(sessions) if row.subject_id == subject and row.item == item)


def of_staff(surveys, scored: bool) -> list[store.Survey]:
    return [s for s in surveys if (s.staff != "staff-9") == scored]


async def test_a_dissatisfied_citizen_costs_the_staff_member_5_once_however_many_questions_got_a_3(
        sessions, calling, monkeypatch, database_url, tmp_path):
    survey = of_staff(calling, True)[0]
    await answered(sessions, survey.case, 3, 3, 1)
    assert await close_call(sessions, survey.case, CONFIG, case_desk(), CLOSED, points=POINTS) == "completed"
    # Closed again (the flow's end and the PBX's settling both close it): nothing more.
    assert await close_call(sessions, survey.case, CONFIG, case_desk(), CLOSED, points=POINTS) is None
    [entry] = await ledger(sessions)
    assert (entry.rubric, entry.subject_id, entry.item, entry.count, entry.source) == (
        "yihuang-staff", survey.staff, "dissatisfied", 1, "survey")
    assert entry.evidence.startswith(f"case {survey.case}; callback survey {WEEK}")
    assert "attitude, efficiency" in entry.evidence
    # Ended on Monday 30 November, but week 49 counts in December: so do its points.
    assert entry.day == date(2026, 12, 1)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)
    out = tmp_path / "month.json"
    assert await asyncio.to_thread(main, ["score", "month", "--rubric", "yihuang-staff", "--month", "2026-12",
                                          "--format", "json", "--output", str(out)]) == 0
    [result] = [r for r in json.loads(out.read_text())["results"] if r["subject"] == survey.staff]
    assert (result["total"], result["categories"]["performance"]) == (95, 25)
    assert result["satisfaction"]["dissatisfied"] == [survey.case]


async def test_partial_surveys_count_and_opted_out_ones_do_not_as_in_the_satisfaction_rate(sessions, calling):
    partial, opted, satisfied = of_staff(calling, True)[:3]
    await answered(sessions, partial.case, 3, None, None)
    await answered(sessions, opted.case, 3, None, None)
    await answered(sessions, satisfied.case, 1, 2, 2)
    assert await close_call(sessions, partial.case, CONFIG, case_desk(), CLOSED, points=POINTS) == "partial"
    assert await close_call(sessions, opted.case, CONFIG, case_desk(), CLOSED, opted_out=True,
                            points=POINTS) == "opted-out"
    assert await close_call(sessions, satisfied.case, CONFIG, case_desk(), CLOSED, points=POINTS) == "completed"
    assert [row.evidence.split(";")[0] for row in await ledger(sessions)] == [f"case {partial.case}"]


class FailingDesk(SurveyDesk):
    """The cases workflow failing while the survey ends (the database went away, the daemon was
    killed): the survey's transaction is not committed."""

    async def open_complaint(self, session, **fields):
        raise OSError("connection lost")


async def test_a_close_that_fails_enters_nothing_and_the_next_one_after_a_restart_enters_it_once(sessions, calling):
    survey = of_staff(calling, True)[0]
    await answered(sessions, survey.case, 1, 3, 2)
    with pytest.raises(OSError):
        await close_call(sessions, survey.case, CONFIG, FailingDesk(CasesConfig()), CLOSED, points=POINTS)
    async with sessions() as session:
        assert (await session.get(store.Survey, survey.id)).status == "calling"
    assert await ledger(sessions) == []
    # The restarted daemon settles the call from the PBX with fresh services.
    fresh = SurveyPoints(CONFIG.dissatisfied_rubrics, CONFIG.dissatisfied_item)
    assert await close_call(sessions, survey.case, CONFIG, case_desk(), CLOSED, points=fresh) == "completed"
    assert await close_call(sessions, survey.case, CONFIG, case_desk(), CLOSED, points=fresh) is None
    assert len(await ledger(sessions)) == 1


async def test_two_closing_the_same_survey_at_once_enter_it_once(sessions, calling):
    survey = of_staff(calling, True)[0]
    await answered(sessions, survey.case, 3, 1, 1)
    ended = await asyncio.gather(*(close_call(sessions, survey.case, CONFIG, case_desk(), CLOSED, points=POINTS)
                                   for _ in range(2)))
    assert (ended.count("completed"), ended.count(None)) == (1, 1)
    assert len(await ledger(sessions)) == 1
    async with sessions() as session:
        complaints = await session.scalars(select(CaseRow.number).where(CaseRow.type == "complaint"))
        assert len(list(complaints)) == 1


async def test_a_staff_member_who_is_not_a_scoring_subject_is_said_not_scored_and_the_survey_completes(
        sessions, calling, caplog):
    survey = of_staff(calling, False)[0]
    await answered(sessions, survey.case, 3, 1, 1)
    with caplog.at_level(logging.WARNING, logger="scoring"):
        assert await close_call(sessions, survey.case, CONFIG, case_desk(), CLOSED, points=POINTS) == "completed"
    assert await ledger(sessions) == []
    assert "staff 'staff-9' is not a scoring subject of yihuang-staff" in caplog.text
    resolved = (await case_of(sessions, survey.case)).history[-1]
    assert resolved.action == "resolve"
    assert "not scored: staff 'staff-9' is not a scoring subject" in resolved.note
    async with sessions() as session:
        kept = await session.get(store.Survey, survey.id)
    assert (kept.status, kept.attitude, kept.complaint_case is not None) == ("completed", 3, True)


async def test_the_verified_complaint_from_the_same_answer_is_its_own_item(sessions, calling, services):
    survey = of_staff(calling, True)[0]
    desk = SurveyDesk(CasesConfig(), CasePoints("yihuang-window", ["yihuang-staff"]))
    async with sessions() as session:
        await save_subject(session, Subject("gongan", "公安局窗口"), "window")
        await save_subject(session, Subject(survey.staff, "窗口人员"), "staff", window_id="gongan")
    await answered(sessions, survey.case, 3, 1, 1)
    await close_call(sessions, survey.case, CONFIG, desk, CLOSED, points=POINTS)
    async with sessions() as session:
        complaint = (await session.get(store.Survey, survey.id)).complaint_case
        await walk(session, complaint, services, *to_feedback())
        await act_on_case(session, complaint, "verify", {"passed": True, "substantiated": True}, SUPERVISOR, T0,
                          services)
    # 績(1) 服務對象不滿意 needs no verification; 德(2) 服務對象投訴經查實 came with it.
    assert await entries_of(sessions, survey.staff, "dissatisfied") == 1
    assert await entries_of(sessions, survey.staff, "verified-complaint") == 1
    # A supervisor who finds the answer was about someone else reverses the entry; it stays reversed.
    [entry] = [row for row in await ledger(sessions) if row.item == "dissatisfied"]
    async with sessions() as session:
        await reverse_occurrence(session, entry.id, entered_by="李敏", entered_at=T0, note="another window")
        assert await POINTS.dissatisfied(session, _citizen(survey)) == []
        await session.commit()
    assert await entries_of(sessions, survey.staff, "dissatisfied") == 2  # the entry and its reversal


def test_a_rubric_without_the_item_is_a_configuration_error_before_anything_starts():
    with pytest.raises(ConfigError, match="yihuang-window is not a staff rubric with the item 'dissatisfied'"):
        SurveyPoints(["yihuang-window"], "dissatisfied")
    with pytest.raises(ConfigError, match="xx-city-staff is not a staff rubric with the item 'rude-answer'"):
        SurveyPoints(["xx-city-staff"], "rude-answer")
    # XX city's public evaluation counts every survey through the year's rate: never twice.
    with pytest.raises(ConfigError, match="xx-city-staff's 'dissatisfied' is in a category its callback-survey"):
        SurveyPoints(["yihuang-staff", "xx-city-staff"], "dissatisfied")


def _citizen(survey):
    return Dissatisfied(survey.case, WEEK, survey.window, survey.staff, ("attitude",), date(2026, 12, 1), T0)


# -- results per department, and the meeting report ----------------------------------------------


async def test_results_per_department_in_the_api_the_command_and_the_meeting_report(
        sessions, calling, api, monkeypatch, database_url, tmp_path, capsys):
    async with sessions() as session:
        await save_departments(session, [Department(id="police", name="公安局", window="gongan")])
        await save_subject(session, Subject("gongan", "公安局窗口"), "window")
    gongan, shuiwu = of_staff(calling, True)[0], of_staff(calling, False)[0]
    await answered(sessions, gongan.case, 3, 1, 1)
    await answered(sessions, shuiwu.case, 1, 1, 1)
    for survey in (gongan, shuiwu):
        await close_call(sessions, survey.case, CONFIG, case_desk(), CLOSED, points=POINTS)
    response = await api.get("/api/v1/surveys/results?month=2026-12&by=department", headers=api.auth("supervisor"))
    body = await response.json()
    police = body["department"]["police"]
    assert (police["name"], police["answered_surveys"], police["satisfaction_rate"]) == ("公安局", 1, 0.0)
    assert body["department"]["(no department)"]["satisfaction_rate"] == 1.0
    assert body["total"]["satisfaction_rate"] == 0.5
    assert (await api.get("/api/v1/surveys/results?month=2026-12&by=ministry",
                          headers=api.auth("supervisor"))).status == 400

    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)
    assert await asyncio.to_thread(main, ["surveys", "results", "--month", "2026-12", "--by", "department"]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("police")]
    assert line.split()[-2:] == ["0.0%", "公安局"]
    assert await asyncio.to_thread(main, ["score", "report", "--month", "2026-12", "--output-dir", str(tmp_path)]) == 0
    page = (tmp_path / "yihuang-window-2026-12.html").read_text(encoding="utf-8")
    assert "Callback satisfaction by department" in page
    assert "<td>公安局</td><td class='n'>1</td><td class='n'>0</td><td class='n'>0% (0/1)</td>" in page
    response = await api.get("/api/v1/scores/report?rubric=yihuang-window&month=2026-12",
                             headers=api.auth("supervisor"))
    served = await response.text()
    assert "<td>公安局</td><td class='n'>1</td>" in served and "0% (0/1)" in served


# -- XX city: 公眾評價情況 from the year's satisfaction rate ---------------------------------------


async def test_xx_city_public_evaluation_is_10_times_the_years_satisfaction_rate(
        sessions, calling, api, monkeypatch, database_url, tmp_path):
    # staff-0's year: one satisfied and one dissatisfied citizen in week 49, one satisfied in week 50.
    first, second = [s for s in calling if s.staff == "staff-0"]
    await answered(sessions, first.case, 1, 1, 1)
    await answered(sessions, second.case, 3, 2, 2)
    for survey in (first, second):
        await close_call(sessions, survey.case, CONFIG, case_desk(), CLOSED, points=POINTS)
    async with sessions() as session:
        session.add(store.SurveyWeek(week="2026-W50", seed="s", drawn_at=MONDAY))
        await session.flush()
        session.add(store.Survey(week="2026-W50", round=0, case="SURV-LATER", window="gongan", staff="staff-0",
                                 phone="13800009999", status="completed", drawn_at=MONDAY, attitude=1,
                                 efficiency=1, compliance=2))
        await session.commit()

    response = await api.get("/api/v1/scores/year?rubric=xx-city-staff&year=2026", headers=api.auth("supervisor"))
    results = {r["subject"]: r for r in (await response.json())["results"]}
    # 10 x 2/3 = 6.666... -> 6.67; the line names the dissatisfied survey.
    assert results["staff-0"]["categories"]["public-evaluation"] == 6.67
    [line] = [line for line in results["staff-0"]["breakdown"] if line["item"] == "public-evaluation:survey-rate"]
    assert (line["points"], line["source"]) == (-3.33, "survey")
    assert f"case {second.case}" in line["evidence"] and "2/3 satisfied" in line["evidence"]
    assert results["staff-0"]["satisfaction"]["cases"] == [first.case, second.case, "SURV-LATER"]
    # No answered survey all year: the full 10, and the breakdown says why.
    assert results["staff-2"]["categories"]["public-evaluation"] == 10
    [line] = [line for line in results["staff-2"]["breakdown"] if line["item"] == "public-evaluation:survey-rate"]
    assert (line["points"], line["note"]) == (0, "no answered callback survey in 2026: full points")

    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)
    out = tmp_path / "year.txt"
    assert await asyncio.to_thread(main, ["score", "year", "--rubric", "xx-city-staff", "--year", "2026",
                                          "--explain", "staff-0", "--output", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "10 x satisfaction 2/3 = 6.67" in text and f"case {second.case}" in text
    [row] = [line for line in text.splitlines() if line.split()[1:2] == ["staff-0"]]
    assert "6.67" in row.split() and "66.67% (2/3)" in row


async def test_a_year_or_quarter_at_the_calendar_s_end_is_scored_with_its_surveys_not_a_500(api):
    # Counting the weeks of 9999 steps past 31 December 9999, the last day a date can hold.
    for path in ("year?rubric=xx-city-staff&year=9999", "quarter?rubric=yihuang-staff&quarter=9999-Q4"):
        response = await api.get(f"/api/v1/scores/{path}", headers=api.auth("supervisor"))
        assert response.status == 200, await response.text()
        assert (await response.json())["results"] == []


@pytest.mark.postgresql
async def test_an_opt_out_taken_while_the_survey_closes_leaves_it_completed_with_its_point(sessions, calling):
    survey = of_staff(calling, True)[0]
    await answered(sessions, survey.case, 3, 1, 1)
    scoring = asyncio.Event()

    class SlowPoints:
        """The close holds the survey while it scores it: the opt-out comes in meanwhile."""

        async def dissatisfied(self, session, citizen: Dissatisfied) -> list[str]:
            scoring.set()
            await asyncio.sleep(0.5)
            return await POINTS.dissatisfied(session, citizen)

    async def opt_out() -> int:
        await scoring.wait()
        async with sessions() as session:
            return await store.opt_out(session, survey.phone, by="operator li", reason="asked on the phone",
                                       now=CLOSED, desk=case_desk())

    closed, ended = await asyncio.gather(
        close_call(sessions, survey.case, CONFIG, case_desk(), CLOSED, points=SlowPoints()), opt_out())
    # The survey counts as the completed one it is, beside its point: not opted out with a point.
    assert (closed, ended) == ("completed", 0)
    async with sessions() as session:
        assert (await session.scalar(select(store.Survey.status).where(store.Survey.case == survey.case))) == "completed"
        assert await session.get(store.OptOut, survey.phone) is not None
    assert await entries_of(sessions, survey.staff, "dissatisfied") == 1
