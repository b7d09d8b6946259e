"""The survey campaign's tables and queries: served items, opt-outs, weekly draws, surveys and
their call attempts.

The plan lives here, not in memory: a week's draw is one row (its seed) written with its
surveys in one transaction, and a call attempt is written before its Originate is sent, so a
restarted daemon neither draws a week twice nor dials one attempt twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint, select, tuple_, update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline.config import SurveyConfig
from hotline.db.tables import Base, Call
from hotline.db.users import Actor
from hotline.errors import InvalidInput
from hotline.surveys.cases import CaseDesk
from hotline.surveys.draw import Candidate, draw, eligible, followed_up, parse_week, week_bounds
from hotline.surveys.results import (
    CALLING, COMPLETED, NO_DEPARTMENT, NO_RECORDING, OPTED_OUT, PENDING, Suggestion, SurveyRecord,
)
from hotline.surveys.served import ServedItem, phone_number
from hotline.surveys.transcripts import TranscriptText, Transcripts


class ServedItemRow(Base):
    """One completed service item (辦件), the population of the weekly draw."""

    __tablename__ = "served_items"
    __table_args__ = (
        UniqueConstraint("window", "staff", "phone", "item", "completed_at", name="uq_served_items_record"),
        Index("ix_served_items_completed_at", "completed_at"),
        Index("ix_served_items_phone", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    window: Mapped[str] = mapped_column(String(64))
    staff: Mapped[str] = mapped_column(String(64))
    applicant: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32))
    item: Mapped[str] = mapped_column(String(200))
    completed_at: Mapped[datetime]
    imported_at: Mapped[datetime]


class OptOut(Base):
    """A number that is never called again (a key in the survey, or an operator's word)."""

    __tablename__ = "survey_opt_outs"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(200))


# What a call of the dialer is for: a drawn citizen's survey, or a closed case's follow-up.
SURVEY, FOLLOWUP = "survey", "followup"


class SurveyWeek(Base):
    """One ISO week's draw: its seed, so the draw can be reproduced and audited."""

    __tablename__ = "survey_weeks"

    week: Mapped[str] = mapped_column(String(8), primary_key=True)
    seed: Mapped[str] = mapped_column(String(64))
    drawn_at: Mapped[datetime]
    shortfall: Mapped[str | None] = mapped_column(Text)


class Survey(Base):
    """One call to make: a drawn citizen (`kind` survey: a callback-survey case, its answers)
    or the citizen of a closed case (`kind` followup, 回访: no week, item or staff; its answer
    is in `followup_answers`), and where the calling stands. The dialer treats both alike."""

    __tablename__ = "surveys"
    __table_args__ = (Index("ix_surveys_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default=SURVEY, server_default=SURVEY)
    week: Mapped[str | None] = mapped_column(ForeignKey("survey_weeks.week"), index=True)
    round: Mapped[int] = mapped_column(SmallInteger)
    served_item_id: Mapped[int | None] = mapped_column(ForeignKey("served_items.id"))
    case: Mapped[str] = mapped_column(String(64), unique=True)
    window: Mapped[str | None] = mapped_column(String(64))
    staff: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))
    drawn_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attitude: Mapped[int | None] = mapped_column(SmallInteger)
    efficiency: Mapped[int | None] = mapped_column(SmallInteger)
    compliance: Mapped[int | None] = mapped_column(SmallInteger)
    suggestion: Mapped[str | None] = mapped_column(Text)
    complaint_case: Mapped[str | None] = mapped_column(String(64))


