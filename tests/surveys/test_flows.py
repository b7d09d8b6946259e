"""The survey and follow-up flows over FastAGI, Asterisk's side played by a scripted citizen
whose replies have the shapes capture e shows (GET DATA `200 result=2`, `200 result= (timeout)`,
RECORD FILE `200 result=35 (dtmf) endpos=N`, the HANGUP notice, then 511)."""

from __future__ import annotations


import pytest
from sqlalchemy import select

from callflows.fastagi import FastAgiServer
from callflows.followup import FollowupFlow
from callflows.survey import SurveyFlow
from hotline.cases.store import Viewer, act_on_case, case_services, file_case
from hotline.cases.workflow import Actor
from hotline.config import CasesConfig, SurveyConfig
from hotline.surveys import store
from hotline.surveys.results import CALLING
from hotline.surveys.answers import SurveyAnswers
from tests.fakes.agi import FakeAgiChannel, load_agi_capture, with_env
from tests.surveys.conftest import MONDAY, WEEK, Clock, case_desk, case_of

ENVIRONMENT = load_agi_capture("e-callback-survey.1").environment
CONFIG = SurveyConfig()
DEAD = b"511 Command Not Permitted on a dead channel or intercept routine\n"


class Citizen:
    """Answers each AGI command as Asterisk would for a citizen pressing `keys` in turn (None:
    no key before the timeout) and hanging up when the keys run out (if `hang_up_early`)."""

    def __init__(self, case: str, keys: list[str | None], *, hang_up_early: bool = False,
                 hang_up_recording: bool = False) -> None:
        self.case = case
        self.keys = list(keys)
        self.hang_up_early = hang_up_early
        self.hang_up_recording = hang_up_recording
        self.commands: list[str] = []
        self.dead = False

    def reply(self, command: str) -> bytes:
        self.commands.append(command)
        verb = " ".join(command.split()[:2])
        if self.dead:
            return b"200 result=1 ()\n" if verb == "GET VARIABLE" else DEAD
        if verb == "GET VARIABLE":
            name = command.split()[2]
            values = {"CASE_ID": self.case, "SURVEY_ATTEMPT": f"survey-{self.case}-1"}
            return f"200 result=1 ({values[name]})\n".encode() if name in values else b"200 result=0\n"
        if verb == "GET DATA":
            if not self.keys:
                if self.hang_up_early:
                    self.dead = True
                    return b"200 result=-1\nHANGUP\n"
                return b"200 result= (timeout)\n"
            key = self.keys.pop(0)
            return b"200 result= (timeout)\n" if key is None else f"200 result={key}\n".encode()
        if verb == "RECORD FILE":
            if self.hang_up_recording:
                self.dead = True
                return b"200 result=-1 (hangup) endpos=16000\nHANGUP\n"
            return b"200 result=35 (dtmf) endpos=5298\n"
        if verb == "HANGUP":
            self.dead = True
            return b"200 result=1\nHANGUP\n"
        if verb == "STREAM FILE":
            return b"200 result=0 endpos=7679\n"
        return b"200 result=0\n" if verb == "ANSWER" else b"200 result=1\n"


async def call(port: int, citizen: Citizen, script: bytes = b"survey") -> list[str]:
    channel = await FakeAgiChannel.connect(port)
    try:
        await channel.send(with_env(ENVIRONMENT, agi_network_script=script))
        while (line := await channel.read_command()) is not None:
            await channel.send(citizen.reply(line.decode().rstrip("\n")))
    finally:
        await channel.close()
    return citizen.commands


@pytest.fixture
async def calling(sessions, served) -> list[store.Survey]:
    """The week drawn, every survey being called (attempt 1 in flight)."""
    async with sessions() as session:
        drawn = await store.draw_week(session, WEEK, CONFIG, case_desk(), MONDAY)
        for survey in drawn.surveys:
            survey.status = CALLING
            session.add(store.SurveyAttempt(survey_id=survey.id, number=1,
                                            action_id=f"survey-{survey.case}-1", started_at=MONDAY))
        await session.commit()
        return drawn.surveys


