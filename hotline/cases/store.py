"""Cases in the database: the cases, their callers and calls, their history, departments, case
numbers and the calendars deadlines are counted on.

- The history (`case_steps`) is append-only: a step is inserted, never updated or deleted, and
  carries the hash of the step before it (workflow.py), and the case row the newest step's
  (`head`), so `verify_histories` finds an edit or a deletion made behind hotline's back.
- Case numbers are gap-free per day and prefix: the day's counter row is incremented by an
  UPDATE that takes its row lock (PostgreSQL) or the database's write lock (SQLite) as the
  transaction's first write, and the case is inserted in the same transaction, so a failed
  filing gives its number back.
- Two people acting on one case at once: the `version` column makes the second UPDATE match no
  row (SQLAlchemy's version counter), and the second gets a 409 instead of overwriting the first.
- What cases change elsewhere goes through two ports the composition root provides: `Scoring`
  (the occurrence ledger) and `Recordings` (legal hold). This module imports neither feature.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, and_, exists, false, func, or_,
    select, update,
)
from sqlalchemy import case as sql_case  # `case` is the domain's word here
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column
from sqlalchemy.orm.exc import StaleDataError

from hotline.cases import workflow
from hotline.cases.calendar import CalendarYear, OfficeHours, WorkingCalendar, parse_year
from hotline.cases.workflow import Actor, Case, Conflict, Policy, Step, Transition
from hotline.config import CasesConfig
from hotline.db import insert_for
from hotline.db.calls import before_cursor, encode_cursor
from hotline.db.tables import MAX_ID, Base, Call
from hotline.errors import ConfigError, InvalidInput, NotFound


class Department(Base):
    """A department that handles cases (承办单位), and its window at the service centre."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The scoring subject id of the department's window, if it has one.
    window: Mapped[str | None] = mapped_column(String(64))


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_filed", "filed_at", "id"),
        Index("ix_cases_status_due", "status", "due_at"),
        Index("ix_cases_department", "department"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[datetime]
    filed_by: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime]
    hotline: Mapped[str | None] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(ForeignKey("departments.id"))
    department_window: Mapped[str | None] = mapped_column(String(64))
    window: Mapped[str | None] = mapped_column(String(64))
    staff: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str | None] = mapped_column(String(12))
    component_code: Mapped[str | None] = mapped_column(String(16))
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    acknowledge_due_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    extension_days: Mapped[int | None] = mapped_column(Integer)
    urged_at: Mapped[datetime | None]
    criticism_due_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]
    criticised_at: Mapped[datetime | None]
    substantiated: Mapped[bool | None] = mapped_column(Boolean)
    scored_item: Mapped[str | None] = mapped_column(String(64))
    merged_into: Mapped[str | None] = mapped_column(String(32))
    closed_at: Mapped[datetime | None]
    # Set once the recordings of a closed case are released (appeal time over).
    released_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer)
    # The hash of the newest step of its history: the chain's far end, kept with the case, so
    # that deleting the newest steps (which leaves a chain that still hashes) is found too.
    head: Mapped[str | None] = mapped_column(String(64))

    __mapper_args__ = {"version_id_col": version}


class CaseCaller(Base):
    """A caller of a case: the first, and every caller of a duplicate merged into it."""

    __tablename__ = "case_callers"
    __table_args__ = (Index("ix_case_callers_number", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    number: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    added_at: Mapped[datetime]


class CaseCall(Base):
    """A call a case came from (its recording and transcript are the case's evidence)."""

    __tablename__ = "case_calls"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), primary_key=True, index=True)
    # Where in the call's transcript the matter is said, in seconds, when the operator marks it.
    transcript_offset: Mapped[float | None]


class CaseStep(Base):
    """One step of a case's history; append-only, each hashing the one before."""

    __tablename__ = "case_steps"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_steps_case_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text)
    status_before: Mapped[str | None] = mapped_column(String(16))
    status_after: Mapped[str] = mapped_column(String(16))
    # The step's data as the exact canonical JSON its hash covers.
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class CaseCounter(Base):
    """The last case number given out per prefix and local day."""

    __tablename__ = "case_counters"

    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class CaseOccurrence(Base):
    """A ledger entry a case caused, so that an overturned outcome reverses exactly it."""

    __tablename__ = "case_occurrences"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    item: Mapped[str] = mapped_column(String(64))
    occurrence_id: Mapped[int] = mapped_column(Integer)
    reversed_at: Mapped[datetime | None]


