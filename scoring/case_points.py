"""The occurrence ledger as a service to the cases feature (the `Scoring` port of
hotline/cases/store.py): a substantiated complaint or a late case becomes ledger entries with the
case as evidence, and an overturned outcome their reversal, in the case's own transaction so that
the case step and its points are saved together or not at all."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from scoring.occurrences import Occurrence
from scoring.rubrics import Rubric, find_rubric
from scoring.store import stage_occurrences, stage_reversals

SOURCES = {"complaint": "complaint", "overdue": "overdue-case"}
# The staff rubrics' own item for a verified complaint, used when the window's item is not theirs.
STAFF_COMPLAINT_ITEM = "verified-complaint"


class CasePoints:
    """Enter and cancel the points cases cause, on a window rubric and the staff rubrics."""

    def __init__(self, window_rubric: str, staff_rubrics: Sequence[str] = ()) -> None:
        self.window: Rubric = find_rubric(window_rubric)
        self.staff: list[Rubric] = [find_rubric(rubric) for rubric in staff_rubrics]

    async def enter(self, session: AsyncSession, entry: Any) -> list[int]:
        """Stage the entries for `entry` (a cases ScoreEntry): its window on the window rubric, and
        for a complaint naming a staff member, that person on every staff rubric with the item."""

        def occurrence(subject: str, item: str) -> Occurrence:
            return Occurrence("", subject, item, entry.day, Fraction(1), SOURCES[entry.kind],
                              entry.evidence, entry.entered_by, entry.at)

        ids = []
        if entry.window is not None:
            staged = await stage_occurrences(session, self.window, [occurrence(entry.window, entry.item)])
            ids += [int(o.id) for o in staged]
        if entry.staff is not None and entry.kind == "complaint":
            for rubric in self.staff:
                item = entry.item if entry.item in rubric.items else STAFF_COMPLAINT_ITEM
                if item in rubric.items:
                    staged = await stage_occurrences(session, rubric, [occurrence(entry.staff, item)])
                    ids += [int(o.id) for o in staged]
        return ids

    async def cancel(self, session: AsyncSession, ids: Sequence[int], by: str, at: datetime, note: str) -> None:
        """Stage the reversals of entries `ids`."""
        await stage_reversals(session, ids, entered_by=by, entered_at=at, note=note)
