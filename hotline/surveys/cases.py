"""The campaign's narrow link to the cases workflow (12345/12319 work orders).

A drawn citizen becomes a callback-survey case, a dissatisfied answer opens a complaint about
the window and staff member for verification, and a dissatisfied follow-up asks for the case to
be reopened. The campaign needs nothing else from cases, so that is all `CaseDesk` asks; the
composition root fills it with hotline.cases' desk (hotline/cases/desk.py). Each call works in
the campaign's session and transaction: the caller commits the case with its own rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class ClosedCase:
    """A closed 12345/12319 case whose citizen may be called back (回访)."""

    number: str
    phone: str | None
    window: str | None  # the responsible department's window
    closed_at: datetime


class CaseDesk(Protocol):
    """What the survey campaign asks of the cases workflow; each call returns a case number."""

    async def closed_cases(self, session: AsyncSession, *, channels: Sequence[str], since: datetime) -> list[ClosedCase]:
        """Cases that came in on `channels` and were closed (resolved or verified) since `since`."""

    async def working_days(self, session: AsyncSession) -> Callable[[date], bool]:
        """Whether a day is a working day: the calendar case deadlines count in."""

    async def open_survey_case(
        self, session: AsyncSession, *, week: str, item_id: int, window: str, staff: str, phone: str, at: datetime,
    ) -> str:
        """Register a callback survey of the citizen served by `item_id` as a case."""

    async def open_complaint(
        self, session: AsyncSession, *, survey_case: str, window: str, staff: str, phone: str,
        answers: Mapping[str, int | None], at: datetime,
    ) -> str:
        """Open a complaint about `window`/`staff` for verification (a dissatisfied answer)."""

    async def close_survey_case(
        self, session: AsyncSession, *, case: str, status: str, answers: Mapping[str, int | None], at: datetime,
        note: str = "",
    ) -> None:
        """The survey of `case` ended (`status`: completed, partial, unreachable, opted-out);
        `note` is kept with it (e.g. why its dissatisfied answer was not scored)."""

    async def window_departments(self, session: AsyncSession) -> Mapping[str, tuple[str, str]]:
        """Window id -> (id, name) of the department the window belongs to."""

    async def request_reopening(self, session: AsyncSession, *, case: str, answer: int, at: datetime) -> str:
        """Ask for closed `case` to be reopened (a dissatisfied follow-up)."""