class CalendarYearRow(Base):
    """A year's holiday notice imported with `hotline cases calendar import` (wins over the
    file shipped for the same year)."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime]


# ---- ports: what cases ask of other features, wired by the composition root ----------------


@dataclass(frozen=True)
class ScoreEntry:
    """A point a case causes: `item` for the case's window (and staff, for complaints)."""

    kind: str  # "complaint" or "overdue"
    item: str
    window: str | None
    staff: str | None
    day: date
    evidence: str
    entered_by: str
    at: datetime


class Scoring(Protocol):
    async def enter(self, session: AsyncSession, entry: ScoreEntry) -> list[int]:
        """Add the ledger entries for `entry` in the session's transaction; their ids."""

    async def cancel(self, session: AsyncSession, ids: Sequence[int], by: str, at: datetime, note: str) -> None:
        """Add the reversals of entries `ids` in the session's transaction."""


class Recordings(Protocol):
    async def recordings(self, session: AsyncSession, call_ids: Sequence[int]) -> dict[int, int]:
        """Call id -> id of its recording, for the calls that have one."""

    async def hold(self, session: AsyncSession, reasons: Mapping[int, str | None]) -> None:
        """Put the recordings of each call on legal hold (its reason) or release them (None)."""


@dataclass(frozen=True)
class CaseServices:
    """What the case store needs beyond a session: deadlines and the two ports."""

    policy: Policy
    scoring: Scoring | None = None
    recordings: Recordings | None = None
    soon_days: int = 1
    appeal_days: int = 60


# ---- configuration and calendar ----------------------------------------------------------------


def office_hours(config: CasesConfig) -> OfficeHours:
    """The office hours and time zone `config` sets (a ConfigError names a wrong one)."""
    try:
        zone = ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"cases.timezone: unknown time zone {config.timezone!r}", key="cases.timezone") from None
    periods = []
    for text in config.office_hours:
        try:
            opens, closes = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError:
            raise ConfigError(f"cases.office_hours: expected HH:MM-HH:MM, got {text!r}",
                              key="cases.office_hours") from None
        periods.append((opens, closes))
    try:
        return OfficeHours(tuple(periods), zone)
    except InvalidInput as error:
        raise ConfigError(f"cases.office_hours: {error}", key="cases.office_hours") from None


def _limits(config: CasesConfig) -> workflow.Limits:
    def days(key: str, table: Mapping[str, float], names: Sequence[str]) -> dict[str, Fraction]:
        for name in table:
            if name not in names:
                raise ConfigError(f"{key}.{name}: expected one of {', '.join(names)}", key=f"{key}.{name}")
        return {name: Fraction(str(value)) for name, value in table.items()}

    for channel in config.channel_limits:
        if channel not in workflow.CHANNELS:
            raise ConfigError(f"cases.channel_limits.{channel}: expected one of {', '.join(workflow.CHANNELS)}",
                              key=f"cases.channel_limits.{channel}")
    defaults = workflow.Limits()
    return workflow.Limits(
        days={**defaults.days, **days("cases.limits", config.limits, workflow.TYPES)},
        channel_days={channel: days(f"cases.channel_limits.{channel}", table, workflow.TYPES)
                      for channel, table in config.channel_limits.items()},
        acknowledge_days=Fraction(str(config.acknowledge_days)),
        channel_acknowledge_days=days("cases.acknowledge", config.channel_acknowledge_days, workflow.CHANNELS),
        criticism_days=Fraction(str(config.criticism_days)),
    )


@cache
def shipped_years() -> tuple[CalendarYear, ...]:
    """The calendars shipped in hotline/cases/calendars/, one per published notice."""
    folder = resources.files("hotline.cases").joinpath("calendars")
    return tuple(parse_year(entry.read_text("utf-8"), entry.name)
                 for entry in sorted(folder.iterdir(), key=lambda e: e.name) if entry.name.endswith(".toml"))


