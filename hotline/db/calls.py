"""Saving tracked calls and reading them back for the API.

The call tracker changes calls in memory many times a second; `save_calls` writes a batch of them
in one transaction with one upsert per table, which is what keeps the full AMI path near the raw
parse rate (see benchmarks/ami_ingest.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from hotline import synthetic
from hotline.db import bulk, insert_for
from hotline.db.tables import MAX_ID, Call, CallLeg, CallRating
from hotline.errors import NotFound

from hotline.calls import CALL_FIELDS, call_record

if TYPE_CHECKING:
    from hotline import calls as tracking

# What a call row holds beyond its key (pbx, linkedid): the tracker's record, field for field.
RECORD_FIELDS = tuple(name for name in CALL_FIELDS if name not in ("pbx", "linkedid"))
LEG_FIELDS = ("channel", "state", "created_at", "answered_at", "ended_at", "cause", "cause_text")


async def save_calls(session: AsyncSession, calls: Iterable[tracking.Call]) -> dict[tuple[str, str], int]:
    """Upsert `calls` (and their legs) in the current transaction; return their database ids.

    Core statements on the tables, each compiled once (SQLAlchemy caches it) and sent with the
    batch as executemany: the ORM's per-row bookkeeping and a fresh multi-VALUES compilation per
    batch were most of the cost of saving.
    """
    now = datetime.now(timezone.utc)
    rows = [
        {"pbx": c.pbx, "linkedid": c.linkedid, "updated_at": now}
        | {name: getattr(c, name) for name in RECORD_FIELDS}
        for c in calls
    ]
    if not rows:
        return {}
    insert = insert_for(session)
    calls_table, legs_table = Call.__table__, CallLeg.__table__
    statement = insert(calls_table)
    statement = statement.on_conflict_do_update(
        index_elements=["pbx", "linkedid"],
        set_={name: statement.excluded[name] for name in (*RECORD_FIELDS, "updated_at")},
    ).returning(calls_table.c.id, calls_table.c.pbx, calls_table.c.linkedid)
    ids = {(pbx, linkedid): id_ for id_, pbx, linkedid in await session.execute(statement, rows)}

    leg_rows = [
        {"call_id": ids[(c.pbx, c.linkedid)], "uniqueid": leg.uniqueid}
        | {name: getattr(leg, name) for name in LEG_FIELDS}
        for c in calls
        for leg in c.legs.values()
    ]
    if leg_rows:
        statement = insert(legs_table)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["call_id", "uniqueid"],
                set_={name: statement.excluded[name] for name in LEG_FIELDS},
            ),
            leg_rows,
        )
    return ids


async def live_calls(session: AsyncSession, pbx: str) -> Sequence[Call]:
    """Calls of `pbx` not yet ended, with their legs: what a restarted daemon must reconcile."""
    result = await session.scalars(
        select(Call).options(selectinload(Call.legs)).where(Call.pbx == pbx, Call.ended_at.is_(None))
    )
    return result.all()


@dataclass(frozen=True)
class CallFilter:
    """What `GET /api/v1/calls` narrows the list by; every field optional."""

    since: datetime | None = None
    until: datetime | None = None
    hotline: str | None = None
    disposition: str | None = None
    caller: str | None = None
    agent: str | None = None


# A cursor is the last row's time (microseconds since 0001-01-01 UTC) and id: plain digits, so
# the OpenAPI pattern below states exactly which cursors exist. 18 digits beginning 0-2 reach the
# year 9507; ids have at most 10 digits. Calls and cases page with the same format.
CURSOR_PATTERN = "^[0-2]?[0-9]{1,17}\\.[0-9]{1,10}$"
_YEAR_ONE = datetime(1, 1, 1, tzinfo=timezone.utc)


def encode_cursor(at: datetime, id_: int) -> str:
    """The cursor of the page after the row of time `at` and id `id_` (newest first)."""
    return f"{(at - _YEAR_ONE) // timedelta(microseconds=1)}.{id_}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The time and id of the row a cursor names (one that matches CURSOR_PATTERN)."""
    micros, id_ = cursor.split(".")
    return _YEAR_ONE + timedelta(microseconds=int(micros)), int(id_)


