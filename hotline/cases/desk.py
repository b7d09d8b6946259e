"""What the callback surveys ask of cases, as cases does it: a drawn citizen's survey case, a
complaint from a dissatisfied answer, a reopening request from a dissatisfied follow-up.

The composition root hands a `SurveyDesk` to the survey campaign as its case desk (the port in
hotline/surveys/cases.py); neither feature imports the other. Every method works in the
caller's session and leaves the commit to it, so a survey row and its case are stored together
or not at all (a draw lost to a concurrent draw leaves no orphan case behind).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.cases import workflow
from hotline.cases.calendar import WorkingCalendar
from hotline.cases.store import (
    Recordings, Scoring, Viewer, act_on_case, calendar_years, case_services, closed_cases, file_case, list_departments,
)
from hotline.cases.workflow import IllegalTransition
from hotline.config import CasesConfig

log = logging.getLogger("hotline.cases")
SURVEY_ACTOR = workflow.Actor("hotline:surveys", workflow.SYSTEM)
_QUESTIONS = {"attitude": "service attitude", "efficiency": "efficiency", "compliance": "compliance with rules"}
_ANSWERS = {1: "satisfied", 2: "basically satisfied", 3: "dissatisfied"}


@dataclass(frozen=True)
class CallbackCase:
    """A closed case as the follow-up callback sees it (the campaign's ClosedCase)."""

    number: str
    phone: str | None
    window: str | None
    closed_at: datetime


def _heard(answers: Mapping[str, int | None]) -> str:
    return "; ".join(f"{_QUESTIONS[q]}: {_ANSWERS.get(a, 'no answer')}" for q, a in answers.items()
                     if q in _QUESTIONS and a is not None)


class SurveyDesk:
    """Files the campaign's cases through the cases workflow (hotline.cases.store)."""

    def __init__(self, config: CasesConfig, scoring: Scoring | None = None,
                 recordings: Recordings | None = None) -> None:
        self.config = config
        self.scoring = scoring
        self.recordings = recordings

    async def _services(self, session: AsyncSession):
        return await case_services(session, self.config, self.scoring, self.recordings)

    async def closed_cases(self, session: AsyncSession, *, channels: Sequence[str], since: datetime) -> list[CallbackCase]:
        """Cases from `channels` closed since `since`, with their citizen's number."""
        return [CallbackCase(row.number, phone, row.department_window, row.closed_at)
                for row, phone in await closed_cases(session, channels, since)]

    async def working_days(self, session: AsyncSession) -> Callable[[date], bool]:
        """The State Council calendars (shipped, or imported) as the calling days."""
        return WorkingCalendar(await calendar_years(session)).is_working_day

    async def open_survey_case(
        self, session: AsyncSession, *, week: str, item_id: int, window: str, staff: str, phone: str, at: datetime,
    ) -> str:
        """A callback-survey case (type and channel `survey`) for the citizen served by `item_id`."""
        return await self._file(session, "survey", window, staff, phone, at,
                                f"callback survey {week}: served item {item_id} at window {window}, staff {staff}")

    async def open_complaint(
        self, session: AsyncSession, *, survey_case: str, window: str, staff: str, phone: str,
        answers: Mapping[str, int | None], at: datetime,
    ) -> str:
        """A complaint about `window`/`staff` for verification; only a verified (substantiated)
        one reaches the scores, through the cases workflow."""
        return await self._file(session, "complaint", window, staff, phone, at,
                                f"dissatisfied in callback survey {survey_case} ({_heard(answers)})")

    async def _file(self, session: AsyncSession, kind: str, window: str, staff: str, phone: str, at: datetime,
                    description: str) -> str:
        fields = {"type": kind, "channel": "survey", "window": window, "staff": staff, "caller_number": phone,
                  "description": description}
        view = await file_case(session, fields, SURVEY_ACTOR, at, await self._services(session), commit=False)
        return view.case.number

    async def close_survey_case(
        self, session: AsyncSession, *, case: str, status: str, answers: Mapping[str, int | None], at: datetime,
        note: str = "",
    ) -> None:
        """Resolve survey case `case` with how its survey ended (and `note`), so it leaves the
        open and overdue lists. One resolved otherwise meanwhile (by an operator) is left as it is."""
        heard = _heard(answers)
        answer = "; ".join(part for part in (f"survey {status}" + (f": {heard}" if heard else ""), note) if part)
        try:
            await act_on_case(session, case, "resolve", {"answer": answer}, Viewer(SURVEY_ACTOR), at,
                              await self._services(session), commit=False)
        except IllegalTransition as error:
            log.info("survey case %s not resolved: %s", case, error, extra={"action": "survey-case"})

    async def window_departments(self, session: AsyncSession) -> dict[str, tuple[str, str]]:
        """Window id -> (id, name) of its department (`hotline departments import`); a window two
        departments name goes to the first by id."""
        found: dict[str, tuple[str, str]] = {}
        for department in await list_departments(session):
            if department.window is not None:
                found.setdefault(department.window, (department.id, department.name))
        return found

    async def request_reopening(self, session: AsyncSession, *, case: str, answer: int, at: datetime) -> str:
        """Record on closed `case` that its citizen was dissatisfied; the supervisor decides
        whether to reopen it. Returns the case's number."""
        await act_on_case(session, case, "request-reopening",
                          {"reason": f"follow-up callback: the citizen is {_ANSWERS.get(answer, answer)}",
                           "answer": answer},
                          Viewer(SURVEY_ACTOR), at, await self._services(session), commit=False)
        return case
