"""Saving tracked calls and reading them back for the API.

The call tracker changes calls in memory many times a second; `save_calls` writes a batch of them
in one transaction with one upsert per table, which is what keeps the full AMI path near the raw
parse rate (see benchmarks/ami_ingest.py).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hotline.db import insert_for
from hotline.db.tables import Call, CallLeg
from hotline.errors import InvalidInput, NotFound

from hotline.calls import CALL_FIELDS, call_record

if TYPE_CHECKING:
    from hotline import calls as tracking

# What a call row holds beyond its key (pbx, linkedid): the tracker's record, field for field.
RECORD_FIELDS = tuple(name for name in CALL_FIELDS if name not in ("pbx", "linkedid"))
LEG_FIELDS = ("channel", "state", "created_at", "answered_at", "ended_at", "cause", "cause_text")


async def save_calls(session: AsyncSession, calls: Iterable[tracking.Call]) -> dict[tuple[str, str], int]:
    """Upsert `calls` (and their legs) in the current transaction; return their database ids."""
    now = datetime.now(timezone.utc)
    rows = [
        {"pbx": c.pbx, "linkedid": c.linkedid, "updated_at": now}
        | {name: getattr(c, name) for name in RECORD_FIELDS}
        for c in calls
    ]
    if not rows:
        return {}
    insert = insert_for(session)
    statement = insert(Call).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["pbx", "linkedid"],
        set_={name: statement.excluded[name] for name in (*RECORD_FIELDS, "updated_at")},
    ).returning(Call.id, Call.pbx, Call.linkedid)
    ids = {(pbx, linkedid): id_ for id_, pbx, linkedid in await session.execute(statement)}

    leg_rows = [
        {"call_id": ids[(c.pbx, c.linkedid)], "uniqueid": leg.uniqueid}
        | {name: getattr(leg, name) for name in LEG_FIELDS}
        for c in calls
        for leg in c.legs.values()
    ]
    if leg_rows:
        statement = insert(CallLeg).values(leg_rows)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["call_id", "uniqueid"],
                set_={name: statement.excluded[name] for name in LEG_FIELDS},
            )
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
        started_at, id_ = decode_cursor(cursor)
        query = query.where(
            or_(Call.started_at < started_at, and_(Call.started_at == started_at, Call.id < id_))
        )
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
