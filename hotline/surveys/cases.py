"""The campaign's narrow link to the cases workflow (12345/12319 work orders).

A drawn citizen becomes a callback-survey case, a dissatisfied answer opens a complaint about
the window and staff member for verification, and a dissatisfied follow-up asks for the case to
be reopened. The campaign needs nothing else from cases, so that is all `CaseDesk` asks. The
composition root connects it to `hotline.cases` once both are in place; until then
`SurveyCaseNumbers` numbers the cases itself and the survey tables keep them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class CaseDesk(Protocol):
    """What the survey campaign asks of the cases workflow; each call returns a case id."""

    async def open_survey_case(self, *, week: str, item_id: int, window: str, staff: str, phone: str) -> str:
        """Register a callback survey of the citizen served by `item_id` as a case."""

    async def open_complaint(
        self, *, survey_case: str, window: str, staff: str, phone: str, answers: Mapping[str, int | None]
    ) -> str:
        """Open a complaint about `window`/`staff` for verification (a dissatisfied answer)."""

    async def request_reopening(self, *, case: str, answer: int) -> str:
        """Ask for closed `case` to be reopened (a dissatisfied follow-up)."""


class SurveyCaseNumbers:
    """The default desk while no cases workflow is connected: stable, readable case ids
    (`SV-2026-W49-17` for item 17 drawn in week 49), recorded on the survey rows."""

    async def open_survey_case(self, *, week: str, item_id: int, window: str, staff: str, phone: str) -> str:
        return f"SV-{week}-{item_id}"

    async def open_complaint(
        self, *, survey_case: str, window: str, staff: str, phone: str, answers: Mapping[str, int | None]
    ) -> str:
        return f"CP-{survey_case}"

    async def request_reopening(self, *, case: str, answer: int) -> str:
        return f"RO-{case}"