async def calendar_years(session: AsyncSession) -> list[CalendarYear]:
    """The shipped years, each replaced by an imported notice of the same year."""
    years = {year.year: year for year in shipped_years()}
    for row in await session.scalars(select(CalendarYearRow)):
        years[row.year] = parse_year(row.body, f"calendar {row.year}")
    return [years[year] for year in sorted(years)]


async def case_services(
    session: AsyncSession, config: CasesConfig, scoring: Scoring | None = None,
    recordings: Recordings | None = None,
) -> CaseServices:
    """Deadlines from `config` and the calendars in the database, with the ports given."""
    calendar = WorkingCalendar(await calendar_years(session), office_hours(config))
    policy = Policy(calendar, _limits(config), config.complaint_item, config.overdue_item)
    return CaseServices(policy, scoring, recordings, config.soon_days, config.appeal_days)


async def import_calendar(session: AsyncSession, text: str, origin: str, at: datetime) -> CalendarYear:
    """Store one year's notice (replacing an earlier import of that year); commits."""
    year = parse_year(text, origin)
    row = await session.get(CalendarYearRow, year.year)
    if row is None:
        session.add(CalendarYearRow(year=year.year, source=year.source, body=text, imported_at=at))
    else:
        row.source, row.body, row.imported_at = year.source, text, at
    await session.commit()
    return year


# ---- departments -------------------------------------------------------------------------------


def read_departments(text: str, origin: str) -> list[Department]:
    """Departments from CSV text with the header `id,name,window`; an error names the line."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != ["id", "name", "window"]:
        raise InvalidInput(f"{origin}: line 1: expected the header id,name,window, got {header!r}", file=origin)
    rows, seen = [], set()
    for line, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != 3:
            raise InvalidInput(f"{origin}: line {line}: expected 3 fields, got {len(record)}", file=origin, line=line)
        id_, name, window = (cell.strip() for cell in record)
        if not id_ or not name:
            raise InvalidInput(f"{origin}: line {line}: id and name are required", file=origin, line=line)
        if len(id_) > 64 or len(window) > 64:
            raise InvalidInput(f"{origin}: line {line}: id and window are at most 64 characters", file=origin, line=line)
        if id_ in seen:
            raise InvalidInput(f"{origin}: line {line}: department {id_!r} is listed twice", file=origin, line=line)
        seen.add(id_)
        rows.append(Department(id=id_, name=name, window=window or None))
    return rows


async def save_departments(session: AsyncSession, departments: Iterable[Department]) -> int:
    """Add or update `departments` (ids never change: cases point at them); commits."""
    count = 0
    for department in departments:
        await session.merge(department)
        count += 1
    await session.commit()
    return count


async def list_departments(session: AsyncSession) -> list[Department]:
    return list(await session.scalars(select(Department).order_by(Department.id)))


async def department_exists(session: AsyncSession, department: str) -> bool:
    return await session.get(Department, department) is not None


# ---- reading -----------------------------------------------------------------------------------

_CASE_FIELDS = tuple(f.name for f in fields(Case))


def _case(row: CaseRow) -> Case:
    return Case(**{name: getattr(row, name) for name in _CASE_FIELDS})


def _step(row: CaseStep) -> Step:
    return Step(row.seq, row.action, row.actor, row.role, row.at, row.note, row.status_before,
                row.status_after, json.loads(row.data), row.prev_hash, row.hash)


@dataclass
class CaseView:
    """A case with everything the API and the CLI show: callers, calls, history."""

    case: Case
    version: int
    callers: list[tuple[str | None, str | None]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    history: list[Step] = field(default_factory=list)


@dataclass(frozen=True)
class Viewer:
    """Who reads or acts: a handler sees only their department's cases."""

    actor: Actor

    def sees(self, case: Case) -> bool:
        return self.actor.role != "handler" or (
            self.actor.department is not None and case.department == self.actor.department
        )


async def _row(session: AsyncSession, number: str, viewer: Viewer, *, lock: bool = False) -> CaseRow:
    query = select(CaseRow).where(CaseRow.number == number)
    if lock and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    row = await session.scalar(query)
    # Another department's case does not exist for a handler: a 404, not a 403, so that case
    # numbers of other departments cannot be probed.
    if row is None or not viewer.sees(_case(row)):
        raise NotFound(f"no case {number}", number=number)
    return row


