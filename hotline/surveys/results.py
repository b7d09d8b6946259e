"""Survey results: counts, the answer distribution and the satisfaction rate, per group
(window, staff member, or the department the window belongs to).

Pure: survey records in, plain data out.

**Satisfaction rate** (满意率, as 12345 centres report it): of the surveys in which the citizen
answered at least one question (completed or partial), the share with no dissatisfied answer
(every answer given is 1 satisfied or 2 basically satisfied). One citizen, one evaluation
(一事一评): a survey counts once, whatever it answered, as the scoring report's `surveys` and
`satisfied` count them. With no answered survey the rate is None (not 0: nobody said they were
dissatisfied). The same count makes the staff member's dissatisfied-citizen points (one per
answered survey with a 3) and the XX city annual public evaluation (docs/surveys.md, "Scores").

**Suggestions**: the spoken suggestions of the period's surveys, each with its transcript's text
or, without one, the state that says why (`SUGGESTION_STATES`); listed, not counted.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from hotline.errors import InvalidInput
from hotline.surveys.draw import parse_week

QUESTIONS = ("attitude", "efficiency", "compliance")
# Where a survey stands (docs/surveys.md, "The dialer").
PENDING, CALLING, COMPLETED, PARTIAL, UNREACHABLE, OPTED_OUT = (
    "pending", "calling", "completed", "partial", "unreachable", "opted-out",
)
STATUSES = (PENDING, CALLING, COMPLETED, PARTIAL, UNREACHABLE, OPTED_OUT)
ANSWERED_STATUSES = (COMPLETED, PARTIAL)
GROUPINGS = ("window", "staff", "department")
# The group of surveys about a window no department names (hotline departments import).
NO_DEPARTMENT = "(no department)"
# Where a suggestion's transcript stands: its text is there; or it was transcribed and no word
# was heard; or its transcription is queued or running, gave up, was never asked for (an
# unreadable recording, no speech model); or no recording of the suggestion is kept (never
# archived, or deleted at the end of retention).
TRANSCRIBED, NO_SPEECH, TRANSCRIPT_PENDING, TRANSCRIPT_FAILED, NOT_QUEUED, NO_RECORDING = (
    "transcribed", "no speech", "pending", "failed", "not queued", "no recording",
)
SUGGESTION_STATES = (TRANSCRIBED, NO_SPEECH, TRANSCRIPT_PENDING, TRANSCRIPT_FAILED, NOT_QUEUED, NO_RECORDING)


@dataclass(frozen=True)
class SurveyRecord:
    """One survey as results need it."""

    case: str
    week: str
    window: str
    staff: str
    status: str
    answers: tuple[int | None, int | None, int | None]
    department: str = NO_DEPARTMENT  # of the window (the cases' departments)


@dataclass(frozen=True)
class Suggestion:
    """A survey's spoken suggestion as results show it: the call it was recorded on (None when
    no tracked call has it) and its transcript's text, or the state that says why there is none."""

    case: str
    week: str
    window: str
    staff: str
    department: str
    call: int | None
    text: str | None
    state: str

    def to_json(self) -> dict[str, Any]:
        return {"case": self.case, "week": self.week, "window": self.window, "staff": self.staff,
                "department": self.department, "call": self.call, "transcript": self.text, "state": self.state}


def week_month(week: str) -> str:
    """The month an ISO week counts in: the month of its Thursday (ISO 8601's rule for which
    year a week belongs to, applied to months), so every week counts in exactly one month."""
    thursday = parse_week(week) + timedelta(days=3)
    return f"{thursday.year}-{thursday.month:02d}"


def answered(records: Iterable[SurveyRecord]) -> list[SurveyRecord]:
    """The surveys that count for satisfaction: completed or partial, with an answer."""
    return [r for r in records if r.status in ANSWERED_STATUSES and any(a is not None for a in r.answers)]


def satisfied(record: SurveyRecord) -> bool:
    """No answer of the survey was 3 (dissatisfied)."""
    return 3 not in record.answers


def satisfaction_rate(records: Iterable[SurveyRecord]) -> Fraction | None:
    """The satisfaction rate defined in the module docstring."""
    counted = answered(records)
    if not counted:
        return None
    return Fraction(sum(satisfied(record) for record in counted), len(counted))


def scoring_satisfaction(records: Sequence[SurveyRecord], by: str, cases: bool = False) -> dict[str, dict[str, Any]]:
    """Per window, staff member or department, `surveys` (answered) and `satisfied`: the
    `satisfaction` object of the scoring input (docs/scoring.md), shown beside each score; with
    `cases`, the survey cases counted and the dissatisfied ones, which scores trace to."""
    return {
        key: {"surveys": len(group), "satisfied": sum(satisfied(r) for r in group)}
        | ({"cases": tuple(r.case for r in group),
            "dissatisfied": tuple(r.case for r in group if not satisfied(r))} if cases else {})
        for key, group in answered_groups(records, by).items()
    }


