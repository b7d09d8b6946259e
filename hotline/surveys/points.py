"""The campaign's narrow link to scoring: a dissatisfied citizen costs the staff member points.

宜黃 先進個人 績(1): 服務對象不滿意的每次扣5分: each dissatisfied service recipient counts, with
no verification (unlike 投訴經查實, which reaches the scores through the complaint case the same
answer opens). The composition root fills `SurveyScoring` with scoring's SurveyPoints
(scoring/survey_points.py); it works in the campaign's session and transaction, so a survey's
end and its points are saved together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Dissatisfied:
    """One citizen who answered 3 (dissatisfied) to at least one question of survey `case`."""

    case: str
    week: str
    window: str
    staff: str
    questions: tuple[str, ...]  # the questions answered 3
    day: date  # the ledger day: the day it ended, within the month its week counts in
    at: datetime


class SurveyScoring(Protocol):
    async def dissatisfied(self, session: AsyncSession, citizen: Dissatisfied) -> list[str]:
        """Stage the citizen's occurrence for the staff member in the session's transaction,
        once per survey (a second call for the same case enters nothing). Returns why a rubric
        was left out, if one was (the staff member is not a scoring subject), for the record."""