async def _last_step(session: AsyncSession, case_id: int) -> Step:
    row = await session.scalar(
        select(CaseStep).where(CaseStep.case_id == case_id).order_by(CaseStep.seq.desc()).limit(1)
    )
    return _step(row)


async def history(session: AsyncSession, case_id: int) -> list[Step]:
    rows = await session.scalars(select(CaseStep).where(CaseStep.case_id == case_id).order_by(CaseStep.seq))
    return [_step(row) for row in rows]


async def view_case(session: AsyncSession, number: str, viewer: Viewer) -> CaseView:
    """One case as `viewer` may see it (404 for another department's handler)."""
    row = await _row(session, number, viewer)
    return await _view(session, row)


async def _view(session: AsyncSession, row: CaseRow) -> CaseView:
    callers = (await session.execute(
        select(CaseCaller.number, CaseCaller.name).where(CaseCaller.case_id == row.id).order_by(CaseCaller.id)
    )).all()
    calls = (await session.execute(
        select(CaseCall.call_id, CaseCall.transcript_offset, Call.started_at, Call.hotline)
        .join(Call, Call.id == CaseCall.call_id).where(CaseCall.case_id == row.id).order_by(CaseCall.call_id)
    )).all()
    return CaseView(
        _case(row), row.version, [tuple(c) for c in callers],
        [{"id": c.call_id, "transcript_offset": c.transcript_offset, "started_at": c.started_at.isoformat(),
          "hotline": c.hotline} for c in calls],
        await history(session, row.id),
    )


@dataclass(frozen=True)
class CaseFilter:
    """What `GET /api/v1/cases` narrows the list by; every field optional."""

    status: str | None = None
    type: str | None = None
    department: str | None = None
    window: str | None = None
    overdue: bool | None = None
    soon_due: bool = False
    caller: str | None = None
    channel: str | None = None
    numbers: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    filed_since: datetime | None = None
    filed_until: datetime | None = None


async def list_cases(
    session: AsyncSession, filters: CaseFilter, viewer: Viewer, now: datetime, services: CaseServices | None,
    limit: int = 50, cursor: str | None = None,
) -> tuple[list[CaseView], str | None]:
    """Newest cases first, keyset-paginated on (filed_at, id); a handler sees their department's."""
    query = select(CaseRow).order_by(CaseRow.filed_at.desc(), CaseRow.id.desc()).limit(limit + 1)
    if viewer.actor.role == "handler":
        query = query.where(CaseRow.department == (viewer.actor.department or ""))
    if filters.status:
        query = query.where(CaseRow.status == filters.status)
    if filters.type:
        query = query.where(CaseRow.type == filters.type)
    if filters.department:
        query = query.where(CaseRow.department == filters.department)
    if filters.window:
        query = query.where(or_(CaseRow.window == filters.window, CaseRow.department_window == filters.window))
    open_ = CaseRow.status.in_(workflow.OPEN_STATUSES)
    if filters.overdue is True:
        query = query.where(open_, CaseRow.due_at < now)
    elif filters.overdue is False:
        query = query.where(or_(~open_, CaseRow.due_at >= now))
    if filters.soon_due:
        if services is None:
            raise ValueError("soon_due needs the calendar: pass services")
        horizon = services.policy.calendar.add_working_days(now, services.soon_days)
        query = query.where(open_, CaseRow.due_at >= now, CaseRow.due_at <= horizon)
    if filters.caller:
        query = query.where(exists().where(CaseCaller.case_id == CaseRow.id, CaseCaller.number == filters.caller))
        if viewer.actor.role == "handler":
            # A department never sees a confidential case's caller: finding it by the number
            # would confirm one of the 10,000 numbers behind 138****0001, query by query.
            query = query.where(CaseRow.confidential.is_(False))
    if filters.channel:
        query = query.where(CaseRow.channel == filters.channel)
    if filters.numbers:
        query = query.where(CaseRow.number.in_(filters.numbers))
    if filters.statuses:
        query = query.where(CaseRow.status.in_(filters.statuses))
    if filters.filed_since:
        query = query.where(CaseRow.filed_at >= filters.filed_since)
    if filters.filed_until:
        query = query.where(CaseRow.filed_at <= filters.filed_until)
    if cursor:
        query = query.where(before_cursor(CaseRow.filed_at, CaseRow.id, cursor))
    rows = (await session.scalars(query)).all()
    next_cursor = encode_cursor(rows[limit - 1].filed_at, rows[limit - 1].id) if len(rows) > limit else None
    return [await _view(session, row) for row in rows[:limit]], next_cursor


