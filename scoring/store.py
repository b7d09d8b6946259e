"""Scored subjects (windows, staff) and the occurrence ledger the scoring engine reads.

The ledger is append-only: a correction inserts a reversal that points at the entry it cancels
(unique, so an entry is reversed at most once), and nothing is ever updated or deleted.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Sequence

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.tables import Base
from hotline.errors import InvalidInput, NotFound
from scoring.occurrences import Occurrence, Subject, reversal
from scoring.rubrics import Rubric
from scoring.scorecards import Period


EVIDENCE_LENGTH = 200
# `count` is NUMERIC(10, 2): whole hundredths below 10^8; anything else would be stored rounded
# (1/3 as 0.33, 0.001 as 0) or refused by PostgreSQL.
COUNT_LIMIT = 10**8


class ScoredSubject(Base):
    """A window (kind "window") or a member of window staff (kind "staff")."""

    __tablename__ = "scored_subjects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    since: Mapped[date | None]
    window_id: Mapped[str | None] = mapped_column(ForeignKey("scored_subjects.id"))


class OccurrenceEntry(Base):
    """One ledger entry; `reverses_id` set makes it the correction of an earlier entry."""

    __tablename__ = "occurrences"
    __table_args__ = (Index("ix_occurrences_rubric_day", "rubric", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rubric: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(ForeignKey("scored_subjects.id"))
    item: Mapped[str] = mapped_column(String(64))
    day: Mapped[date]
    count: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    source: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[str] = mapped_column(String(EVIDENCE_LENGTH))
    entered_by: Mapped[str] = mapped_column(String(100))
    entered_at: Mapped[datetime]
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("occurrences.id"), unique=True)
    note: Mapped[str] = mapped_column(Text)


def _occurrence(row: OccurrenceEntry) -> Occurrence:
    return Occurrence(
        id=str(row.id),
        subject=row.subject_id,
        item=row.item,
        date=row.day,
        count=Fraction(row.count),
        source=row.source,
        evidence=row.evidence,
        entered_by=row.entered_by,
        entered_at=row.entered_at,
        reverses=str(row.reverses_id) if row.reverses_id is not None else None,
        note=row.note,
    )


async def save_subject(
    session: AsyncSession, subject: Subject, kind: str, window_id: str | None = None
) -> None:
    """Add or rename a subject (its id never changes: the ledger points at it)."""
    row = await session.get(ScoredSubject, subject.id)
    if row is None:
        session.add(
            ScoredSubject(
                id=subject.id, kind=kind, name=subject.name, since=subject.since, window_id=window_id
            )
        )
    elif row.kind != kind:
        raise InvalidInput(f"subject {subject.id!r} is a {row.kind}, not a {kind}", subject=subject.id)
    else:
        row.name, row.since, row.window_id = subject.name, subject.since, window_id
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise InvalidInput(
            f"subject {subject.id!r}: unknown window {window_id!r}", window=window_id
        ) from None


async def subjects_of_kind(session: AsyncSession, kind: str) -> list[Subject]:
    rows = await session.scalars(
        select(ScoredSubject).where(ScoredSubject.kind == kind).order_by(ScoredSubject.id)
    )
    return [Subject(row.id, row.name, row.since) for row in rows]


async def staff_windows(session: AsyncSession) -> dict[str, str]:
    """Staff id -> window id, for staff with a window: whose window their attendance counts against."""
    rows = await session.execute(
        select(ScoredSubject.id, ScoredSubject.window_id).where(
            ScoredSubject.kind == "staff", ScoredSubject.window_id.is_not(None)
        )
    )
    return {staff: window for staff, window in rows}


async def record_occurrence(session: AsyncSession, rubric: str, entry: Occurrence) -> Occurrence:
    """Append `entry` (its id is ignored; the database numbers entries) and return it as stored."""
    if await session.get(ScoredSubject, entry.subject) is None:
        raise NotFound(f"no subject {entry.subject!r}; add it first", subject=entry.subject)
    row = _row(rubric, entry)
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise InvalidInput(
            f"occurrence {entry.reverses} is already reversed", occurrence=entry.reverses
        ) from None
    return _occurrence(row)


async def record_occurrences(
    session: AsyncSession, rubric: Rubric, entries: Sequence[Occurrence]
) -> list[Occurrence]:
    """Append new `entries` to `rubric`'s ledger in one transaction: all of them, or none if one
    is refused (see `stage_occurrences`)."""
    staged = await stage_occurrences(session, rubric, entries)
    await session.commit()
    return staged


async def stage_occurrences(
    session: AsyncSession, rubric: Rubric, entries: Sequence[Occurrence]
) -> list[Occurrence]:
    """Add new `entries` to `rubric`'s ledger in the caller's transaction (not committed), so that
    another feature's change and the points it causes are saved together or not at all. Each
    must name an item of the rubric and a subject of the kind the rubric scores: scoring refuses
    a ledger holding anything else, so one stray entry would stop every scoreboard of the rubric
    until the end of its year."""
    wanted = {entry.subject for entry in entries}
    kinds = dict(
        (
            await session.execute(
                select(ScoredSubject.id, ScoredSubject.kind).where(ScoredSubject.id.in_(wanted))
            )
        ).all()
    )
    rows = []
    for entry in entries:
        kind = kinds.get(entry.subject)
        if kind is None:
            raise NotFound(f"no subject {entry.subject!r}; add it first", subject=entry.subject)
        if kind != rubric.subjects:
            raise InvalidInput(
                f"subject {entry.subject!r} is a {kind}, but rubric {rubric.id} scores {rubric.subjects}s",
                subject=entry.subject,
            )
        if entry.item not in rubric.items:
            raise InvalidInput(f"rubric {rubric.id} has no item {entry.item!r}", item=entry.item)
        rows.append(_row(rubric.id, entry))
    session.add_all(rows)
    await session.flush()
    return [_occurrence(row) for row in rows]


def _row(rubric: str, entry: Occurrence) -> OccurrenceEntry:
    if entry.entered_at is None or not entry.entered_by:
        raise InvalidInput("an occurrence needs who entered it and when")
    if len(entry.evidence) > EVIDENCE_LENGTH:
        raise InvalidInput(f"evidence: at most {EVIDENCE_LENGTH} characters", occurrence=entry.id)
    if (entry.count * 100).denominator != 1 or not 0 < entry.count < COUNT_LIMIT:
        raise InvalidInput(
            f"count: expected a positive number below {COUNT_LIMIT} with at most two decimals, got {entry.count}",
            occurrence=entry.id,
        )
    return OccurrenceEntry(
        rubric=rubric,
        subject_id=entry.subject,
        item=entry.item,
        day=entry.date,
        count=Decimal(entry.count.numerator) / Decimal(entry.count.denominator),
        source=entry.source,
        evidence=entry.evidence,
        entered_by=entry.entered_by,
        entered_at=entry.entered_at,
        reverses_id=int(entry.reverses) if entry.reverses is not None else None,
        note=entry.note,
    )


async def reverse_occurrence(
    session: AsyncSession, entry_id: int, *, entered_by: str, entered_at: datetime, note: str
) -> Occurrence:
    """Append the reversal of entry `entry_id` (the correction of a wrong entry)."""
    row = await session.get(OccurrenceEntry, entry_id)
    if row is None:
        raise NotFound(f"no occurrence {entry_id}", occurrence=entry_id)
    cancel = reversal(_occurrence(row), id="", entered_by=entered_by, entered_at=entered_at, note=note)
    return await record_occurrence(session, row.rubric, cancel)


async def stage_reversals(
    session: AsyncSession, entry_ids: Sequence[int], *, entered_by: str, entered_at: datetime, note: str
) -> list[Occurrence]:
    """Add the reversals of `entry_ids` that are not reversed yet, in the caller's transaction."""
    reversed_ids = set(
        await session.scalars(
            select(OccurrenceEntry.reverses_id).where(OccurrenceEntry.reverses_id.in_(entry_ids))
        )
    )
    rows = []
    for row in await session.scalars(
        select(OccurrenceEntry).where(OccurrenceEntry.id.in_(entry_ids)).order_by(OccurrenceEntry.id)
    ):
        if row.id not in reversed_ids:
            cancel = reversal(_occurrence(row), id="", entered_by=entered_by, entered_at=entered_at, note=note)
            rows.append(_row(row.rubric, cancel))
    session.add_all(rows)
    await session.flush()
    return [_occurrence(row) for row in rows]


