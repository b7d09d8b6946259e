"""Dashboards: the day's call figures for supervisors (GB/T 33358's 15-second answer among them)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aiohttp import web

from hotline.db.dashboard import ANSWER_TARGET_SECONDS, RATINGS, call_figures
from hotline.errors import InvalidInput
from hotline.web.auth import require_role
from hotline.web.context import SESSIONS
from hotline.web.openapi import Text, Time, read, specs

DASHBOARD_READERS = ("supervisor",)
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