# ---- writing -----------------------------------------------------------------------------------


async def _next_number(session: AsyncSession, channel: str, at: datetime, zone: ZoneInfo) -> str:
    prefix = workflow.NUMBER_PREFIXES[channel]
    day = at.astimezone(zone).strftime("%Y%m%d")
    bump = (
        update(CaseCounter).where(CaseCounter.prefix == prefix, CaseCounter.day == day)
        .values(last=CaseCounter.last + 1).returning(CaseCounter.last)
    )
    last = (await session.execute(bump)).scalar_one_or_none()
    if last is None:
        # The day's first case: create the counter (a concurrent filer may win the race; then
        # ours does nothing) and bump it under its lock like every later filer.
        insert = insert_for(session)
        await session.execute(insert(CaseCounter).values(prefix=prefix, day=day, last=0).on_conflict_do_nothing())
        last = (await session.execute(bump)).scalar_one()
    return workflow.case_number(channel, day, last)


def _add_step(session: AsyncSession, row: CaseRow, step: Step) -> None:
    row.head = step.hash
    session.add(CaseStep(
        case_id=row.id, seq=step.seq, action=step.action, actor=step.actor, role=step.role, at=step.at,
        note=step.note, status_before=step.status_before, status_after=step.status_after,
        data=workflow.canonical(step.data), prev_hash=step.prev_hash, hash=step.hash,
    ))


def _apply(row: CaseRow, case: Case) -> None:
    for name in _CASE_FIELDS:
        if getattr(row, name) != getattr(case, name):
            setattr(row, name, getattr(case, name))


async def file_case(
    session: AsyncSession, fields_: Mapping[str, Any], actor: Actor, at: datetime, services: CaseServices,
    *, commit: bool = True,
) -> CaseView:
    """File a new case (numbered, due date set, first step recorded) and commit it. With a
    `call_id`, the case links that call, its caller and (through the port) holds its recording.
    With `commit=False` it is only flushed: the caller's transaction keeps it or loses it with
    its own rows (a survey draw)."""
    call_id = fields_.get("call_id")
    if call_id is not None and (not isinstance(call_id, int) or isinstance(call_id, bool) or not 0 < call_id <= MAX_ID):
        raise InvalidInput(f"call_id: expected a call id, got {call_id!r}", field="call_id")
    offset = fields_.get("transcript_offset")
    if offset is not None and (not isinstance(offset, (int, float)) or isinstance(offset, bool) or offset < 0):
        raise InvalidInput(f"transcript_offset: expected seconds, got {offset!r}", field="transcript_offset")
    caller_number, caller_name = (fields_.get(name) for name in ("caller_number", "caller_name"))
    for name, value in (("caller_number", caller_number), ("caller_name", caller_name)):
        if value is not None and (not isinstance(value, str) or len(value) > (64 if name == "caller_number" else 200)):
            raise InvalidInput(f"{name}: expected text, got {value!r}", field=name)
    department = fields_.get("department")
    # Validate before taking a number: a refused filing must not hold the day's counter.
    workflow.file_case("12345-00000000-0000", fields_, actor, at, services.policy)
    call = None
    if call_id is not None:
        call = await session.get(Call, call_id)
        if call is None:
            raise NotFound(f"no call {call_id}", call_id=call_id)
    if department is not None and not await department_exists(session, department):
        raise NotFound(f"no department {department!r}; import departments first", department=department)

    number = await _next_number(session, fields_["channel"], at, services.policy.calendar.hours.zone)
    filed = workflow.file_case(number, fields_ | {"hotline": fields_.get("hotline") or (call and call.hotline)},
                               actor, at, services.policy)
    row = CaseRow(**{name: getattr(filed.case, name) for name in _CASE_FIELDS}, filed_by=actor.name,
                  head=filed.step.hash)
    session.add(row)
    await session.flush()
    _add_step(session, row, filed.step)
    session.add(CaseCaller(
        case_id=row.id, number=caller_number or (call and call.caller_number),
        name=caller_name or (call and call.caller_name), added_at=at,
    ))
    if call is not None:
        session.add(CaseCall(case_id=row.id, call_id=call.id, transcript_offset=offset))
        if services.recordings is not None:
            await services.recordings.hold(session, {call.id: f"case {number}"})
    await (session.commit() if commit else session.flush())
    return await _view(session, row)