@pytest.fixture
async def flows(sessions, tmp_path):
    answers = SurveyAnswers(sessions, CONFIG, case_desk(), Clock(MONDAY.replace(hour=10)))
    server = FastAgiServer({"survey": SurveyFlow(answers, CONFIG, tmp_path / "spool"),
                            "followup": FollowupFlow(answers, CONFIG)},
                           "127.0.0.1", 0, environment_timeout=1, command_timeout=2, grace=1)
    await server.start()
    yield server
    await server.close()


async def survey_of(sessions, case: str) -> store.Survey:
    async with sessions() as session:
        return await session.scalar(select(store.Survey).where(store.Survey.case == case))


async def test_a_whole_survey_stores_three_answers_the_suggestion_and_opens_a_complaint(sessions, calling, flows, tmp_path):
    case = calling[0].case
    commands = await call(flows.port, Citizen(case, ["1", "3", "2", "1"]))
    path = tmp_path / "spool" / f"survey-{case}-1795811296.42"
    assert commands == [
        "ANSWER", "GET VARIABLE CASE_ID", "GET VARIABLE SURVEY_ATTEMPT",
        "STREAM FILE hello-world \"\"",
        "GET DATA beep 6000 1", "GET DATA beep 6000 1", "GET DATA beep 6000 1",
        "GET DATA beep 6000 1",
        f"SET VARIABLE MIXMONITOR_FILENAME \"{path}.wav\"",
        f"RECORD FILE {path} wav \"#\" 60000 0 BEEP",
        "STREAM FILE auth-thankyou \"\"", "HANGUP",
    ]
    survey = await survey_of(sessions, case)
    assert (survey.status, survey.attitude, survey.efficiency, survey.compliance) == ("completed", 1, 3, 2)
    assert survey.suggestion == f"survey-{case}-1795811296.42.wav"
    complaint = (await case_of(sessions, survey.complaint_case)).case
    assert (complaint.type, complaint.channel, complaint.window, complaint.staff) == (
        "complaint", "survey", survey.window, survey.staff)
    async with sessions() as session:
        attempt = await session.scalar(select(store.SurveyAttempt).where(store.SurveyAttempt.survey_id == survey.id))
    assert attempt.outcome == "answered"  # known from the flow even if the OriginateResponse was lost


async def test_no_input_and_an_invalid_key_repeat_the_question_at_most_twice(sessions, calling, flows):
    case = calling[0].case
    # attitude: silence, 7 (invalid), then 2; efficiency: three silences; compliance: 1; no suggestion.
    commands = await call(flows.port, Citizen(case, [None, "7", "2", None, None, None, "1", None]))
    assert commands.count("STREAM FILE beep \"\"") == 1  # the invalid-key prompt, once
    assert commands.count("GET DATA beep 6000 1") == 3 + 3 + 1 + 1
    survey = await survey_of(sessions, case)
    assert (survey.status, survey.attitude, survey.efficiency, survey.compliance) == ("partial", 2, None, 1)
    assert survey.complaint_case is None and survey.suggestion is None


async def test_a_hang_up_mid_survey_keeps_the_answers_given(sessions, calling, flows):
    case = calling[0].case
    await call(flows.port, Citizen(case, ["2"], hang_up_early=True))
    survey = await survey_of(sessions, case)
    assert (survey.status, survey.attitude, survey.efficiency) == ("partial", 2, None)


async def test_a_citizen_who_answers_and_says_nothing_is_called_again(sessions, calling, flows):
    case = calling[0].case
    await call(flows.port, Citizen(case, [], hang_up_early=True))
    survey = await survey_of(sessions, case)
    assert survey.status == "pending"
    assert survey.next_attempt_at == MONDAY.replace(hour=14)  # 12:00 is the lunch break


async def test_the_opt_out_key_ends_the_survey_and_the_number_is_never_called_again(sessions, calling, flows):
    case = calling[0].case
    commands = await call(flows.port, Citizen(case, ["1", "9"]))
    assert commands[-2:] == ["STREAM FILE vm-goodbye \"\"", "HANGUP"]
    survey = await survey_of(sessions, case)
    assert (survey.status, survey.attitude) == ("opted-out", 1)
    async with sessions() as session:
        assert await session.get(store.OptOut, survey.phone) is not None


