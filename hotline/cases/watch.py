"""The deadline watch `serve` runs: every few minutes, open cases past their deadline are marked
overdue (one late-case occurrence each), cases whose time after urging ran out are marked
criticised (通报), and recordings are held or released as their cases require."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker

from hotline.cases.store import (
    Recordings, Scoring, case_services, keep_holds, mark_criticised_cases, mark_overdue_cases,
)
from hotline.config import CasesConfig
from hotline.errors import HotlineError

log = logging.getLogger("hotline.cases")

WATCH_SECONDS = 300.0


async def watch_once(
    sessions: async_sessionmaker, config: CasesConfig, scoring: Scoring | None, recordings: Recordings | None,
    now: datetime,
) -> tuple[list[str], list[str], list[str]]:
    """One pass at `now`: (cases marked overdue, marked criticised, whose recordings were released)."""
    async with sessions() as session:
        services = await case_services(session, config, scoring, recordings)
        overdue = await mark_overdue_cases(session, now, services)
        criticised = await mark_criticised_cases(session, now, services)
        released = await keep_holds(session, now, services)
    return overdue, criticised, released


async def watch_forever(
    sessions: async_sessionmaker, config: CasesConfig, scoring: Scoring | None, recordings: Recordings | None,
    stopping: asyncio.Event, interval: float = WATCH_SECONDS,
) -> None:
    """`watch_once` at start and every `interval` seconds until `stopping`; a failed pass is
    logged and tried again at the next interval."""
    while not stopping.is_set():
        try:
            overdue, criticised, released = await watch_once(
                sessions, config, scoring, recordings, datetime.now(timezone.utc))
            for label, numbers in (("overdue", overdue), ("criticised (通报)", criticised),
                                   ("recordings released", released)):
                if numbers:
                    log.info("cases %s: %s", label, ", ".join(numbers), extra={"action": "case-watch"})
        except (SQLAlchemyError, HotlineError) as exc:
            log.error("case deadline watch failed: %s", exc, extra={"action": "case-watch"})
        try:
            await asyncio.wait_for(stopping.wait(), interval)
        except TimeoutError:
            pass