def _evidence(case: Case, calls: Sequence[tuple[int, float | None]], recordings: Mapping[int, int]) -> str:
    parts = [f"case {case.number}"]
    for call_id, offset in calls[:3]:
        part = f"call {call_id}"
        if call_id in recordings:
            part += f" recording {recordings[call_id]}"
        if offset is not None:
            part += f" transcript {offset:g}s"
        parts.append(part)
    return "; ".join(parts)[:200]


async def _score(session: AsyncSession, row: CaseRow, moved: Transition, services: CaseServices) -> None:
    change = moved.score
    if change is None or services.scoring is None:
        return
    at, actor = moved.step.at, moved.step.actor
    if change.cancel is not None:
        links = (await session.scalars(select(CaseOccurrence).where(
            CaseOccurrence.case_id == row.id, CaseOccurrence.kind == change.kind,
            CaseOccurrence.item == change.cancel, CaseOccurrence.reversed_at.is_(None),
        ))).all()
        await services.scoring.cancel(session, [link.occurrence_id for link in links], actor, at,
                                      f"case {row.number}: outcome changed ({moved.step.action})")
        for link in links:
            link.reversed_at = at
    if change.enter is not None:
        case = moved.case
        window = case.window if change.kind == "complaint" else case.department_window
        if change.kind == "complaint" and window is None:
            window = case.department_window
        calls = (await session.execute(
            select(CaseCall.call_id, CaseCall.transcript_offset).where(CaseCall.case_id == row.id).order_by(CaseCall.call_id)
        )).all()
        recordings = (await services.recordings.recordings(session, [c for c, _ in calls])
                      if services.recordings is not None else {})
        entry = ScoreEntry(
            kind=change.kind, item=change.enter, window=window,
            staff=case.staff if change.kind == "complaint" else None,
            day=at.astimezone(services.policy.calendar.hours.zone).date(),
            evidence=_evidence(case, calls, recordings), entered_by=actor, at=at,
        )
        for occurrence_id in await services.scoring.enter(session, entry):
            session.add(CaseOccurrence(case_id=row.id, kind=change.kind, item=change.enter,
                                       occurrence_id=occurrence_id))


async def act_on_case(
    session: AsyncSession, number: str, action: str, params: Mapping[str, Any], viewer: Viewer,
    at: datetime, services: CaseServices, version: int | None = None, *, commit: bool = True,
) -> CaseView:
    """Take `action` on case `number` and commit it with its step (and any points it causes).
    A stale `version`, or another change committed first, is a Conflict (409); nothing changes.
    With `commit=False` it is only flushed, for the caller's transaction to commit."""
    workflow.check_role(action, viewer.actor)
    into = params.get("into") if action == "merge" else None
    if isinstance(into, str) and into < number:
        # Two merges crossing (A into B, B into A) lock both rows in the same order, so PostgreSQL
        # serialises them instead of aborting one as a deadlock.
        await _row(session, into, viewer, lock=True)
    row = await _row(session, number, viewer, lock=True)
    if version is not None and version != row.version:
        raise Conflict(f"case {number} is at version {row.version}, not {version}: read it again",
                       number=number, version=row.version)
    case = _case(row)
    params = dict(params)
    if action == "dispatch":
        named = params.get("department")
        department = await session.get(Department, named) if isinstance(named, str) else None
        if department is None:
            raise NotFound(f"no department {params.get('department')!r}", department=params.get("department"))
        params.setdefault("window", department.window)
    target = await _row(session, into, viewer, lock=True) if isinstance(into, str) else None
    moved = workflow.act(case, action, params, viewer.actor, at, services.policy, await _last_step(session, row.id))
    _apply(row, moved.case)
    if action == "reopen":
        row.released_at = None  # its recordings are evidence again
    _add_step(session, row, moved.step)
    if target is not None:
        absorbed = workflow.absorb(_case(target), number, viewer.actor, at, await _last_step(session, target.id))
        _add_step(session, target, absorbed.step)
        for caller in (await session.scalars(select(CaseCaller).where(CaseCaller.case_id == row.id))).all():
            session.add(CaseCaller(case_id=target.id, number=caller.number, name=caller.name, added_at=at))
        for link in (await session.scalars(select(CaseCall).where(CaseCall.case_id == row.id))).all():
            if await session.get(CaseCall, (target.id, link.call_id)) is None:
                session.add(CaseCall(case_id=target.id, call_id=link.call_id, transcript_offset=link.transcript_offset))
    await _score(session, row, moved, services)
    if not commit:
        await session.flush()
        return await _view(session, row)
    try:
        await session.commit()
    except (StaleDataError, IntegrityError):
        await session.rollback()
        raise Conflict(f"case {number} was changed by someone else at the same time: read it again",
                       number=number) from None
    return await _view(session, row)


