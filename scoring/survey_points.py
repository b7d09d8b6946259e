"""The occurrence ledger as a service to the survey campaign (the `SurveyScoring` port of
hotline/surveys/points.py): each dissatisfied citizen becomes one entry of the staff rubrics'
item, with the survey case as evidence, in the survey's own transaction.

Not the verified complaint: the same answer opens a complaint case, and only its verification
as substantiated enters the staff rubric's `verified-complaint` (德(2) 服務對象投訴經查實) through
CasePoints. The source scores the two apart (績(1) 服務對象不滿意的每次扣5分 needs no
verification), so a substantiated complaint from a survey costs both items, once each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.errors import ConfigError
from scoring.occurrences import Occurrence
from scoring.rubrics import Rubric, find_rubric
from scoring.store import EVIDENCE_LENGTH, entered_with_evidence, stage_occurrences, subject_kind

log = logging.getLogger("scoring")
ENTERED_BY = "hotline:surveys"


def survey_evidence(case: str) -> str:
    """The evidence prefix of a survey's entries: `case NUMBER;`, which the console links to the case."""
    return f"case {case};"


class SurveyPoints:
    """Enter a dissatisfied citizen on each configured staff rubric, once per survey."""

    def __init__(self, rubrics: Sequence[str], item: str) -> None:
        self.rubrics: list[Rubric] = [find_rubric(rubric) for rubric in rubrics]
        self.item = item
        for rubric in self.rubrics:
            if rubric.subjects != "staff" or item not in rubric.items:
                raise ConfigError(
                    f"surveys.dissatisfied_rubrics: {rubric.id} is not a staff rubric with the item {item!r}",
                    key="surveys.dissatisfied_rubrics")
            rated = {c.id for c in rubric.categories if c.survey_rate}
            if rubric.items[item].category in rated:
                # xx-city-staff's 公眾評價情況 already counts every survey through the year's rate.
                raise ConfigError(
                    f"surveys.dissatisfied_rubrics: {rubric.id}'s {item!r} is in a category its callback-survey "
                    "satisfaction rate makes; the surveys count there already", key="surveys.dissatisfied_rubrics")

    async def dissatisfied(self, session: AsyncSession, citizen: Any) -> list[str]:
        """Stage one entry per rubric for `citizen` (the campaign's Dissatisfied) unless made
        before; a staff member who is not a scoring subject is left out, which the answer and
        the log say, and nothing fails."""
        omitted = []
        evidence = survey_evidence(citizen.case)
        kind = await subject_kind(session, citizen.staff)
        for rubric in self.rubrics:
            if kind != "staff":
                why = (f"staff {citizen.staff!r} is not a scoring subject of {rubric.id}"
                       f" (add them: hotline score subject add {citizen.staff} NAME --kind staff)")
                omitted.append(why)
                log.warning("survey %s: dissatisfied citizen not scored: %s", citizen.case, why,
                            extra={"action": "survey-points"})
                continue
            if await entered_with_evidence(session, rubric.id, self.item, citizen.staff, evidence):
                continue
            # Cut to the ledger's length, the case number first: ids of 64 characters could pass it.
            entry = Occurrence(
                "", citizen.staff, self.item, citizen.day, Fraction(1), "survey",
                (f"{evidence} callback survey {citizen.week}, window {citizen.window}: dissatisfied with "
                 f"{', '.join(citizen.questions)}")[:EVIDENCE_LENGTH], ENTERED_BY, citizen.at,
            )
            await stage_occurrences(session, rubric, [entry])
        return omitted