class SurveyAttempt(Base):
    """One call attempt, written before its Originate goes out; `outcome` None: in flight."""

    __tablename__ = "survey_attempts"
    __table_args__ = (UniqueConstraint("survey_id", "number", name="uq_survey_attempts_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    number: Mapped[int] = mapped_column(SmallInteger)
    action_id: Mapped[str] = mapped_column(String(100), unique=True)
    started_at: Mapped[datetime]
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(16))
    settled_at: Mapped[datetime | None]


class FollowupAnswer(Base):
    """The answer to a closed case's follow-up call (回访), one per case."""

    __tablename__ = "followup_answers"

    case: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[int | None] = mapped_column(SmallInteger)
    answered_at: Mapped[datetime]
    reopening: Mapped[str | None] = mapped_column(String(64))


@dataclass(frozen=True)
class ImportReport:
    """What an import stored: new items, and how many were already known."""

    added: int
    already_known: int


async def _known_keys(session: AsyncSession, items: Sequence[ServedItem]) -> set[tuple]:
    known: set[tuple] = set()
    keys = [item.key for item in items]
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        rows = await session.execute(
            select(ServedItemRow.window, ServedItemRow.staff, ServedItemRow.phone,
                   ServedItemRow.item, ServedItemRow.completed_at)
            .where(ServedItemRow.phone.in_({key[2] for key in chunk}))
            .where(tuple_(ServedItemRow.window, ServedItemRow.staff).in_({key[:2] for key in chunk}))
        )
        known.update(tuple(row) for row in rows)
    return known


async def add_served_items(session: AsyncSession, items: Sequence[ServedItem], now: datetime) -> ImportReport:
    """Store the items not stored yet (same window, staff, phone, item and time), in one
    transaction; the ones already known are counted, not stored twice."""
    for _ in range(2):
        known = await _known_keys(session, items)
        fresh = [item for item in items if item.key not in known]
        session.add_all(
            ServedItemRow(window=item.window, staff=item.staff, applicant=item.applicant,
                          phone=item.phone, item=item.item, completed_at=item.completed_at,
                          imported_at=now)
            for item in fresh
        )
        try:
            await session.commit()
        except IntegrityError:
            # Another import stored some of these meanwhile (the unique record constraint):
            # look again at what is known now.
            await session.rollback()
            continue
        return ImportReport(len(fresh), len(items) - len(fresh))
    raise InvalidInput("served items: another import keeps storing the same records; try again")


# -- the weekly draw ---------------------------------------------------------------------------

# A survey in one of these still counts towards the week's five; the others are replaced.
ACTIVE = (PENDING, CALLING, COMPLETED)


async def excluded_phones(session: AsyncSession, since: datetime) -> set[str]:
    """Numbers a draw must leave out: opted out, or drawn for a survey since `since`."""
    opted = await session.scalars(select(OptOut.phone))
    surveyed = await session.scalars(select(Survey.phone).where(Survey.drawn_at >= since))
    return set(opted) | set(surveyed)


async def candidates(session: AsyncSession, since: datetime, until: datetime) -> list[Candidate]:
    """Served items completed in [since, until)."""
    rows = await session.scalars(
        select(ServedItemRow).where(ServedItemRow.completed_at >= since, ServedItemRow.completed_at < until)
    )
    return [Candidate(r.id, r.window, r.staff, r.phone, r.completed_at) for r in rows]


async def week_surveys(session: AsyncSession, week: str) -> list[Survey]:
    rows = await session.scalars(select(Survey).where(Survey.week == week).order_by(Survey.id))
    return list(rows)


@dataclass(frozen=True)
class WeekDraw:
    """A week's draw as stored: its seed, every survey drawn (replacements included), and
    whether this call drew it (False: it had been drawn before)."""

    week: SurveyWeek
    surveys: list[Survey]
    new: bool


async def _add_round(
    session: AsyncSession, week: SurveyWeek, round_: int, count: int, config: SurveyConfig,
    desk: CaseDesk, now: datetime,
) -> int:
    """Draw round `round_` of `week` (up to `count` citizens) into the session; how many came."""
    start, end = week_bounds(week.week, config.zone)
    excluded = await excluded_phones(session, start - timedelta(days=config.quiet_days))
    excluded |= {survey.phone for survey in await week_surveys(session, week.week)}
    pool = eligible(
        await candidates(session, start - timedelta(days=config.lookback_days), start),
        week_start=start, lookback_days=config.lookback_days, excluded_phones=excluded,
    )
    chosen = draw(pool, week.seed, round_, count)
    for candidate in chosen:
        case = await desk.open_survey_case(
            session, week=week.week, item_id=candidate.item_id, window=candidate.window,
            staff=candidate.staff, phone=candidate.phone, at=now,
        )
        session.add(Survey(
            week=week.week, round=round_, served_item_id=candidate.item_id, case=case,
            window=candidate.window, staff=candidate.staff, phone=candidate.phone, status=PENDING,
            drawn_at=now, next_attempt_at=now,
        ))
    if len(chosen) < count:
        week.shortfall = (f"population exhausted: round {round_} wanted {count} and found "
                          f"{len(pool)} eligible citizens")
    return len(chosen)


async def draw_week(
    session: AsyncSession, week: str, config: SurveyConfig, desk: CaseDesk, now: datetime,
    seed: str | None = None,
) -> WeekDraw:
    """Draw `week` once: the first call draws and stores it with its seed, every later call
    (another process, a restarted daemon) returns what was stored."""
    parse_week(week)
    stored = await session.get(SurveyWeek, week)
    if stored is None:
        row = SurveyWeek(week=week, seed=seed or secrets.token_hex(8), drawn_at=now)
        session.add(row)
        try:
            await _add_round(session, row, 0, config.per_week, config, desk, now)
            await session.commit()
        except IntegrityError:
            # Another process drew the week first (the week is the primary key): theirs stands.
            await session.rollback()
        else:
            return WeekDraw(row, await week_surveys(session, week), True)
        stored = await session.get(SurveyWeek, week)
        assert stored is not None
    return WeekDraw(stored, await week_surveys(session, week), False)


async def replace_spent(session: AsyncSession, week: str, config: SurveyConfig, desk: CaseDesk, now: datetime) -> int:
    """Draw replacements for the week's surveys that cannot count any more (unreachable,
    partial, opted out), so the week can still end with `per_week` completed; how many came.
    Only while the week lasts: a past week keeps its shortfall."""
    row = await session.get(SurveyWeek, week)
    if row is None or now >= week_bounds(week, config.zone)[1]:
        return 0
    surveys = await week_surveys(session, week)
    missing = config.per_week - sum(survey.status in ACTIVE for survey in surveys)
    if missing <= 0:
        return 0
    added = await _add_round(session, row, max(s.round for s in surveys) + 1 if surveys else 1,
                             missing, config, desk, now)
    await session.commit()
    return added


async def plan_followups(session: AsyncSession, config: SurveyConfig, desk: CaseDesk, now: datetime) -> int:
    """Plan the follow-up call (回访) of each case closed in the last `followup_days` on the
    hotlines `followup_types` names, the `followup_share` of them `followed_up` picks, once per
    case, never to an opted-out or invalid number; commits; how many were planned."""
    if not config.followup_types:
        return 0
    closed = await desk.closed_cases(session, channels=config.followup_types,
                                     since=now - timedelta(days=config.followup_days))
    numbers = [case.number for case in closed]
    planned = set(await session.scalars(select(Survey.case).where(Survey.case.in_(numbers)))) if numbers else set()
    opted = set(await session.scalars(select(OptOut.phone)))
    added = 0
    for case in closed:
        phone = phone_number(case.phone) if case.phone else None
        if case.number in planned or phone is None or phone in opted or not followed_up(case.number, config.followup_share):
            continue
        session.add(Survey(kind=FOLLOWUP, week=None, round=0, served_item_id=None, case=case.number,
                           window=case.window, staff=None, phone=phone, status=PENDING, drawn_at=now,
                           next_attempt_at=now))
        added += 1
    try:
        await session.commit()
    except IntegrityError:
        # Another dialer planned them first (the case is unique): theirs stand.
        await session.rollback()
        return 0
    return added


async def opt_out(session: AsyncSession, phone: str, *, by: str, reason: str, now: datetime,
                  desk: CaseDesk) -> int:
    """Never call `phone` again; its surveys not yet finished end as opted out (how many),
    their cases resolved as such."""
    if await session.get(OptOut, phone) is None:
        session.add(OptOut(phone=phone, at=now, by=by, reason=reason))
    surveys = await session.scalars(
        select(Survey).where(Survey.phone == phone, Survey.status.in_((PENDING, CALLING)))
    )
    ended = 0
    for survey in surveys.all():
        # Only if still unfinished: a call closing meanwhile (completed, its points entered)
        # commits first on PostgreSQL, and this UPDATE then finds nothing to end.
        claimed = await session.execute(
            update(Survey).where(Survey.id == survey.id, Survey.status.in_((PENDING, CALLING)))
            .values(status=OPTED_OUT, next_attempt_at=None, finished_at=now)
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            continue
        survey.status, survey.next_attempt_at, survey.finished_at = OPTED_OUT, None, now
        if survey.kind == SURVEY:  # a follow-up's case is the citizen's own closed case
            await desk.close_survey_case(session, case=survey.case, status=OPTED_OUT, answers={
                "attitude": survey.attitude, "efficiency": survey.efficiency, "compliance": survey.compliance}, at=now)
        ended += 1
    await session.commit()
    return ended


# -- results -----------------------------------------------------------------------------------


def record_of(survey: Survey, departments: Mapping[str, str]) -> SurveyRecord:
    return SurveyRecord(survey.case, survey.week, survey.window, survey.staff, survey.status,
                        (survey.attitude, survey.efficiency, survey.compliance),
                        departments.get(survey.window, NO_DEPARTMENT))


async def survey_records(session: AsyncSession, weeks: Sequence[str],
                         departments: Mapping[str, str] | None = None) -> list[SurveyRecord]:
    """The surveys of `weeks`, each with its window's department (`departments`: window -> id)."""
    rows = await session.scalars(select(Survey).where(Survey.week.in_(weeks)).order_by(Survey.id))
    return [record_of(row, departments or {}) for row in rows]


async def period_records(session: AsyncSession, weeks: Sequence[str], desk: CaseDesk
                         ) -> tuple[list[SurveyRecord], dict[str, str]]:
    """The surveys of `weeks` with their departments, and each department's name."""
    departments = await desk.window_departments(session)
    records = await survey_records(session, weeks, {window: id_ for window, (id_, _) in departments.items()})
    return records, dict(departments.values())


async def suggestion_calls(session: AsyncSession, surveys: Sequence[Survey]) -> dict[str, int]:
    """Survey case -> the call its spoken suggestion was recorded on: the survey's call whose
    recording is the suggestion's file (the flow names the call's MixMonitor file after it)."""
    calls: dict[str, int] = {}
    with_suggestion = {survey.case: survey.suggestion for survey in surveys if survey.suggestion}
    if with_suggestion:
        found = await session.execute(
            select(Call.survey_case, Call.id, Call.recording).where(Call.survey_case.in_(with_suggestion)))
        for case, call_id, recording in found:
            if recording and recording.endswith(with_suggestion[case]):
                calls[case] = call_id
    return calls


async def period_suggestions(session: AsyncSession, weeks: Sequence[str], desk: CaseDesk,
                             transcripts: Transcripts, reader: Actor, purpose: str) -> list[Suggestion]:
    """The spoken suggestions of the surveys of `weeks`, each with its transcript as
    `transcripts` gives it (auditing `reader`'s read for `purpose`: the caller commits)."""
    surveys = list(await session.scalars(
        select(Survey).where(Survey.week.in_(weeks), Survey.suggestion.is_not(None)).order_by(Survey.id)))
    if not surveys:
        return []
    departments = {window: id_ for window, (id_, _) in (await desk.window_departments(session)).items()}
    calls = await suggestion_calls(session, surveys)
    texts = await transcripts.texts(session, list(calls.values()), reader, purpose)
    found = []
    for survey in surveys:
        call = calls.get(survey.case)
        text = texts[call] if call is not None else TranscriptText(None, NO_RECORDING)
        found.append(Suggestion(survey.case, survey.week, survey.window, survey.staff,
                                departments.get(survey.window, NO_DEPARTMENT), call, text.text, text.state))
    return found


@dataclass(frozen=True)
class WeekView:
    """A week's surveys with their attempts and, for a spoken suggestion, the call it is on."""

    week: SurveyWeek | None
    surveys: list[Survey]
    attempts: dict[int, list[SurveyAttempt]]
    suggestion_calls: dict[str, int]


async def week_view(session: AsyncSession, week: str) -> WeekView:
    surveys = await week_surveys(session, week)
    attempts: dict[int, list[SurveyAttempt]] = {survey.id: [] for survey in surveys}
    rows = await session.scalars(
        select(SurveyAttempt).where(SurveyAttempt.survey_id.in_(attempts)).order_by(SurveyAttempt.number))
    for attempt in rows:
        attempts[attempt.survey_id].append(attempt)
    return WeekView(await session.get(SurveyWeek, week), surveys, attempts, await suggestion_calls(session, surveys))