async def mark_overdue_cases(session: AsyncSession, now: datetime, services: CaseServices) -> list[str]:
    """Mark every open case past its deadline overdue, once, each with its one late-case
    occurrence for the responsible window; returns their numbers."""
    return await _sweep(session, CaseRow.due_at < now, CaseRow.overdue_at,
                        lambda case, previous: workflow.mark_overdue(case, now, services.policy, previous),
                        services)


async def mark_criticised_cases(session: AsyncSession, now: datetime, services: CaseServices) -> list[str]:
    """Record the circulated criticism (通报) of every open case whose time after urging ran out."""
    return await _sweep(session, CaseRow.criticism_due_at < now, CaseRow.criticised_at,
                        lambda case, previous: workflow.mark_criticised(case, now, previous), services)


async def _sweep(
    session: AsyncSession, due: ColumnElement[bool], marked_at: InstrumentedAttribute[datetime | None],
    mark: Callable[[Case, Step], Transition | None], services: CaseServices,
) -> list[str]:
    """Apply `mark` to each open case that is `due` and not yet marked, one transaction each."""
    numbers = (await session.scalars(select(CaseRow.number).where(
        CaseRow.status.in_(workflow.OPEN_STATUSES), due, marked_at.is_(None),
    ).order_by(CaseRow.id))).all()
    marked = []
    for number in numbers:
        row = await _row(session, number, Viewer(workflow.SYSTEM_ACTOR), lock=True)
        moved = mark(_case(row), await _last_step(session, row.id))
        if moved is None:
            await session.rollback()
            continue
        _apply(row, moved.case)
        _add_step(session, row, moved.step)
        if moved.case.department_window is not None:
            await _score(session, row, moved, services)
        try:
            await session.commit()
        except (StaleDataError, IntegrityError):
            await session.rollback()  # someone acted on it meanwhile: the next sweep looks again
            continue
        marked.append(number)
    return marked


async def keep_holds(session: AsyncSession, now: datetime, services: CaseServices) -> list[str]:
    """Hold the recordings of every case that is open or closed within the appeal time (a
    recording ingested after its case was filed is held here), and release those of cases closed
    longer ago, unless another held case shares the call; returns the released case numbers."""
    if services.recordings is None:
        return []
    cut = now - timedelta(days=services.appeal_days)
    expired = and_(CaseRow.status.in_(workflow.FINAL_STATUSES), CaseRow.closed_at < cut)
    links = (await session.execute(
        select(CaseCall.call_id, CaseRow.number, CaseRow.id, expired)
        .join(CaseRow, CaseRow.id == CaseCall.case_id).where(CaseRow.released_at.is_(None))
        .order_by(CaseRow.id)
    )).all()
    held: dict[int, str] = {}
    for call_id, number, _, is_expired in links:
        if not is_expired:
            held.setdefault(call_id, f"case {number}")
    reasons: dict[int, str | None] = dict(held)
    released: dict[int, str] = {}
    for call_id, number, case_id, is_expired in links:
        if is_expired:
            released[case_id] = number
            reasons.setdefault(call_id, None)
    await services.recordings.hold(session, reasons)
    if released:
        await session.execute(update(CaseRow).where(CaseRow.id.in_(released)).values(released_at=now))
    await session.commit()
    return list(released.values())