async def subject_kind(session: AsyncSession, subject: str) -> str | None:
    """"window", "staff", or None for an id that is no scoring subject."""
    row = await session.get(ScoredSubject, subject)
    return None if row is None else row.kind


async def entered_with_evidence(session: AsyncSession, rubric: str, item: str, subject: str, prefix: str) -> bool:
    """Whether `rubric`'s ledger has an entry of `item` for `subject` whose evidence starts with
    `prefix`, reversed or not (a reversed one was a supervisor's decision, not to be redone)."""
    found = await session.scalar(
        select(OccurrenceEntry.id).where(
            OccurrenceEntry.rubric == rubric, OccurrenceEntry.item == item,
            OccurrenceEntry.subject_id == subject, OccurrenceEntry.reverses_id.is_(None),
            OccurrenceEntry.evidence.startswith(prefix, autoescape=True),
        ).limit(1)
    )
    return found is not None


async def ledger_between(session: AsyncSession, rubric: str, start: date, end: date) -> list[Occurrence]:
    """Every entry of `rubric` dated `start`..`end`, reversals included (scoring honours them)."""
    rows = await session.scalars(
        select(OccurrenceEntry)
        .where(
            OccurrenceEntry.rubric == rubric, OccurrenceEntry.day >= start, OccurrenceEntry.day <= end
        )
        .order_by(OccurrenceEntry.id)
    )
    return [_occurrence(row) for row in rows]


async def ledger_for_period(
    session: AsyncSession, rubric: Rubric, period: Period
) -> tuple[list[Subject], list[Occurrence]]:
    """The subjects and entries scoring `period` needs: from 1 January, for year-long rules."""
    subjects = await subjects_of_kind(session, rubric.subjects)
    entries = await ledger_between(session, rubric.id, date(period.year, 1, 1), period.end)
    return subjects, entries
