"""The survey dialer: when to call whom, and the shell that sends AMI Originate.

The rules are pure functions of plain data and the current time (no clock is read here): the
calling window (hours, days, the working-day calendar), what an `OriginateResponse` means, when
the next attempt may go, and how many calls may start now. `SurveyDialer` is the thin shell that
loads, applies, saves and dials, with a clock it is given, so tests can run whole weeks.

Asterisk facts relied on (captures e and g, manager.c): an async Originate is answered at once
with `Originate successfully queued`, then an `OriginateResponse` with the same ActionID whose
`Reason` is the last control frame the channel saw (AST_CONTROL_*: 4 answer, 5 busy, 3 ringing,
i.e. nobody answered, 8 congestion, 1 hang-up, 0 no channel at all). Variables given with
`Variable:` are set on the channel, so `Status` with `Variables: SURVEY_ATTEMPT` finds our call
on the PBX after a restart or a reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.config import SurveyConfig
from hotline.db.tables import Call
from hotline.errors import AmiError, HotlineError
from hotline.surveys import store
from hotline.surveys.cases import CaseDesk
from hotline.surveys.draw import week_of
from hotline.surveys.points import Dissatisfied, SurveyScoring
from hotline.surveys.results import (
    ANSWERED_STATUSES, CALLING, COMPLETED, OPTED_OUT, PARTIAL, PENDING, QUESTIONS, UNREACHABLE, ledger_day,
)

log = logging.getLogger(__name__)

ANSWERED, BUSY, NO_ANSWER, CONGESTION, FAILURE, UNKNOWN = (
    "answered", "busy", "no-answer", "congestion", "failure", "unknown",
)
REASONS = {"4": ANSWERED, "5": BUSY, "3": NO_ANSWER, "1": NO_ANSWER, "8": CONGESTION, "0": FAILURE}
# The call tracker's disposition of a call (hotline/calls.py), for an attempt settled from it.
DISPOSITIONS = {"answered": ANSWERED, "busy": BUSY, "missed": NO_ANSWER, "failed": FAILURE}
ATTEMPT_VARIABLE = "SURVEY_ATTEMPT"
SATISFIED, BASICALLY_SATISFIED, DISSATISFIED = 1, 2, 3
# An answered call's survey flow normally closes the survey itself; one it has not closed this
# long after the answer is checked against the PBX (the flow may never have started).
ANSWER_GRACE = timedelta(seconds=30)


def outcome_of(reason: str | None) -> str:
    """An `OriginateResponse` Reason as an attempt's outcome."""
    return REASONS.get((reason or "").strip(), FAILURE)


# -- the calling window --------------------------------------------------------------------------


@dataclass(frozen=True)
class CallingRules:
    """When citizens may be called: hours of the day, on which days, in which time zone.

    `working_day` is the centre's working-day calendar (public holidays and the weekend days
    worked in lieu, 调休), the one the case deadlines use: the desk gives it (CaseDesk).
    """

    hours: tuple[tuple[time, time], ...]
    working_days_only: bool
    working_day: Callable[[date], bool]
    zone: tzinfo

    @classmethod
    def from_config(cls, config: SurveyConfig, working_day: Callable[[date], bool]) -> CallingRules:
        return cls(config.calling_hours, config.calling_days == "working", working_day, config.zone)

    def is_calling_day(self, day: date) -> bool:
        return not self.working_days_only or self.working_day(day)


def may_call(now: datetime, rules: CallingRules) -> bool:
    """True when `now` is inside the calling hours of a calling day."""
    local = now.astimezone(rules.zone)
    if not rules.is_calling_day(local.date()):
        return False
    return any(start <= local.time() < end for start, end in rules.hours)


def next_calling_time(after: datetime, rules: CallingRules) -> datetime:
    """The first moment at or after `after` when a call may be made."""
    local = after.astimezone(rules.zone)
    for offset in range(400):
        day = local.date() + timedelta(days=offset)
        if not rules.is_calling_day(day):
            continue
        for start, end in rules.hours:
            opening = datetime.combine(day, start, rules.zone)
            closing = datetime.combine(day, end, rules.zone)
            if local < closing:
                return max(local, opening).astimezone(after.tzinfo)
    raise HotlineError("surveys: no calling day in the next 400 days (check calling_days and the calendar)")


