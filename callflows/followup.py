"""The follow-up call of a closed 12345/12319 case (回访), `AGI(agi://HOST:PORT/followup)` with
CASE_ID set: one question, were you satisfied with how your case was handled (1 satisfied, 2
basically satisfied, 3 dissatisfied), asked at most three times; a dissatisfied answer asks for
the case to be reopened (the cases workflow decides)."""

from __future__ import annotations

import logging
from typing import Protocol

from callflows.fastagi import AgiSession
from callflows.survey import ask, prompts_for
from hotline.config import SurveyConfig

logger = logging.getLogger(__name__)


class FollowupBook(Protocol):
    """Where the follow-up flow writes its answer (hotline.surveys.answers.SurveyAnswers)."""

    async def followup(self, case: str, answer: int | None) -> None: ...


class FollowupFlow:
    """The `followup` FastAGI route."""

    def __init__(self, book: FollowupBook, config: SurveyConfig) -> None:
        self.book = book
        self.config = config

    async def __call__(self, session: AgiSession) -> None:
        await session.answer()
        case = await session.get_variable("CASE_ID")
        if not case:
            logger.warning("follow-up call on %s without CASE_ID", session.channel,
                           extra={"action": "followup-no-case"})
            await session.hangup()
            return
        prompts = prompts_for(session, self.config)
        await session.stream_file(prompts.greeting)
        # No opt-out here: the case's citizen is the cases workflow's to manage, not the draw's.
        answer = await ask(session, prompts.followup, prompts.invalid, self.config.answer_timeout, None)
        await self.book.followup(case, answer)
        await session.stream_file(prompts.thanks)
        await session.hangup()
