"""The call figures a supervisor watches, aggregated by the database (SQLite and PostgreSQL alike):
nothing loads a day's calls into Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Integer, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.tables import Call, CallRating

# GB/T 33358-2016 asks that calls be answered within 15 seconds.
ANSWER_TARGET_SECONDS = 15.0
# The caller's key after the operator hung up (callflows/rating.py), by name.
RATINGS = {1: "satisfied", 2: "basically_satisfied", 3: "dissatisfied"}


def _hour(session: AsyncSession):
    """The call's start as whole hours since 1970 UTC: one expression per database, same number."""
    if session.bind.dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", Call.started_at) / 3600), Integer)
    return cast(func.strftime("%s", Call.started_at), Integer) // 3600


@dataclass(frozen=True)
class CallFigures:
    """Ended calls in a period, their answer, abandon and time figures, and per hour."""

    calls: int
    answered: int
    answered_in_target: int
    abandoned: int
    average_wait: float | None
    average_talk: float | None
    hours: list[dict[str, Any]]
    ratings: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls, "answered": self.answered, "answered_in_target": self.answered_in_target,
            "abandoned": self.abandoned,
            "answered_in_target_rate": self.answered_in_target / self.calls if self.calls else None,
            "abandon_rate": self.abandoned / self.calls if self.calls else None,
            "average_wait_seconds": self.average_wait, "average_talk_seconds": self.average_talk,
            "target_seconds": ANSWER_TARGET_SECONDS, "hours": self.hours, "ratings": self.ratings,
        }


async def call_figures(
    session: AsyncSession, since: datetime, until: datetime, hotline: str | None = None
) -> CallFigures:
    """Figures of the calls that started in [since, until) and have ended, in total and per hour."""
    answered = Call.disposition == "answered"
    hour = _hour(session).label("hour")
    wait, talk = case((answered, Call.wait_seconds)), case((answered, Call.talk_seconds))
    where = [Call.started_at >= since, Call.started_at < until, Call.ended_at.is_not(None)]
    if hotline is not None:
        where.append(Call.hotline == hotline)
    # One pass over the period's calls, per hour; the totals are the hours' sums (a month is
    # 100,000 calls: a second pass for the totals alone doubled the time).
    rows = (await session.execute(select(
        hour, func.count(),
        func.coalesce(func.sum(case((answered, 1), else_=0)), 0),
        func.coalesce(func.sum(case((answered & (Call.wait_seconds <= ANSWER_TARGET_SECONDS), 1), else_=0)), 0),
        func.coalesce(func.sum(case((Call.disposition == "abandoned", 1), else_=0)), 0),
        func.sum(wait), func.count(wait), func.sum(talk), func.count(talk),
    ).where(*where).group_by(hour).order_by(hour))).all()
    hours = [
        {"hour": datetime.fromtimestamp(int(h) * 3600, timezone.utc).isoformat(), "calls": n,
         "answered": int(a), "answered_in_target": int(t), "abandoned": int(ab)}
        for h, n, a, t, ab, *_ in rows
    ]
    totals = [sum(row[column] or 0 for row in rows) for column in range(1, 9)]
    calls, answered_n, in_target, abandoned, wait_sum, waits, talk_sum, talks = totals
    rated = await session.execute(
        select(CallRating.rating, func.count()).join(Call, Call.linkedid == CallRating.linkedid)
        .where(*where).group_by(CallRating.rating))
    ratings = dict.fromkeys(RATINGS.values(), 0) | {RATINGS[r]: n for r, n in rated if r in RATINGS}
    return CallFigures(calls, int(answered_n), int(in_target), int(abandoned),
                       float(wait_sum) / waits if waits else None, float(talk_sum) / talks if talks else None,
                       hours, ratings)
