"""What the console's tests find in the database: calls, a recording with its transcript, scores,
departments' cases and surveys."""

from __future__ import annotations

import hashlib
import math
import struct
import wave
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from hotline.cases.desk import SurveyDesk
from hotline.cases.store import Department, Viewer, act_on_case, case_services, file_case, save_departments
from hotline.cases.workflow import Actor
from hotline.config import CasesConfig, SurveyConfig
from hotline.db.tables import Call, CallRating
from hotline.surveys import store
from hotline.surveys.served import ServedItem
from hotline.surveys.store import Survey, SurveyAttempt, SurveyWeek
from recordings.search import bigrams, searchable
from recordings.store import Recording, Transcript, TranscriptSegment
from scoring.occurrences import Occurrence, Subject
from scoring.store import record_occurrence, save_subject

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)  # 09:00 in Beijing
SURVEY_WEEK = "2026-W49"
SURVEY_MONDAY = datetime(2026, 11, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
SECONDS = 20.0
# (speaker, start, words): the agent greets, the caller speaks, the agent closes.
LINES = [
    ("agent", 0.5, ["您好", "12345", "热线", "为您服务"]),
    ("caller", 4.0, ["我", "要", "反映", "道路", "积水"]),
    ("agent", 9.0, ["好的", "我", "不知道", "具体", "位置"]),
    ("agent", 15.0, ["感谢", "您的", "来电"]),
]


def stored_call(n: int, **fields) -> Call:
    values = dict(
        pbx="main", linkedid=f"1795900000.{n}", hotline="12345", caller_number="13812345678",
        caller_name="张三市民", status="ended", disposition="answered",
        started_at=T0 + timedelta(minutes=n), answered_at=T0 + timedelta(minutes=n, seconds=5),
        ended_at=T0 + timedelta(minutes=n, seconds=65), wait_seconds=5.0, talk_seconds=60.0,
        hangup_cause=16, hangup_cause_text="Normal Clearing", agent="PJSIP/8001", updated_at=T0,
    )
    return Call(**(values | fields))


async def add_calls(sessions) -> None:
    """Four calls of 27 November 2026 (one abandoned, one on 12319); two of them rated after the
    operator hung up: satisfied and dissatisfied."""
    async with sessions() as session, session.begin():
        session.add_all([
            stored_call(30, wait_seconds=21.0), stored_call(95, disposition="abandoned", answered_at=None, talk_seconds=0.0),
            stored_call(130, hotline="12319", agent="PJSIP/8002"), stored_call(200, wait_seconds=3.0),
        ])
        session.add_all([CallRating(linkedid=f"1795900000.{n}", uniqueid=f"1795900000.{n}", rating=rating,
                                    rated_at=stored_call(n).ended_at) for n, rating in ((30, 1), (200, 3))])


def tone(path: Path, seconds: float = SECONDS) -> bytes:
    """A mono 8 kHz 16-bit WAV of a quiet tone, `seconds` long (what MixMonitor writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"".join(struct.pack("<h", int(2000 * math.sin(i / 8000 * 2 * math.pi * 440)))
                                 for i in range(int(8000 * seconds))))
    return path.read_bytes()


async def add_recorded_call(sessions, root: Path, n: int = 1) -> int:
    """A call with a 20-second recording in `root` and its transcript; its id."""
    relative = f"2026/11/27/call-{n}.wav"
    audio = tone(root / relative)
    async with sessions() as session, session.begin():
        call = stored_call(n, recording=f"/var/spool/asterisk/monitor/1795900000.{n}.wav")
        session.add(call)
        await session.flush()
        recording = Recording(
            call_id=call.id, source=f"1795900000.{n}.wav", path=relative, format="wav", sample_rate=8000,
            channels=1, duration_seconds=SECONDS, size_bytes=len(audio), sha256=hashlib.sha256(audio).hexdigest(),
            condition="ok", recorded_at=call.started_at, ingested_at=call.ended_at,
        )
        session.add(recording)
        await session.flush()
        transcript = Transcript(recording_id=recording.id, model="vosk-model-small-cn-0.22",
                                text=" ".join(" ".join(words) for _, _, words in LINES), audio_seconds=SECONDS,
                                processing_seconds=1.0, worker="test", created_at=call.ended_at)
        session.add(transcript)
        await session.flush()
        for speaker, start, words in LINES:
            text = " ".join(words)
            session.add(TranscriptSegment(
                transcript_id=transcript.id, speaker=speaker, start=start, end=start + len(words), text=text,
                search_text=searchable(text), search_pairs=bigrams(searchable(text)),
                call_started_at=call.started_at,
                words=[{"word": w, "start": start + i, "end": start + i + 0.8, "conf": 1.0} for i, w in enumerate(words)],
            ))
        return call.id


async def add_scores(sessions, call_id: int) -> None:
    """October 2026 on yihuang-window: 公安局 loses 6 points for an argument heard on call `call_id`."""
    async with sessions() as session:
        await save_subject(session, Subject("gongan", "公安局"), "window")
        await save_subject(session, Subject("guotu", "國土局"), "window")
        await record_occurrence(session, "yihuang-window", Occurrence(
            id="", subject="gongan", item="complaint-argument", date=date(2026, 10, 12),
            source="complaint", evidence=f"call:{call_id}@9", entered_by="督查股",
            entered_at=datetime(2026, 10, 13, tzinfo=timezone.utc)))


async def add_department_work(sessions, now: datetime) -> dict[str, str]:
    """For the dashboard: 公安局 (gongan) has an open case and an overdue one, 城管局 (urban) a
    closed one, one case waits to be dispatched; November 2026's surveys about window gongan:
    one satisfied, one dissatisfied (partly answered), one unreachable. The case numbers by role."""
    boss = Viewer(Actor("wang.supervisor", "supervisor"))
    numbers = {}
    async with sessions() as session:
        await save_departments(session, [Department(id="gongan", name="公安局", window="gongan"),
                                         Department(id="urban", name="城管局", window=None)])
        services = await case_services(session, CasesConfig())
        for name, department, filed_at in [("open", "gongan", now), ("overdue", "gongan", now - timedelta(days=40)),
                                           ("closed", "urban", now), ("waiting", None, now)]:
            number = (await file_case(session, {"type": "inquiry", "channel": "12345", "description": "路灯不亮",
                                                "caller_number": "13900000002"}, boss.actor, filed_at, services)).case.number
            numbers[name] = number
            if department:
                await act_on_case(session, number, "register", {}, boss, filed_at, services)
                await act_on_case(session, number, "dispatch", {"department": department}, boss, filed_at, services)
        urban = Viewer(Actor("urban.handler", "handler", "urban"))
        for viewer, action, body in [(urban, "acknowledge", {}), (urban, "feedback", {"text": "已修复"}),
                                     (boss, "verify", {"passed": True})]:
            await act_on_case(session, numbers["closed"], action, body, viewer, now, services)
    async with sessions() as session, session.begin():
        session.add(SurveyWeek(week="2026-W48", seed="0" * 64, drawn_at=T0))
        await session.flush()
        for n, (status, answers) in enumerate([("completed", (1, 2, 1)), ("partial", (3, None, None)),
                                               ("unreachable", (None, None, None))]):
            session.add(Survey(kind="survey", week="2026-W48", round=1, case=f"survey-{n}", window="gongan",
                               staff="li", phone="13700000001", status=status, drawn_at=T0,
                               attitude=answers[0], efficiency=answers[1], compliance=answers[2]))
    return numbers


async def add_survey_week(sessions, root: Path) -> dict[str, str | int]:
    """Week 2026-W49 drawn from the three citizens served the week before (two short of five):
    one survey completed (answers 1, 3, 2, so a complaint; a spoken suggestion, recorded in
    `root` and transcribed), one partial (2, then the citizen hung up), one unreachable after
    three attempts. The case numbers by what they are, and the suggestion's call."""
    tuesday = SURVEY_MONDAY + timedelta(days=1)
    items = [ServedItem("gongan", f"staff-{n}", f"市民{n}", f"1380013800{n}", "居住证办理",
                        SURVEY_MONDAY - timedelta(days=2, hours=n)) for n in range(3)]
    desk = SurveyDesk(CasesConfig())
    async with sessions() as session:
        await store.add_served_items(session, items, SURVEY_MONDAY)
        drawn = await store.draw_week(session, SURVEY_WEEK, SurveyConfig(), desk, SURVEY_MONDAY)
        # Which citizen the draw picks for which part is random: the parts are given here.
        completed, partial, unreachable = drawn.surveys
        for survey, window in ((completed, "gongan"), (partial, "shuiwu"), (unreachable, "gongan")):
            survey.window = window
        completed.status, completed.attitude, completed.efficiency, completed.compliance = "completed", 1, 3, 2
        completed.suggestion = "survey-w49-1.wav"
        completed.complaint_case = await desk.open_complaint(
            session, survey_case=completed.case, window="gongan", staff=completed.staff, phone=completed.phone,
            answers={"attitude": 1, "efficiency": 3, "compliance": 2}, at=tuesday + timedelta(hours=10, minutes=3))
        partial.status, partial.attitude = "partial", 2
        unreachable.status = "unreachable"
        for survey, number, hours, outcome in ((completed, 1, 10, "answered"), (partial, 1, 10.25, "answered"),
                                               (unreachable, 1, 10.5, "busy"), (unreachable, 2, 12.5, "no-answer"),
                                               (unreachable, 3, 14.5, "no-answer")):
            session.add(SurveyAttempt(survey_id=survey.id, number=number, action_id=f"w49-{survey.id}-{number}",
                                      started_at=tuesday + timedelta(hours=hours), outcome=outcome))
        relative = "2026/12/01/survey-w49-1.wav"
        audio = tone(root / relative, 6.0)
        said_at = tuesday + timedelta(hours=10)
        call = Call(pbx="main", linkedid="1796100000.1", status="ended", survey_case=completed.case,
                    recording="/var/spool/asterisk/monitor/survey-w49-1.wav", started_at=said_at,
                    ended_at=said_at + timedelta(minutes=2), updated_at=said_at + timedelta(minutes=2))
        session.add(call)
        await session.flush()
        recording = Recording(call_id=call.id, source="survey-w49-1.wav", path=relative, format="wav", sample_rate=8000,
                              channels=1, duration_seconds=6.0, size_bytes=len(audio),
                              sha256=hashlib.sha256(audio).hexdigest(), condition="ok",
                              recorded_at=call.started_at, ingested_at=call.ended_at)
        session.add(recording)
        await session.flush()
        session.add(Transcript(recording_id=recording.id, model="vosk-model-small-cn-0.22", text="希望 周末 也 开 窗口",
                               audio_seconds=6.0, processing_seconds=1.0, worker="test", created_at=call.ended_at))
        await session.commit()
        return {"completed": completed.case, "partial": partial.case, "unreachable": unreachable.case,
                "complaint": completed.complaint_case, "call": call.id}