async def cases_filed_between(
    session: AsyncSession, start: datetime, end: datetime, viewer: Viewer,
) -> list[tuple[Case, list[Step]]]:
    """Every case filed in [start, end) that `viewer` may see, with its history."""
    query = select(CaseRow).where(CaseRow.filed_at >= start, CaseRow.filed_at < end).order_by(CaseRow.id)
    if viewer.actor.role == "handler":
        query = query.where(CaseRow.department == (viewer.actor.department or ""))
    rows = (await session.scalars(query)).all()
    steps: dict[int, list[Step]] = {row.id: [] for row in rows}
    for start_at in range(0, len(rows), 500):
        ids = [row.id for row in rows[start_at:start_at + 500]]
        for step in await session.scalars(select(CaseStep).where(CaseStep.case_id.in_(ids)).order_by(CaseStep.seq)):
            steps[step.case_id].append(_step(step))
    return [(_case(row), steps[row.id]) for row in rows]


async def closed_cases(
    session: AsyncSession, channels: Sequence[str], since: datetime,
) -> list[tuple[CaseRow, str | None]]:
    """Cases that came in on `channels` and were closed since `since` (resolved on the call or
    verified; not merged or rejected), oldest first, each with its first caller's number."""
    first_caller = (select(CaseCaller.number).where(CaseCaller.case_id == CaseRow.id)
                    .order_by(CaseCaller.id).limit(1).scalar_subquery())
    rows = await session.execute(
        select(CaseRow, first_caller)
        .where(CaseRow.channel.in_(channels), CaseRow.status.in_((workflow.RESOLVED, workflow.CLOSED)),
               CaseRow.merged_into.is_(None), CaseRow.closed_at >= since)
        .order_by(CaseRow.closed_at, CaseRow.id))
    return [(row, phone) for row, phone in rows.all()]


async def open_case_counts(session: AsyncSession, now: datetime) -> tuple[dict[str, int], int]:
    """Open cases per status, and how many of them are past their deadline (for /metrics)."""
    open_ = CaseRow.status.in_(workflow.OPEN_STATUSES)
    per_status = dict((await session.execute(
        select(CaseRow.status, func.count()).where(open_).group_by(CaseRow.status))).all())
    overdue = await session.scalar(select(func.count()).select_from(CaseRow).where(open_, CaseRow.due_at < now))
    return {status: per_status.get(status, 0) for status in workflow.OPEN_STATUSES}, overdue or 0


async def open_cases_per_department(session: AsyncSession, now: datetime) -> dict[str | None, tuple[int, int]]:
    """Per department (None: not dispatched yet), its open cases and how many of them are past
    their deadline. One GROUP BY over the open cases alone, which ix_cases_status_due finds."""
    rows = await session.execute(
        select(CaseRow.department, func.count(), func.coalesce(func.sum(sql_case((CaseRow.due_at < now, 1), else_=0)), 0))
        .where(CaseRow.status.in_(workflow.OPEN_STATUSES)).group_by(CaseRow.department))
    return {department: (int(count), int(overdue)) for department, count, overdue in rows.all()}


async def verify_histories(session: AsyncSession, number: str | None = None) -> list[tuple[str, int]]:
    """(case number, first broken step) for every case whose history does not verify."""
    query = select(CaseRow.id, CaseRow.number, CaseRow.status, CaseRow.head).order_by(CaseRow.id)
    if number is not None:
        query = query.where(CaseRow.number == number)
    broken = []
    for case_id, case_number, status, head in (await session.execute(query)).all():
        steps = await history(session, case_id)
        seq = workflow.first_broken_link(case_number, steps, status, head)
        if seq is None and head is None:
            # Every case has had its head since migration 0010 (filled then, set at filing): one
            # without it was changed behind hotline's back, perhaps to hide deleted steps.
            seq = len(steps) + 1
        if seq is not None:
            broken.append((case_number, seq))
    return broken
