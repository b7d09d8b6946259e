"""The dialer against a fake Asterisk over TCP, with a clock the test moves: whole weeks of
retries, calling hours, holidays, replacement draws, a restart and a reconnect mid-call."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy import select

from hotline.cases.desk import SurveyDesk
from hotline.cli import main
from hotline.cases.store import Viewer, act_on_case, case_services, file_case
from hotline.cases.workflow import Actor
from hotline.config import CasesConfig, SurveyConfig
from hotline.db.tables import Call
from hotline.simulator import ANSWERED, BUSY, NO_ANSWER, Channel
from hotline.surveys import store
from hotline.surveys.answers import SurveyAnswers
from hotline.surveys.dialer import SurveyDialer, close_call
from scoring.case_points import CasePoints
from scoring.occurrences import Subject
from scoring.store import save_subject
from tests.cases.conftest import SUPERVISOR, T0, services  # noqa: F401  (a fixture)
from tests.cases.test_store import month_total, to_feedback, walk
from tests.surveys.conftest import MONDAY, WEEK, Clock, case_desk, case_of, import_notice

CONFIG = SurveyConfig(dial="Local/{number}@citizens", caller_id='"Hotline" <12345>', concurrency=2,
                      calls_per_minute=6)


def dialer(sessions, link, clock, config=CONFIG) -> SurveyDialer:
    return SurveyDialer(sessions, config, link, case_desk(), clock=clock)


async def surveys(sessions) -> list[store.Survey]:
    async with sessions() as session:
        return await store.week_surveys(session, WEEK)


async def attempts(sessions) -> list[store.SurveyAttempt]:
    async with sessions() as session:
        return list(await session.scalars(select(store.SurveyAttempt).order_by(store.SurveyAttempt.id)))


def originates(fake) -> list:
    return [request for request in fake.requests if request.get("Action") == "Originate"]


async def answer(sessions, case: str, *values: int | None) -> None:
    """What the survey flow stores as the citizen presses keys."""
    async with sessions() as session:
        survey = await session.scalar(select(store.Survey).where(store.Survey.case == case))
        survey.attitude, survey.efficiency, survey.compliance = values
        await session.commit()


async def test_originate_carries_the_case_its_own_action_id_and_the_centres_caller_id(sessions, served, fake_pbx):
    fake, link = fake_pbx
    clock = Clock(MONDAY.replace(hour=9))
    survey_dialer = dialer(sessions, link, clock)
    started = await survey_dialer.tick()
    await survey_dialer.idle()
    assert len(started) == 2  # concurrency 2
    [first, second] = originates(fake)
    [survey, *_] = await surveys(sessions)
    assert first.get("ActionID") == f"survey-{survey.case}-1" == started[0]
    assert first.get("Channel") == f"Local/{survey.phone}@citizens"
    assert first.get("CallerID") == '"Hotline" <12345>'
    assert (first.get("Context"), first.get("Exten"), first.get("Async")) == ("survey-out", "s", "true")
    assert first.get("Timeout") == "45000"
    assert first.get_all("Variable") == [f"CASE_ID={survey.case}", f"SURVEY_ATTEMPT={started[0]}"]
    assert second.get("ActionID") != first.get("ActionID")


def day(offset: int, hour: int, minute: int = 0) -> datetime:
    """Monday of week 49 plus `offset` days, at hour:minute in Shanghai."""
    return MONDAY + timedelta(days=offset, hours=hour, minutes=minute)


async def test_a_week_of_busy_and_unanswered_calls_retries_at_the_right_times_then_replaces(sessions, served, fake_pbx):
    fake, link = fake_pbx
    config = replace(CONFIG, concurrency=5, calls_per_minute=10)
    # Tuesday a public holiday, as the cases' calendar says (the one deadlines count in).
    await import_notice(sessions, 2026, [date(2026, 12, 1)])
    clock = Clock(day(0, 8))
    survey_dialer = dialer(sessions, link, clock, config)
    assert await survey_dialer.tick() == []  # before calling hours: not even drawn yet
    assert await surveys(sessions) == []

    fake.originate_outcomes = [BUSY, NO_ANSWER, BUSY, NO_ANSWER, BUSY]
    clock.now = day(0, 9)
    assert len(await survey_dialer.tick()) == 5
    await survey_dialer.idle()
    assert {a.outcome for a in await attempts(sessions)} == {"busy", "no-answer"}
    assert {s.next_attempt_at for s in await surveys(sessions)} == {day(0, 11)}

    clock.now = day(0, 10, 59)
    assert await survey_dialer.tick() == []  # 2 hours not yet over
    fake.originate_outcomes = [BUSY] * 5
    clock.now = day(0, 16)
    assert len(await survey_dialer.tick()) == 5
    await survey_dialer.idle()
    # 18:00 is after hours and Tuesday a holiday: the third attempt is Wednesday 09:00.
    assert {s.next_attempt_at for s in await surveys(sessions)} == {day(2, 9)}
    clock.now = day(1, 10)
    assert await survey_dialer.tick() == []

    fake.originate_outcomes = [BUSY] * 5 + [ANSWERED] * 5
    clock.now = day(2, 9)
    assert len(await survey_dialer.tick()) == 5
    await survey_dialer.idle()
    assert {s.status for s in await surveys(sessions)} == {"unreachable"}
    # The next tick draws five replacements (round 1) and calls them.
    clock.advance(minutes=1)
    assert len(await survey_dialer.tick()) == 5
    await survey_dialer.idle()
    assert [s.round for s in await surveys(sessions)] == [0] * 5 + [1] * 5
    starts = sorted({a.started_at for a in await attempts(sessions) if a.number == 1})
    assert starts == [day(0, 9), day(2, 9, 1)]
    assert len(originates(fake)) == 20


async def test_calls_per_minute_spreads_the_starts(sessions, served, fake_pbx):
    fake, link = fake_pbx
    config = replace(CONFIG, concurrency=5, calls_per_minute=2)
    fake.originate_outcomes = [BUSY] * 5
    clock = Clock(MONDAY.replace(hour=9))
    survey_dialer = dialer(sessions, link, clock, config)
    assert len(await survey_dialer.tick()) == 2
    await survey_dialer.idle()
    clock.advance(seconds=59)
    assert await survey_dialer.tick() == []
    clock.advance(seconds=1)
    assert len(await survey_dialer.tick()) == 2


async def test_answered_survey_stays_calling_until_the_flow_closes_it_and_a_complaint_follows(sessions, served, fake_pbx):
    fake, link = fake_pbx
    clock = Clock(MONDAY.replace(hour=9))
    survey_dialer = dialer(sessions, link, clock)
    fake.originate_outcomes = [ANSWERED, ANSWERED]
    await survey_dialer.tick()
    await survey_dialer.idle()
    first, second = (await surveys(sessions))[:2]
    assert (first.status, second.status) == ("calling", "calling")
    assert await survey_dialer.tick() == []  # both lines busy with surveys
    await answer(sessions, first.case, 1, 3, 2)
    assert await close_call(sessions, first.case, CONFIG, case_desk(), clock()) == "completed"
    await answer(sessions, second.case, 2, None, None)
    assert await close_call(sessions, second.case, CONFIG, case_desk(), clock()) == "partial"
    first, second = (await surveys(sessions))[:2]
    assert second.complaint_case is None
    complaint = (await case_of(sessions, first.complaint_case)).case
    assert (complaint.type, complaint.status, complaint.window, complaint.staff) == (
        "complaint", "received", first.window, first.staff)
    assert first.case in complaint.description and "efficiency: dissatisfied" in complaint.description
    # Both survey cases are resolved with their answers: the survey is the case's reply.
    assert (await case_of(sessions, first.case)).history[-1].note == (
        "survey completed: service attitude: satisfied; efficiency: dissatisfied; compliance with rules: basically satisfied")
    assert (await case_of(sessions, second.case)).case.status == "resolved"


async def test_an_extension_asterisk_refuses_is_a_failed_attempt(sessions, served, fake_pbx):
    fake, link = fake_pbx
    fake.originate_outcomes = [None, BUSY]
    survey_dialer = dialer(sessions, link, Clock(MONDAY.replace(hour=9)))
    await survey_dialer.tick()
    await survey_dialer.idle()
    assert sorted(a.outcome for a in await attempts(sessions)) == ["busy", "failure"]


async def test_a_restart_mid_call_never_dials_the_attempt_again_and_settles_it_from_the_pbx(sessions, served, fake_pbx):
    fake, link = fake_pbx
    config = replace(CONFIG, concurrency=1)
    clock = Clock(MONDAY.replace(hour=9))
    fake.originate_delay = 30  # the OriginateResponse would come long after the restart
    before = dialer(sessions, link, clock, config)
    stop = asyncio.Event()
    running = asyncio.create_task(before.run(stop))
    await fake.wait_for(lambda: len(originates(fake)) == 1)
    stop.set()  # the daemon stops mid-call
    await running
    [attempt] = await attempts(sessions)
    [survey] = [s for s in await surveys(sessions) if s.status == "calling"]
    assert attempt.outcome is None

    # On the PBX the call still rings: the restarted dialer leaves it alone.
    channel = Channel(name="Local/x@citizens-00000001;1", uniqueid="1.1", linkedid="1.1",
                      context="survey-out", exten="s", variables={"SURVEY_ATTEMPT": attempt.action_id})
    fake.channels["1.1"] = channel
    after = dialer(sessions, link, clock, config)
    clock.advance(minutes=1)
    assert await after.tick() == []
    assert len(originates(fake)) == 1

    # The call ended while nobody listened; the call tracker saw it end busy.
    del fake.channels["1.1"]
    async with sessions() as session:
        session.add(Call(pbx="test", linkedid="1.1", status="ended", disposition="busy",
                         survey_case=survey.case, started_at=attempt.started_at,
                         ended_at=clock(), updated_at=clock()))
        await session.commit()
    clock.advance(minutes=1)
    started = await after.tick()
    [settled, *_] = await attempts(sessions)
    assert settled.outcome == "busy"
    assert f"survey-{survey.case}-1" not in started
    assert [r.get("ActionID") for r in originates(fake)].count(attempt.action_id) == 1
    [again] = [s for s in await surveys(sessions) if s.case == survey.case]
    assert again.status == "pending" and again.next_attempt_at == day(0, 11, 2)


async def test_an_ami_reconnect_during_a_call_leaves_the_attempt_to_the_pbx(sessions, served, fake_pbx):
    fake, link = fake_pbx
    config = replace(CONFIG, concurrency=1)
    clock = Clock(MONDAY.replace(hour=9))
    fake.originate_delay = 30
    survey_dialer = dialer(sessions, link, clock, config)
    [action_id] = await survey_dialer.tick()
    await fake.wait_for(lambda: len(originates(fake)) == 1)
    logins = fake.logins
    fake.drop()
    await survey_dialer.idle()  # the Originate fails: the connection closed before its answer
    await fake.wait_for(lambda: fake.logins > logins and link.up, timeout=5)
    [attempt] = await attempts(sessions)
    assert attempt.outcome is None
    clock.advance(minutes=1)
    await survey_dialer.tick()
    # No trace of the call on the PBX nor in the call records: the attempt counts, unknown.
    [attempt, *_] = await attempts(sessions)
    assert (attempt.action_id, attempt.outcome) == (action_id, "unknown")
    assert [r.get("ActionID") for r in originates(fake)].count(action_id) == 1


async def test_nothing_is_dialled_while_the_link_is_down(sessions, served, fake_pbx):
    fake, link = fake_pbx
    link.up = False
    assert await dialer(sessions, link, Clock(MONDAY.replace(hour=9))).tick() == []
    assert originates(fake) == []


async def test_an_earlier_answered_attempt_does_not_close_the_survey_while_the_next_one_rings(sessions, served, fake_pbx):
    fake, link = fake_pbx
    config = replace(CONFIG, concurrency=1, retry_minutes=1, per_week=1)
    clock = Clock(day(0, 9))
    survey_dialer = dialer(sessions, link, clock, config)
    fake.originate_outcomes = [ANSWERED]
    [first] = await survey_dialer.tick()
    await survey_dialer.idle()
    [survey] = [s for s in await surveys(sessions) if s.status == "calling"]
    # The citizen picked up and said nothing: called again after the retry interval.
    assert await close_call(sessions, survey.case, config, case_desk(), clock()) == "pending"
    fake.originate_delay = 30  # the second call rings on
    clock.advance(minutes=2)
    [second] = await survey_dialer.tick()
    assert second == f"survey-{survey.case}-2"
    clock.advance(minutes=1)
    assert await survey_dialer.settle_in_doubt() == 0
    [again] = [s for s in await surveys(sessions) if s.case == survey.case]
    assert again.status == "calling"


async def closed_case(sessions, channel: str, phone: str, closed_at: datetime) -> str:
    """A case from `channel` answered on the call (直接办结) at `closed_at`."""
    fields = {"type": "inquiry", "channel": channel, "description": "when does the office open?",
              "caller_number": phone}
    if channel == "12319":
        fields |= {"address": "文化路 1 号", "grid_code": "410106010101"}
    operator = Viewer(Actor("li", "operator"))
    async with sessions() as session:
        services = await case_services(session, CasesConfig())
        filed = await file_case(session, fields, operator.actor, closed_at, services)
        await act_on_case(session, filed.case.number, "resolve", {"answer": "09:00"}, operator, closed_at, services)
    return filed.case.number


async def test_closed_cases_are_called_back_into_the_followup_flow_retried_and_answered(sessions, fake_pbx):
    fake, link = fake_pbx
    config = replace(CONFIG, followup_types=("12345",), followup_days=7)
    chosen = await closed_case(sessions, "12345", "13800000101", day(0, 8))
    await closed_case(sessions, "12319", "13800000102", day(0, 8))           # not a followed-up hotline
    await closed_case(sessions, "12345", "13800000103", day(-10, 8))          # closed too long ago
    clock = Clock(day(0, 8, 30))
    survey_dialer = dialer(sessions, link, clock, config)
    assert await survey_dialer.tick() == []  # before calling hours

    fake.originate_outcomes = [BUSY]
    clock.now = day(0, 9)
    assert await survey_dialer.tick() == [f"survey-{chosen}-1"]
    await survey_dialer.idle()
    [request] = originates(fake)
    assert (request.get("Context"), request.get("Channel")) == ("followup-out", "Local/13800000101@citizens")
    assert request.get_all("Variable") == [f"CASE_ID={chosen}", f"SURVEY_ATTEMPT=survey-{chosen}-1"]
    async with sessions() as session:
        [call] = await session.scalars(select(store.Survey).where(store.Survey.kind == "followup"))
    assert (call.case, call.status, call.next_attempt_at) == (chosen, "pending", day(0, 11))

    fake.originate_outcomes = [ANSWERED]
    clock.now = day(0, 11)
    assert await survey_dialer.tick() == [f"survey-{chosen}-2"]
    await survey_dialer.idle()
    # What the followup flow stores when the citizen presses 3 (dissatisfied).
    await SurveyAnswers(sessions, config, case_desk(), clock).followup(chosen, 3)
    async with sessions() as session:
        call = await session.scalar(select(store.Survey).where(store.Survey.case == chosen))
        answer = await session.get(store.FollowupAnswer, chosen)
    assert (call.status, answer.answer, answer.reopening) == ("completed", 3, chosen)
    assert (await case_of(sessions, chosen)).history[-1].action == "request-reopening"
    clock.advance(days=1)
    assert await survey_dialer.tick() == []  # one follow-up per case
    assert len(originates(fake)) == 2



async def test_a_dissatisfied_answer_opens_a_complaint_whose_verification_costs_the_window(
        sessions, served, fake_pbx, services, database_url, monkeypatch, tmp_path):
    fake, link = fake_pbx
    async with sessions() as session:
        for n in range(3):
            await save_subject(session, Subject(f"staff-{n}", f"窗口人员{n}"), "staff", window_id="gongan")
        await session.commit()
    clock = Clock(MONDAY.replace(hour=9))
    desk = SurveyDesk(CasesConfig(), CasePoints("yihuang-window", ["yihuang-staff"]))
    survey_dialer = SurveyDialer(sessions, CONFIG, link, desk, clock=clock)
    fake.originate_outcomes = [ANSWERED]
    await survey_dialer.tick()
    await survey_dialer.idle()
    # The draw's seed is random, so either of the two calls may be the one shuiwu candidate; take
    # one about the window whose subjects the cases fixture scores.
    [survey, *_] = [s for s in await surveys(sessions) if s.window == "gongan" and s.status == "calling"]
    before = await month_total(sessions, "yihuang-window", "gongan")
    await answer(sessions, survey.case, 3, 1, 1)  # dissatisfied with the attitude
    assert await close_call(sessions, survey.case, CONFIG, desk, clock()) == "completed"
    [survey] = [s for s in await surveys(sessions) if s.case == survey.case]
    # Not counted yet: only the cases workflow's verification decides.
    assert (await month_total(sessions, "yihuang-window", "gongan")).total == before.total
    async with sessions() as session:
        await walk(session, survey.complaint_case, services, *to_feedback())
        await act_on_case(session, survey.complaint_case, "verify", {"passed": True, "substantiated": True},
                          SUPERVISOR, T0, services)
    assert before.total - (await month_total(sessions, "yihuang-window", "gongan")).total == 10
    # The monthly meeting report shows the month's survey satisfaction beside the window's score.
    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)
    assert await asyncio.to_thread(main, ["score", "report", "--month", "2026-12", "--output-dir", str(tmp_path)]) == 0
    page = (tmp_path / "yihuang-window-2026-12.html").read_text(encoding="utf-8")
    assert "0% (0/1)" in page
    assert await asyncio.to_thread(main, ["score", "month", "--rubric", "yihuang-window", "--month", "2026-12",
                                          "--output", str(tmp_path / "month.txt")]) == 0
    table = (tmp_path / "month.txt").read_text(encoding="utf-8").splitlines()
    assert "satisfaction" in table[1]
    [gongan] = [line for line in table if line.split()[1:2] == ["gongan"]]
    assert "0% (0/1)" in gongan