def answered_groups(records: Sequence[SurveyRecord], by: str) -> dict[str, list[SurveyRecord]]:
    """The answered surveys per window, staff member or department, in key order."""
    counted = answered(records)
    return {key: [r for r in counted if getattr(r, by) == key] for key in sorted({getattr(r, by) for r in counted})}


def summary(records: Sequence[SurveyRecord]) -> dict[str, Any]:
    """Counts by status, the distribution of each question's answers and the satisfaction rate."""
    counted = [record for record in records if record.status in ANSWERED_STATUSES]
    rate = satisfaction_rate(records)
    return {
        "surveys": len(records),
        **{status.replace("-", "_"): sum(r.status == status for r in records) for status in STATUSES},
        "distribution": {
            question: {str(value): sum(r.answers[index] == value for r in counted) for value in (1, 2, 3)}
            for index, question in enumerate(QUESTIONS)
        },
        "answered_surveys": len(answered(records)),
        "dissatisfied_surveys": sum(not satisfied(r) for r in answered(records)),
        "satisfaction_rate": None if rate is None else round(float(rate), 4),
    }


def results(records: Sequence[SurveyRecord], by: str | None = None,
            names: Mapping[str, str] | None = None, suggestions: Sequence[Suggestion] = ()) -> dict[str, Any]:
    """The summary of all `records`, and per window, staff member or department when `by` says
    so (each group with its `name` where `names` has one: departments); each with its
    `suggestions`, by week and case."""
    ordered = sorted(suggestions, key=lambda s: (s.week, s.case))
    result: dict[str, Any] = {"total": summary(records), "suggestions": [s.to_json() for s in ordered]}
    if by is not None:
        keys = sorted({getattr(record, by) for record in records})
        result[by] = {key: ({"name": names[key]} if names and key in names else {})
                      | summary([r for r in records if getattr(r, by) == key])
                      | {"suggestions": [s.to_json() for s in ordered if getattr(s, by) == key]}
                      for key in keys}
    return result


def weeks_of_month(month: str) -> list[str]:
    """The ISO weeks counted in `month` (YYYY-MM): those whose Thursday falls in it."""
    try:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    except ValueError:
        raise InvalidInput(f"month: expected YYYY-MM such as 2026-12, got {month!r}",
                           parameter="month") from None
    return weeks_between(first, date(year, number, calendar.monthrange(year, number)[1]))


def weeks_between(first: date, last: date) -> list[str]:
    """The ISO weeks whose Thursday falls in `first`..`last`: those counted in that month,
    quarter or year (a year's are exactly its ISO weeks)."""
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    # Counted in days, not stepped as dates: a step past 31 December 9999 cannot be a date.
    thursdays = (first_thursday + timedelta(days=days) for days in range(0, (last - first_thursday).days + 1, 7))
    return [f"{year}-W{week:02d}" for year, week, _ in (day.isocalendar() for day in thursdays)]


def ledger_day(week: str, day: date) -> date:
    """The day a survey's points are dated: the day it ended, moved into the month its week
    counts in when the week straddles two months, so the points fall in the month whose
    satisfaction rate counts the survey."""
    year, month = (int(part) for part in week_month(week).split("-"))
    return min(max(day, date(year, month, 1)), date(year, month, calendar.monthrange(year, month)[1]))


def shortfall(per_week: int, statuses: Sequence[str], drawn_short: str | None, week_over: bool) -> dict[str, Any]:
    """How many completed surveys the week lacks, and why (None when it lacks none)."""
    completed = sum(status == COMPLETED for status in statuses)
    missing = max(0, per_week - completed)
    if missing == 0:
        reason = None
    elif drawn_short:
        reason = drawn_short
    elif not week_over:
        reason = f"week in progress: {sum(s in (PENDING, CALLING) for s in statuses)} surveys still to call"
    else:
        reason = f"the week ended with {missing} surveys not completed"
    return {"count": missing, "reason": reason}


def period_weeks(week: str | None, month: str | None) -> tuple[list[str], str]:
    """The weeks of a period given as exactly one of `week` (2026-W49) or `month` (2026-12)."""
    if bool(week) == bool(month):
        raise InvalidInput("give either week (2026-W49) or month (2026-12)", parameter="week")
    if week:
        parse_week(week)
        return [week], week
    assert month is not None
    return weeks_of_month(month), month
