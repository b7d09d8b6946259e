"""The callback survey on the phone (`AGI(agi://HOST:PORT/survey)` with CASE_ID set, capture e).

Greeting; then attitude, efficiency and compliance, each answered by one key (1 satisfied, 2
basically satisfied, 3 dissatisfied); then an optional spoken suggestion. No key, or a key that
is no answer, asks the question again, at most twice; the opt-out key ends the survey and the
number is never called again. Each answer is stored as it is given, so a hang-up mid-survey
keeps what was said and the survey ends partial.

The suggestion is recorded with RECORD FILE into the recordings spool, and the flow sets the
channel's MIXMONITOR_FILENAME to it: the call tracker takes a call's recording from that
variable's VarSet event (hotline/calls.py), so at hang-up the recordings pipeline archives and
transcribes the suggestion like any call recording.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from callflows.fastagi import AgiSession, ChannelHungUp
from hotline.config import SurveyConfig, SurveyPrompts

logger = logging.getLogger(__name__)

QUESTIONS = ("attitude", "efficiency", "compliance")
ANSWERS = {"1": 1, "2": 2, "3": 3}
# A question is asked once and repeated at most twice (no key, or a key that is no answer).
ASKS = 3
SUGGESTION_KEY = "1"
RECORDING_VARIABLE = "MIXMONITOR_FILENAME"


class OptedOut(Exception):
    """The citizen pressed the opt-out key."""


class SurveyBook(Protocol):
    """Where the survey flow writes what it hears (hotline.surveys.answers.SurveyAnswers)."""

    async def begin(self, case: str, attempt: str | None) -> bool:
        """The call for `case` was answered; False if no survey of that case is being called."""

    async def answer(self, case: str, question: str, value: int) -> None: ...

    async def suggestion(self, case: str, recording: str) -> None: ...

    async def opt_out(self, case: str) -> None: ...

    async def finish(self, case: str) -> str | None:
        """The call is over: the survey's status from what was stored."""


def prompts_for(session: AgiSession, config: SurveyConfig) -> SurveyPrompts:
    """The prompts in the channel's language (CHANNEL(language), `agi_language`), else the
    configured default language's."""
    return config.prompts.get(session.env.get("agi_language", ""), config.prompts[config.language])


async def ask(session: AgiSession, prompt: str, invalid: str, timeout: float,
              opt_out_key: str | None) -> int | None:
    """Ask one question answered 1, 2 or 3; the value of the key pressed, or None after ASKS
    tries without one (a key that is no answer hears `invalid` first). Raises OptedOut on
    `opt_out_key`."""
    for _ in range(ASKS):
        key = await session.get_data(prompt, int(timeout * 1000), 1)
        if key in ANSWERS:
            return ANSWERS[key]
        if key is not None and key == opt_out_key:
            raise OptedOut
        if key is not None:
            await session.stream_file(invalid)
    return None


class SurveyFlow:
    """The `survey` FastAGI route; `spool` is where Asterisk writes the suggestion (its view of
    the recordings spool)."""

    def __init__(self, book: SurveyBook, config: SurveyConfig, spool: Path) -> None:
        self.book = book
        self.config = config
        self.spool = spool

    async def __call__(self, session: AgiSession) -> None:
        await session.answer()
        case = await session.get_variable("CASE_ID")
        attempt = await session.get_variable("SURVEY_ATTEMPT")
        if not case or not await self.book.begin(case, attempt):
            logger.warning("survey call on %s for unknown or closed case %r", session.channel, case,
                           extra={"action": "survey-unknown-case"})
            await session.hangup()
            return
        prompts = prompts_for(session, self.config)
        try:
            await self._survey(session, case, prompts)
        except OptedOut:
            await self.book.opt_out(case)
            await session.stream_file(prompts.opted_out)
            await session.hangup()
        finally:
            # A hang-up mid-survey lands here too (ChannelHungUp): the answers given are stored.
            status = await self.book.finish(case)
            logger.info("survey %s on %s: %s", case, session.channel, status,
                        extra={"action": "survey-finished"})

    async def _survey(self, session: AgiSession, case: str, prompts: SurveyPrompts) -> None:
        await session.stream_file(prompts.greeting)
        for question in QUESTIONS:
            value = await ask(session, getattr(prompts, question), prompts.invalid,
                              self.config.answer_timeout, self.config.opt_out_key)
            if value is not None:
                await self.book.answer(case, question, value)
        offer = await session.get_data(prompts.suggestion, int(self.config.answer_timeout * 1000), 1)
        if offer == self.config.opt_out_key:
            raise OptedOut
        if offer == SUGGESTION_KEY:
            name = f"survey-{case}-{session.env.get('agi_uniqueid', 'call')}"
            path = self.spool / name
            # Named on the channel before recording: a citizen who hangs up mid-suggestion
            # leaves what they said (res_agi.c closes the file and answers `result=-1
            # (hangup) endpos=N`), and the call still claims it for the recordings pipeline.
            await session.set_variable(RECORDING_VARIABLE, f"{path}.wav")
            try:
                recorded = await session.record_file(
                    str(path), "wav", "#", int(self.config.suggestion_seconds * 1000))
            except ChannelHungUp:
                await self.book.suggestion(case, f"{name}.wav")
                raise
            if recorded.endpos > 0:
                await self.book.suggestion(case, f"{name}.wav")
        await session.stream_file(prompts.thanks)
        await session.hangup()
