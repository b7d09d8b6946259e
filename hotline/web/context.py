"""What every route module shares: the application's keys."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker

from hotline.config import Config
from hotline.web.live import CallHub, Telemetry

CONFIG = web.AppKey("config", Config)
SESSIONS = web.AppKey("sessions", async_sessionmaker)
HUB = web.AppKey("hub", CallHub)
TELEMETRY = web.AppKey("telemetry", Telemetry)