async def test_a_call_for_an_unknown_case_is_hung_up(sessions, calling, flows):
    commands = await call(flows.port, Citizen("SV-1999-W01-1", ["1"]))
    assert commands == ["ANSWER", "GET VARIABLE CASE_ID", "GET VARIABLE SURVEY_ATTEMPT", "HANGUP"]


async def test_prompts_follow_the_channels_language(sessions, calling, tmp_path):
    from hotline.config import SurveyPrompts
    config = SurveyConfig(prompts={"en": SurveyPrompts(), "zh": SurveyPrompts(greeting="/srv/zh/greeting")})
    answers = SurveyAnswers(sessions, config, case_desk(), Clock(MONDAY.replace(hour=10)))
    server = FastAgiServer({"survey": SurveyFlow(answers, config, tmp_path)}, "127.0.0.1", 0)
    await server.start()
    try:
        citizen = Citizen(calling[0].case, ["1", "1", "1", None])
        channel = await FakeAgiChannel.connect(server.port)
        await channel.send(with_env(ENVIRONMENT, agi_language=b"zh"))
        while (line := await channel.read_command()) is not None:
            await channel.send(citizen.reply(line.decode().rstrip("\n")))
        await channel.close()
    finally:
        await server.close()
    assert "STREAM FILE /srv/zh/greeting \"\"" in citizen.commands


async def resolved_case(sessions) -> str:
    """A 12345 inquiry answered on the call (直接办结): a closed case to follow up."""
    async with sessions() as session:
        services = await case_services(session, CasesConfig())
        operator = Viewer(Actor("li", "operator"))
        filed = await file_case(session, {"type": "inquiry", "channel": "12345", "description": "opening hours?",
                                          "caller_number": "13800000042"}, operator.actor, MONDAY, services)
        await act_on_case(session, filed.case.number, "resolve", {"answer": "09:00-17:30"}, operator, MONDAY, services)
        return filed.case.number


@pytest.mark.parametrize("key, answer, asks", [("1", 1, False), ("3", 3, True), (None, None, False)])
async def test_the_followup_asks_one_question_and_a_dissatisfied_answer_asks_for_reopening(sessions, flows, key, answer, asks):
    number = await resolved_case(sessions)
    keys = [key] if key else [None, None, None]
    commands = await call(flows.port, Citizen(number, keys), script=b"followup")
    assert commands[:3] == ["ANSWER", "GET VARIABLE CASE_ID", "STREAM FILE hello-world \"\""]
    assert commands[-1] == "HANGUP"
    async with sessions() as session:
        row = await session.get(store.FollowupAnswer, number)
    assert (row.answer, row.reopening) == (answer, number if asks else None)
    case = await case_of(sessions, number)
    # The request is on the case's history; whether it goes back is the supervisor's decision.
    assert case.case.status == "resolved"
    assert [step.action for step in case.history] == ["file", "resolve"] + (["request-reopening"] if asks else [])


async def test_a_dissatisfied_followup_of_an_unknown_case_keeps_the_answer(sessions, flows):
    await call(flows.port, Citizen("12345-19990101-0001", ["3"]), script=b"followup")
    async with sessions() as session:
        row = await session.get(store.FollowupAnswer, "12345-19990101-0001")
    assert (row.answer, row.reopening) == (3, None)


async def test_a_hang_up_during_the_suggestion_keeps_it_and_the_answers(sessions, calling, flows):
    case = calling[0].case
    commands = await call(flows.port, Citizen(case, ["1", "1", "2", "1"], hang_up_recording=True))
    assert commands[-2].startswith("SET VARIABLE MIXMONITOR_FILENAME") and commands[-1].startswith("RECORD FILE")
    survey = await survey_of(sessions, case)
    assert (survey.status, survey.attitude, survey.efficiency, survey.compliance) == ("completed", 1, 1, 2)
    assert survey.suggestion == f"survey-{case}-1795811296.42.wav"
