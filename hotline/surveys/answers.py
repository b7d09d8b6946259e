"""What the survey flows hear, written down: the campaign's side of callflows' SurveyBook and
FollowupBook. Each answer is committed as it is given, so a hang-up loses nothing said."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from hotline.config import SurveyConfig
from hotline.errors import HotlineError
from hotline.surveys import store
from hotline.surveys.results import CALLING
from hotline.surveys.cases import CaseDesk
from hotline.surveys.dialer import ANSWERED, DISSATISFIED, QUESTIONS, close_call
from hotline.surveys.points import SurveyScoring

log = logging.getLogger("hotline.surveys")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SurveyAnswers:
    """Stores a survey call's answers, suggestion and opt-out, and closes the survey."""

    def __init__(self, sessions: async_sessionmaker, config: SurveyConfig, desk: CaseDesk,
                 clock: Callable[[], datetime] = _utc_now, points: SurveyScoring | None = None) -> None:
        self.sessions = sessions
        self.points = points
        self.config = config
        self.desk = desk
        self.clock = clock

    async def begin(self, case: str, attempt: str | None) -> bool:
        """The survey flow runs, so the call was answered: say so on the attempt (its
        OriginateResponse may have been lost to a restart)."""
        async with self.sessions() as session:
            survey = await session.scalar(select(store.Survey).where(store.Survey.case == case))
            if survey is None or survey.status != CALLING:
                return False
            if attempt:
                await session.execute(
                    update(store.SurveyAttempt)
                    .where(store.SurveyAttempt.action_id == attempt,
                           store.SurveyAttempt.survey_id == survey.id,
                           store.SurveyAttempt.outcome.is_(None))
                    .values(outcome=ANSWERED, reason="4", settled_at=self.clock()))
                await session.commit()
        return True

    async def answer(self, case: str, question: str, value: int) -> None:
        if question not in QUESTIONS:
            raise ValueError(f"no survey question {question!r}")
        await self._update(case, **{question: value})

    async def suggestion(self, case: str, recording: str) -> None:
        await self._update(case, suggestion=recording)

    async def _update(self, case: str, **values: object) -> None:
        async with self.sessions() as session:
            await session.execute(
                update(store.Survey)
                .where(store.Survey.case == case, store.Survey.status == CALLING)
                .values(**values))
            await session.commit()

    async def opt_out(self, case: str) -> None:
        async with self.sessions() as session:
            survey = await session.scalar(select(store.Survey).where(store.Survey.case == case))
            if survey is not None:
                await store.opt_out(session, survey.phone, by="citizen", reason="opt-out key",
                                    now=self.clock(), desk=self.desk)

    async def finish(self, case: str) -> str | None:
        return await close_call(self.sessions, case, self.config, self.desk, self.clock(), points=self.points)

    async def followup(self, case: str, answer: int | None) -> None:
        """Store a follow-up answer (one per case); a dissatisfied one asks for reopening, in
        the same transaction. A case the desk cannot ask about (reopened meanwhile, unknown)
        keeps the answer without the request, and the log says why."""
        now = self.clock()
        async with self.sessions() as session:
            row = await session.get(store.FollowupAnswer, case)
            if row is None:
                row = store.FollowupAnswer(case=case, answer=answer, answered_at=now)
                session.add(row)
            else:
                row.answer, row.answered_at = answer, now
            if answer == DISSATISFIED and row.reopening is None:
                # The workflow refuses (unknown case, not closed) before it writes anything.
                try:
                    row.reopening = await self.desk.request_reopening(session, case=case, answer=answer, at=now)
                except HotlineError as error:
                    log.warning("follow-up of case %s: dissatisfied, but no reopening request: %s", case, error,
                                extra={"action": "followup-reopening"})
            await session.commit()
        # The dialer's follow-up call of the case (if it made this one) ends with the answer.
        await close_call(self.sessions, case, self.config, self.desk, now)
