"""The survey campaign's tables and queries: served items, opt-outs, weekly draws, surveys and
their call attempts.

The plan lives here, not in memory: a week's draw is one row (its seed) written with its
surveys in one transaction, and a call attempt is written before its Originate is sent, so a
restarted daemon neither draws a week twice nor dials one attempt twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint, func, select, tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.tables import Base
from hotline.surveys.served import ServedItem


class ServedItemRow(Base):
    """One completed service item (辦件), the population of the weekly draw."""

    __tablename__ = "served_items"
    __table_args__ = (
        UniqueConstraint("window", "staff", "phone", "item", "completed_at", name="uq_served_items_record"),
        Index("ix_served_items_completed_at", "completed_at"),
        Index("ix_served_items_phone", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    window: Mapped[str] = mapped_column(String(64))
    staff: Mapped[str] = mapped_column(String(64))
    applicant: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32))
    item: Mapped[str] = mapped_column(String(200))
    completed_at: Mapped[datetime]
    imported_at: Mapped[datetime]


class OptOut(Base):
    """A number that is never called again (a key in the survey, or an operator's word)."""

    __tablename__ = "survey_opt_outs"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(200))


class SurveyWeek(Base):
    """One ISO week's draw: its seed, so the draw can be reproduced and audited."""

    __tablename__ = "survey_weeks"

    week: Mapped[str] = mapped_column(String(8), primary_key=True)
    seed: Mapped[str] = mapped_column(String(64))
    drawn_at: Mapped[datetime]
    shortfall: Mapped[str | None] = mapped_column(Text)


class Survey(Base):
    """One drawn citizen: a callback-survey case, its answers and where the calling stands."""

    __tablename__ = "surveys"
    __table_args__ = (Index("ix_surveys_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[str] = mapped_column(ForeignKey("survey_weeks.week"), index=True)
    round: Mapped[int] = mapped_column(SmallInteger)
    served_item_id: Mapped[int] = mapped_column(ForeignKey("served_items.id"))
    case: Mapped[str] = mapped_column(String(64), unique=True)
    window: Mapped[str] = mapped_column(String(64))
    staff: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))
    drawn_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attitude: Mapped[int | None] = mapped_column(SmallInteger)
    efficiency: Mapped[int | None] = mapped_column(SmallInteger)
    compliance: Mapped[int | None] = mapped_column(SmallInteger)
    suggestion: Mapped[str | None] = mapped_column(Text)
    complaint_case: Mapped[str | None] = mapped_column(String(64))


class SurveyAttempt(Base):
    """One call attempt, written before its Originate goes out; `outcome` None: in flight."""

    __tablename__ = "survey_attempts"
    __table_args__ = (UniqueConstraint("survey_id", "number", name="uq_survey_attempts_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    number: Mapped[int] = mapped_column(SmallInteger)
    action_id: Mapped[str] = mapped_column(String(100), unique=True)
    started_at: Mapped[datetime]
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(16))
    settled_at: Mapped[datetime | None]


class FollowupAnswer(Base):
    """The answer to a closed case's follow-up call (回访), one per case."""

    __tablename__ = "followup_answers"

    case: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[int | None] = mapped_column(SmallInteger)
    answered_at: Mapped[datetime]
    reopening: Mapped[str | None] = mapped_column(String(64))


@dataclass(frozen=True)
class ImportReport:
    """What an import stored: new items, and how many were already known."""

    added: int
    already_known: int


async def add_served_items(session: AsyncSession, items: Sequence[ServedItem], now: datetime) -> ImportReport:
    """Store the items not stored yet (same window, staff, phone, item and time), in one
    transaction; the ones already known are counted, not stored twice."""
    known: set[tuple] = set()
    keys = [item.key for item in items]
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        rows = await session.execute(
            select(ServedItemRow.window, ServedItemRow.staff, ServedItemRow.phone,
                   ServedItemRow.item, ServedItemRow.completed_at)
            .where(ServedItemRow.phone.in_({key[2] for key in chunk}))
            .where(tuple_(ServedItemRow.window, ServedItemRow.staff).in_({key[:2] for key in chunk}))
        )
        known.update(tuple(row) for row in rows)
    fresh = [item for item in items if item.key not in known]
    session.add_all(
        ServedItemRow(window=item.window, staff=item.staff, applicant=item.applicant,
                      phone=item.phone, item=item.item, completed_at=item.completed_at,
                      imported_at=now)
        for item in fresh
    )
    await session.commit()
    return ImportReport(len(fresh), len(items) - len(fresh))


async def count_served_items(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(ServedItemRow)) or 0