# -- attempts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Next:
    """Where a survey stands after an attempt: its status and, when pending, its next call."""

    status: str
    next_attempt_at: datetime | None = None


def after_attempt(
    attempts_made: int, ended_at: datetime, config: SurveyConfig, rules: CallingRules,
    answers: Sequence[int | None] = (), opted_out: bool = False,
) -> Next:
    """A survey's status once an attempt is over.

    Every question answered: completed. Some: partial (the citizen hung up mid-survey; they are
    not called again). None (busy, no answer, or answered and silent): another attempt at least
    `retry_minutes` after this one ended, within calling hours, while attempts are left;
    otherwise unreachable, and the draw replaces them.
    """
    if opted_out:
        return Next(OPTED_OUT)
    given = [answer for answer in answers if answer is not None]
    if given:
        return Next(COMPLETED if len(given) == len(answers) else PARTIAL)
    if attempts_made >= config.max_attempts:
        return Next(UNREACHABLE)
    retry = ended_at + timedelta(minutes=config.retry_minutes)
    return Next(PENDING, next_calling_time(retry, rules))


def starts_allowed(now: datetime, *, calling: int, recent_starts: Sequence[datetime], config: SurveyConfig) -> int:
    """How many calls may start at `now`: free lines under `concurrency`, and room under
    `calls_per_minute` counted over the last minute (over 60/rate seconds below one a minute)."""
    free = config.concurrency - calling
    window = max(60.0, 60.0 / config.calls_per_minute)
    capacity = max(1, math.floor(config.calls_per_minute * window / 60.0))
    started = sum(1 for at in recent_starts if now - at < timedelta(seconds=window))
    return max(0, min(free, capacity - started))


def rate_window(config: SurveyConfig) -> timedelta:
    return timedelta(seconds=max(60.0, 60.0 / config.calls_per_minute))


# -- the shell -----------------------------------------------------------------------------------


async def calling_rules(session: AsyncSession, config: SurveyConfig, desk: CaseDesk) -> CallingRules:
    """The calling rules of `config` on the working-day calendar the desk keeps."""
    return CallingRules.from_config(config, await desk.working_days(session))


class Originator(Protocol):
    """What the dialer needs of an AMI link (hotline.ami.AmiLink)."""

    up: bool

    async def originate(self, channel: str, *, context: str, exten: str, caller_id: str | None,
                        variables: Mapping[str, str], ring_timeout: float, action_id: str) -> Any: ...

    async def send(self, action: Mapping[str, Any]) -> list[Any]: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Dial:
    survey_id: int
    attempt_id: int
    action_id: str
    phone: str
    case: str
    kind: str