def before_cursor(time: ColumnElement[datetime], id_column: ColumnElement[int], cursor: str) -> ColumnElement[bool]:
    """Rows after `cursor` in newest-first (time, id) order."""
    at, id_ = decode_cursor(cursor)
    # A row-value comparison, not the equivalent OR: PostgreSQL reads it as a range of the
    # (..., time, id) index, so a deep page costs what the first one does. Every id is below one
    # past MAX_ID (which PostgreSQL could not even compare with).
    return tuple_(time, id_column) < tuple_(at, id_) if id_ <= MAX_ID else time <= at


async def list_calls(
    session: AsyncSession, filters: CallFilter, limit: int, cursor: str | None = None
) -> tuple[Sequence[Call], str | None]:
    """Newest calls first, `limit` at a time; returns the page and the cursor of the next one.

    Keyset pagination on (started_at, id): a page stays correct while new calls arrive, which an
    offset would not.
    """
    query = select(Call).order_by(Call.started_at.desc(), Call.id.desc()).limit(limit + 1)
    if filters.since:
        query = query.where(Call.started_at >= filters.since)
    if filters.until:
        query = query.where(Call.started_at < filters.until)
    if filters.hotline:
        query = query.where(Call.hotline == filters.hotline)
    if filters.disposition:
        query = query.where(Call.disposition == filters.disposition)
    if filters.caller:
        query = query.where(Call.caller_number == filters.caller)
    if filters.agent:
        query = query.where(Call.agent == filters.agent)
    if cursor:
        query = query.where(before_cursor(Call.started_at, Call.id, cursor))
    page = (await session.scalars(query)).all()
    if len(page) > limit:
        return page[:limit], encode_cursor(page[limit - 1].started_at, page[limit - 1].id)
    return page, None


async def get_call(session: AsyncSession, call_id: int) -> Call:
    call = await session.get(Call, call_id)
    if call is None:
        raise NotFound(f"no call {call_id}", call_id=call_id)
    return call


def call_json(call: Call | tracking.Call, call_id: int | None) -> dict[str, Any]:
    """A call, stored or still tracked in memory, as the API and the WebSocket show it.

    `recording` (MIXMONITOR_FILENAME) is a path on the PBX or in the spool: clients learn only
    whether the call was recorded, and fetch the audio from /api/v1/calls/{id}/recording.
    """
    record = call_record(call)
    recording = record.pop("recording")
    # A call still tracked in memory has no rating yet: the caller rates after the operator.
    rated = call.rated if isinstance(call, Call) else None
    return {"id": call_id} | record | {
        "recorded": recording is not None,
        "rating": rated.rating if rated else None,
        "rated_at": rated.rated_at.isoformat() if rated else None,
    }


async def rate_call(session: AsyncSession, linkedid: str, uniqueid: str, rating: int, at: datetime) -> None:
    """Store the rating of the call `linkedid` in the current transaction, whether or not call
    tracking has saved the call yet; a second rating of the same call replaces the first."""
    statement = insert_for(session)(CallRating.__table__).values(
        linkedid=linkedid, uniqueid=uniqueid, rating=rating, rated_at=at)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["linkedid"],
        set_={name: statement.excluded[name] for name in ("uniqueid", "rating", "rated_at")},
    ))


class CallRatings:
    """Where the rating flow (callflows/rating.py) stores what the caller pressed."""

    def __init__(self, sessions: async_sessionmaker,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.sessions = sessions
        self.clock = clock

    async def rate(self, linkedid: str, uniqueid: str, rating: int) -> None:
        async with self.sessions() as session, session.begin():
            await rate_call(session, linkedid, uniqueid, rating, self.clock())


SEED_CHUNK = 50_000


async def seed_calls(
    session: AsyncSession, rng: random.Random, count: int, until: datetime, *, days: int = 365
) -> list[synthetic.Answered]:
    """Add `count` synthetic ended calls (see `hotline.synthetic`) started in the `days` before
    `until`, in the current transaction; return the answered ones."""
    first = await bulk.next_id(session, Call.__table__)
    answered, chunk = [], []
    for row in synthetic.calls(rng, count, until, days=days, first_id=first):
        chunk.append(row)
        if row["disposition"] == "answered":
            answered.append(synthetic.Answered(row["id"], row["hotline"], row["started_at"], row["talk_seconds"]))
        if len(chunk) == SEED_CHUNK:
            await bulk.load_rows(session, Call.__table__, chunk)
            chunk = []
    await bulk.load_rows(session, Call.__table__, chunk)
    await bulk.sync_id_sequence(session, Call.__table__)
    return answered
