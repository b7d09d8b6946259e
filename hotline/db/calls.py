"""Saving tracked calls and reading them back for the API.

The call tracker changes calls in memory many times a second; `save_calls` writes a batch of them
in one transaction with one upsert per table, which is what keeps the full AMI path near the raw
parse rate (see benchmarks/ami_ingest.py).
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hotline import synthetic
from hotline.db import bulk
from hotline.db.tables import Call, CallLeg
from hotline.errors import InvalidInput, NotFound

from hotline.calls import CALL_FIELDS, call_record

if TYPE_CHECKING:
    from hotline import calls as tracking

# What a call row holds beyond its key (pbx, linkedid): the tracker's record, field for field.
RECORD_FIELDS = tuple(name for name in CALL_FIELDS if name not in ("pbx", "linkedid"))
LEG_FIELDS = ("channel", "state", "created_at", "answered_at", "ended_at", "cause", "cause_text")


def _insert(session: AsyncSession):
    return (postgresql if session.bind.dialect.name == "postgresql" else sqlite).insert


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
    insert = _insert(session)
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


def encode_cursor(call: Call) -> str:
    payload = json.dumps([call.started_at.isoformat(), call.id])
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        started_at, id_ = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(started_at), int(id_)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidInput("cursor: not a cursor this API handed out", cursor=cursor) from exc


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
    if cursor:
        # A row-value comparison, not the equivalent OR: PostgreSQL reads it as a range of the
        # (..., started_at, id) index, so a deep page costs what the first one does.
        query = query.where(tuple_(Call.started_at, Call.id) < tuple_(*decode_cursor(cursor)))
    page = (await session.scalars(query)).all()
    if len(page) > limit:
        return page[:limit], encode_cursor(page[limit - 1])
    return page, None


async def get_call(session: AsyncSession, call_id: int) -> Call:
    call = await session.get(Call, call_id)
    if call is None:
        raise NotFound(f"no call {call_id}", call_id=call_id)
    return call


def call_json(call: Call | tracking.Call, call_id: int | None) -> dict[str, Any]:
    """A call, stored or still tracked in memory, as the API and the WebSocket show it."""
    return {"id": call_id} | call_record(call)


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