class SurveyDialer:
    """Draws each week, dials due surveys, settles attempts; one `tick` is one round of that.

    An attempt is written (and committed) before its Originate is sent and settled only from
    Asterisk's answer or, when that answer was lost (restart, reconnect), from the PBX itself
    (`settle_in_doubt`): a number is never dialled twice for one attempt.
    """

    def __init__(
        self,
        sessions: async_sessionmaker,
        config: SurveyConfig,
        link: Originator,
        desk: CaseDesk,
        *,
        clock: Callable[[], datetime] = _utc_now,
        tick_seconds: float = 5.0,
        points: SurveyScoring | None = None,
    ) -> None:
        self.sessions = sessions
        self.points = points
        self.config = config
        self.link = link
        self.desk = desk
        self.clock = clock
        self.tick_seconds = tick_seconds
        self._calls: dict[int, asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every `tick_seconds` until `stop`; calls in flight are left to the PBX (their
        attempts stay in doubt and are settled from it at the next start)."""
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except (HotlineError, OSError, SQLAlchemyError) as exc:
                    # The database or the PBX is away for a moment: the plan is in the database,
                    # so the next tick carries on where this one stopped.
                    log.error("survey dialer: %s", exc, extra={"action": "survey-tick"})
                try:
                    async with asyncio.timeout(self.tick_seconds):
                        await stop.wait()
                except TimeoutError:
                    pass
        finally:
            for task in self._calls.values():
                task.cancel()
            await asyncio.gather(*self._calls.values(), return_exceptions=True)

    async def tick(self) -> list[str]:
        """Draw the week if due, replace spent draws, settle what is in doubt, start due calls;
        returns the ActionIDs of the calls started."""
        now = self.clock()
        async with self.sessions() as session:
            # Read every tick: a calendar imported meanwhile counts at once.
            rules = await calling_rules(session, self.config, self.desk)
        calling = may_call(now, rules)
        if calling:
            # Drawn at the week's first calling moment, not at midnight: the served items the
            # centre exports on Monday morning are in the population.
            week = week_of(now, self.config.zone)
            async with self.sessions() as session:
                await store.draw_week(session, week, self.config, self.desk, now)
                await store.plan_followups(session, self.config, self.desk, now)
                await store.replace_spent(session, week, self.config, self.desk, now)
        if not self.link.up:
            return []
        await self.settle_in_doubt()
        if not calling:
            return []
        return [dial.action_id for dial in await self._start_due(now)]

    async def idle(self) -> None:
        """Wait until every call this dialer started has its OriginateResponse (for tests)."""
        await asyncio.gather(*self._calls.values(), return_exceptions=True)

    # -- starting calls ------------------------------------------------------------------------

    async def _start_due(self, now: datetime) -> list[_Dial]:
        async with self.sessions() as session:
            calling = await session.scalar(
                select(func.count()).select_from(store.Survey).where(store.Survey.status == CALLING))
            recent = list(await session.scalars(
                select(store.SurveyAttempt.started_at).where(
                    store.SurveyAttempt.started_at > now - rate_window(self.config))))
            room = starts_allowed(now, calling=calling or 0, recent_starts=recent, config=self.config)
            if room <= 0:
                return []
            due = list(await session.scalars(
                select(store.Survey.id)
                .where(store.Survey.status == PENDING, store.Survey.next_attempt_at <= now)
                .order_by(store.Survey.next_attempt_at, store.Survey.id)
                .limit(room)))
        started = []
        for survey_id in due:
            dial = await self._open_attempt(survey_id, now)
            if dial is not None:
                started.append(dial)
                self._calls[dial.attempt_id] = asyncio.create_task(self._call(dial))
                self._calls[dial.attempt_id].add_done_callback(
                    lambda _, key=dial.attempt_id: self._calls.pop(key, None))
        return started

    async def _open_attempt(self, survey_id: int, now: datetime) -> _Dial | None:
        """Write the attempt and mark the survey calling, in one transaction, before dialling."""
        async with self.sessions() as session:
            survey = await session.get(store.Survey, survey_id)
            if survey is None or survey.status != PENDING:
                return None  # opted out or taken meanwhile
            number = (await session.scalar(
                select(func.count()).select_from(store.SurveyAttempt)
                .where(store.SurveyAttempt.survey_id == survey_id)) or 0) + 1
            action_id = f"survey-{survey.case}-{number}"
            session.add(store.SurveyAttempt(survey_id=survey_id, number=number, action_id=action_id,
                                            started_at=now))
            survey.status, survey.next_attempt_at = CALLING, None
            try:
                await session.commit()
            except IntegrityError:
                # Another dialer (a second daemon) opened this attempt first: it dials, not us.
                await session.rollback()
                return None
            attempt_id = await session.scalar(
                select(store.SurveyAttempt.id).where(store.SurveyAttempt.action_id == action_id))
        log.info("survey %s: attempt %d", survey.case, number, extra={"action": "survey-dial"})
        return _Dial(survey_id, attempt_id, action_id, survey.phone, survey.case, survey.kind)

    async def _call(self, dial: _Dial) -> None:
        try:
            response = await self.link.originate(
                self.config.dial.format(number=dial.phone),
                context=self.config.followup_context if dial.kind == store.FOLLOWUP else self.config.context,
                exten=self.config.exten,
                caller_id=self.config.caller_id,
                variables={"CASE_ID": dial.case, ATTEMPT_VARIABLE: dial.action_id},
                ring_timeout=self.config.ring_timeout,
                action_id=dial.action_id,
            )
        except AmiError as exc:
            if "reply" not in exc.details:
                # The link went (or the answer never came): whether the PBX placed the call is
                # unknown, so the attempt stays in doubt and is settled from the PBX.
                log.warning("survey %s: %s; settling it from the PBX", dial.case, exc,
                            extra={"action": "survey-in-doubt"})
                return
            outcome, reason = FAILURE, str(exc.details["reply"])[:16]
        else:
            reason = str(response.get("Reason", ""))
            outcome = outcome_of(reason)
        try:
            await self.settle(dial.attempt_id, outcome, reason)
        except (HotlineError, OSError, SQLAlchemyError) as exc:
            # Not saved: the attempt stays in doubt and the next ticks settle it from the PBX.
            log.error("survey %s: the outcome %s could not be saved: %s", dial.case, outcome, exc,
                      extra={"action": "survey-in-doubt"})

    # -- settling ------------------------------------------------------------------------------

    async def settle(self, attempt_id: int, outcome: str, reason: str | None = None) -> None:
        """Record an attempt's outcome. An answered call is in the survey flow's hands (it ends
        the survey); any other outcome schedules the next attempt or ends the survey."""
        now = self.clock()
        async with self.sessions() as session:
            attempt = await session.get(store.SurveyAttempt, attempt_id)
            if attempt is None:
                return
            if attempt.outcome is None:
                attempt.outcome, attempt.reason = outcome, reason
            attempt.settled_at = attempt.settled_at or now
            # The survey flow may have said "answered" first (its call is then the flow's to end).
            answered = attempt.outcome == ANSWERED
            survey = await session.get(store.Survey, attempt.survey_id)
            await session.commit()
        log.info("survey attempt %d: %s (%s)", attempt_id, outcome, reason, extra={"action": "survey-attempt"})
        if not answered and survey is not None:
            await close_call(self.sessions, survey.case, self.config, self.desk, now, points=self.points)

    async def settle_in_doubt(self) -> int:
        """Settle attempts whose outcome was lost (a restart, an AMI reconnect) from the PBX.

        A call still on the PBX (`Status` shows a channel carrying its SURVEY_ATTEMPT) is left
        alone: its OriginateResponse or the survey flow will tell. Otherwise the call tracker's
        record of the call (kept from the PBX's events) gives the outcome; with no trace at all
        the attempt counts as made (`unknown`), so the number is not dialled again for it.
        Returns how many attempts were settled.
        """
        now = self.clock()
        async with self.sessions() as session:
            rows = (await session.execute(
                select(store.SurveyAttempt, store.Survey)
                .join(store.Survey, store.Survey.id == store.SurveyAttempt.survey_id)
                .where(store.Survey.status == CALLING)
                .order_by(store.SurveyAttempt.number)
            )).all()
        # Only a survey's latest attempt is its call now; earlier ones are history (an answered
        # first attempt must not close the survey while the second one rings).
        latest = {survey.id: (attempt, survey) for attempt, survey in rows}
        doubtful = [
            (attempt, survey) for attempt, survey in latest.values()
            # In doubt: nobody here waits for its OriginateResponse (lost with a restart or a
            # reconnect), or answered a while ago and the survey flow has not closed it.
            if attempt.id not in self._calls and (
                attempt.outcome is None
                or (attempt.outcome == ANSWERED and attempt.settled_at is not None
                    and attempt.settled_at <= now - ANSWER_GRACE)
            )
        ]
        if not doubtful:
            return 0
        live = await self._live_attempts()
        settled = 0
        for attempt, survey in doubtful:
            if attempt.action_id in live:
                continue
            if attempt.outcome == ANSWERED:
                await close_call(self.sessions, survey.case, self.config, self.desk, now, points=self.points)
            else:
                await self.settle(attempt.id, await self._outcome_from_calls(survey.case, attempt.started_at))
            settled += 1
        return settled

    async def _live_attempts(self) -> set[str]:
        replies = await self.link.send({"Action": "Status", "Variables": ATTEMPT_VARIABLE})
        live = set()
        for reply in replies:
            values = reply.get("Variable") or []
            for value in [values] if isinstance(values, str) else values:
                name, _, content = value.partition("=")
                if name == ATTEMPT_VARIABLE and content and content != "(null)":
                    live.add(content)
        return live

    async def _outcome_from_calls(self, case: str, since: datetime) -> str:
        async with self.sessions() as session:
            call = await session.scalar(
                select(Call).where(Call.survey_case == case, Call.started_at >= since - timedelta(seconds=5))
                .order_by(Call.started_at.desc()).limit(1))
        if call is None or call.disposition is None:
            return UNKNOWN
        return DISPOSITIONS.get(call.disposition, UNKNOWN)


async def close_call(
    sessions: async_sessionmaker, case: str, config: SurveyConfig, desk: CaseDesk, now: datetime,
    *, opted_out: bool = False, points: SurveyScoring | None = None,
) -> str | None:
    """End the call of survey `case` (the survey flow finished, or the PBX says the call is
    over): its status from the answers stored (`after_attempt`), a complaint case for a
    dissatisfied answer and, once the survey counts (completed or partial), the dissatisfied
    citizen's points through `points`, all in one transaction. Idempotent: a survey no longer
    calling is left as it is, and of two closing it at once only one commits. Returns the new
    status, or None."""
    async with sessions() as session:
        survey = await session.scalar(select(store.Survey).where(store.Survey.case == case))
        if survey is None or survey.status != CALLING:
            return None
        attempts = await session.scalar(
            select(func.count()).select_from(store.SurveyAttempt)
            .where(store.SurveyAttempt.survey_id == survey.id)) or 0
        await session.execute(
            update(store.SurveyAttempt)
            .where(store.SurveyAttempt.survey_id == survey.id, store.SurveyAttempt.settled_at.is_(None))
            .values(settled_at=now))
        if survey.kind == store.FOLLOWUP:
            heard = await session.get(store.FollowupAnswer, case)
            answers = {"followup": heard.answer if heard is not None else None}
        else:
            answers = {question: getattr(survey, question) for question in QUESTIONS}
        following = after_attempt(attempts, now, config, await calling_rules(session, config, desk),
                                  list(answers.values()), opted_out)
        # Claim the survey: the flow's end and the PBX's settling may close it at the same time,
        # and PostgreSQL makes the second UPDATE wait for the first and then find nothing to do.
        claimed = await session.execute(
            update(store.Survey).where(store.Survey.id == survey.id, store.Survey.status == CALLING)
            .values(status=following.status, next_attempt_at=following.next_attempt_at,
                    finished_at=None if following.status == PENDING else now)
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            await session.rollback()
            return None
        dissatisfied = tuple(q for q, a in answers.items() if a == DISSATISFIED)
        unscored: list[str] = []
        if (survey.kind == store.SURVEY and dissatisfied and points is not None
                and following.status in ANSWERED_STATUSES):
            unscored = await points.dissatisfied(session, Dissatisfied(
                case, survey.week, survey.window, survey.staff, dissatisfied,
                ledger_day(survey.week, now.astimezone(config.zone).date()), now))
        if following.status != PENDING and survey.kind == store.SURVEY:
            await desk.close_survey_case(session, case=case, status=following.status, answers=answers, at=now,
                                         note="; ".join(f"not scored: {why}" for why in unscored))
        # A follow-up's dissatisfied answer asks for reopening instead (SurveyAnswers.followup).
        if survey.kind == store.SURVEY and dissatisfied and survey.complaint_case is None:
            survey.complaint_case = await desk.open_complaint(
                session, survey_case=case, window=survey.window, staff=survey.staff, phone=survey.phone,
                answers=answers, at=now)
        await session.commit()
    log.info("survey %s: %s", case, following.status, extra={"action": "survey-status"})
    return following.status
