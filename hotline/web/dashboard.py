"""Dashboards for supervisors: the day's call figures (GB/T 33358's 15-second answer among
them), open and overdue cases per department, and the month's survey satisfaction per window.

Cases and surveys are features: their figures come through the two ports below, which the
composition root (hotline/web/app.py) fills; this module imports neither feature."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.dashboard import ANSWER_TARGET_SECONDS, RATINGS, call_figures
from hotline.errors import InvalidInput
from hotline.web.auth import require_role
from hotline.web.context import CONFIG, SESSIONS
from hotline.web.openapi import MONTH, Text, Time, read, specs

DASHBOARD_READERS = ("supervisor",)
# `async (session, now) -> [{id, name, window, open, overdue}]`: every department's open cases and
# how many are past their deadline (id None: cases not dispatched yet).
DepartmentLoad = Callable[[AsyncSession, datetime], Awaitable[list[dict[str, Any]]]]
# `async (session, month) -> {surveys, dissatisfied, satisfaction_rate, windows: [{window, ...}]}`.
Satisfaction = Callable[[AsyncSession, str], Awaitable[dict[str, Any]]]
DEPARTMENT_LOAD = web.AppKey("dashboard_department_load", DepartmentLoad)
SATISFACTION = web.AppKey("dashboard_satisfaction", Satisfaction)
# Hourly buckets of at most a month: one request's work stays bounded.
LONGEST_PERIOD = timedelta(days=31)

FIGURES = (
    Time(name="since", description="calls started at or after this time (default: 24 hours ago)"),
    Time(name="until", description="calls started before this time (default: now)"),
    Text(name="hotline", description="12345 or 12319 (empty: every hotline)", example="12345"),
)
OPENAPI_PATHS = {
    "/api/v1/dashboard/calls": {"get": {
        "summary": "Ended calls of a period: count, answered, answered within 15 s (GB/T 33358), abandoned, "
                   "average wait and talk, and the same per hour; the callers' ratings (supervisor)",
        "parameters": specs(FIGURES),
        "responses": {"200": {"description": "The figures", "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["since", "until", "calls", "answered", "answered_in_target", "abandoned", "hours", "ratings"],
            "properties": {
                "since": {"type": "string", "format": "date-time"}, "until": {"type": "string", "format": "date-time"},
                "calls": {"type": "integer"}, "answered": {"type": "integer"},
                "answered_in_target": {"type": "integer",
                                       "description": f"answered within {ANSWER_TARGET_SECONDS:.0f} s of arriving"},
                "abandoned": {"type": "integer"},
                "answered_in_target_rate": {"type": ["number", "null"], "description": "of all calls"},
                "abandon_rate": {"type": ["number", "null"]},
                "average_wait_seconds": {"type": ["number", "null"], "description": "of answered calls"},
                "average_talk_seconds": {"type": ["number", "null"], "description": "of answered calls"},
                "target_seconds": {"type": "number"},
                "hours": {"type": "array", "items": {"type": "object", "properties": {
                    "hour": {"type": "string", "format": "date-time"}, "calls": {"type": "integer"},
                    "answered": {"type": "integer"}, "answered_in_target": {"type": "integer"},
                    "abandoned": {"type": "integer"}}}},
                "ratings": {"type": "object", "required": list(RATINGS.values()),
                            "properties": {name: {"type": "integer"} for name in RATINGS.values()},
                            "description": "the calls their callers rated after the operator hung up, by rating"},
            },
        }}}}},
    }},
}

_COUNT = {"type": "integer", "minimum": 0}
_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1,
         "description": "answered surveys with no dissatisfied answer, of all answered (null: none answered)"}
_NAME = {"type": ["string", "null"]}
DEPARTMENTS_QUERY = (replace(MONTH, description="the month of the survey satisfaction (default: this month in the "
                                                "centre's time zone)"),)
OPENAPI_PATHS["/api/v1/dashboard/departments"] = {"get": {
    "summary": "Open and overdue cases per department, now, and a month's callback-survey satisfaction per "
               "window (supervisor)",
    "parameters": specs(DEPARTMENTS_QUERY),
    "responses": {"200": {"description": "The figures", "content": {"application/json": {"schema": {
        "type": "object", "required": ["at", "month", "open", "overdue", "departments", "satisfaction"],
        "properties": {
            "at": {"type": "string", "format": "date-time", "description": "when the cases were counted"},
            "month": {"type": "string"}, "open": _COUNT, "overdue": _COUNT,
            "departments": {"type": "array", "items": {"type": "object", "properties": {
                "id": {**_NAME, "description": "null: open cases not dispatched to a department yet"},
                "name": _NAME, "window": _NAME, "open": _COUNT,
                "overdue": {**_COUNT, "description": "open and past their deadline"}}}},
            "satisfaction": {"type": "object", "properties": {
                "surveys": {**_COUNT, "description": "answered surveys"}, "dissatisfied": _COUNT,
                "satisfaction_rate": _RATE,
                "windows": {"type": "array", "items": {"type": "object", "properties": {
                    "window": {"type": "string"}, "name": {**_NAME, "description": "its department's name"},
                    "surveys": _COUNT, "dissatisfied": _COUNT, "satisfaction_rate": _RATE}}}}},
        },
    }}}}},
}}

routes = web.RouteTableDef()


@routes.get("/api/v1/dashboard/calls")
async def dashboard_calls(request: web.Request) -> web.Response:
    """The period's call figures, totals and per hour."""
    require_role(request, *DASHBOARD_READERS)
    query = read(request, FIGURES)
    until = query["until"] or datetime.now(timezone.utc)
    since = query["since"] or until - timedelta(days=1)
    if not since < until or until - since > LONGEST_PERIOD:
        raise InvalidInput("since must come before until, at most 31 days apart", parameter="since")
    async with request.app[SESSIONS]() as session:
        figures = await call_figures(session, since, until, query["hotline"] or None)
    return web.json_response({"since": since.isoformat(), "until": until.isoformat()} | figures.to_json())


@routes.get("/api/v1/dashboard/departments")
async def dashboard_departments(request: web.Request) -> web.Response:
    """Open and overdue cases per department, and the month's satisfaction per window."""
    require_role(request, *DASHBOARD_READERS)
    now = datetime.now(timezone.utc)
    month = read(request, DEPARTMENTS_QUERY)["month"] or \
        now.astimezone(ZoneInfo(request.app[CONFIG].centre_timezone)).strftime("%Y-%m")
    async with request.app[SESSIONS]() as session:
        departments = await request.app[DEPARTMENT_LOAD](session, now)
        satisfaction = await request.app[SATISFACTION](session, month)
    # A survey's window is a department's window: named as the department is; a window two
    # departments name is the first's by id, as the survey results count it.
    names = {d["window"]: d["name"] for d in reversed(departments) if d["window"]}
    satisfaction["windows"] = [w | {"name": names.get(w["window"])} for w in satisfaction["windows"]]
    return web.json_response({
        "at": now.isoformat(), "month": month, "open": sum(d["open"] for d in departments),
        "overdue": sum(d["overdue"] for d in departments), "departments": departments, "satisfaction": satisfaction,
    })
