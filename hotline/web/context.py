"""What every route module shares: the application's keys and query-string parsing."""

from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker

from hotline.config import Config
from hotline.errors import InvalidInput
from hotline.web.live import CallHub, Telemetry

CONFIG = web.AppKey("config", Config)
SESSIONS = web.AppKey("sessions", async_sessionmaker)
HUB = web.AppKey("hub", CallHub)
TELEMETRY = web.AppKey("telemetry", Telemetry)


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name}: expected a whole number, got {raw!r}", parameter=name) from None
    if not low <= value <= high:
        raise InvalidInput(f"{name}: must be between {low} and {high}", parameter=name)
    return value


def query_time(request: web.Request, name: str) -> datetime | None:
    """An ISO 8601 time from the query string; one without a zone is taken as UTC."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(
            f"{name}: expected an ISO 8601 time such as 2026-11-27T08:00:00+08:00, got {raw!r}",
            parameter=name,
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
