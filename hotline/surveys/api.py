"""The survey campaign's routes: served items in, the week's surveys and results out."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from hotline.db.tables import User
from hotline.errors import InvalidInput
from hotline.surveys import store
from hotline.surveys.cases import CaseDesk
from hotline.surveys.draw import parse_week, week_bounds
from hotline.surveys.results import COMPLETED, GROUPINGS, QUESTIONS, period_weeks, results, shortfall
from hotline.surveys.served import FIELDS, parse_rows, phone_number
from hotline.web.auth import require_role
from hotline.web.context import CONFIG, SESSIONS

SURVEY_MANAGERS = ("supervisor",)
# A citizen who asks an operator not to be called again is opted out there and then.
OPT_OUT_TAKERS = ("operator", "supervisor")
# Phone numbers are personal data: supervisors see them masked, admins whole.
FULL_NUMBERS = ("admin",)
BATCH_LIMIT = 10_000

routes = web.RouteTableDef()
# The cases workflow, as the composition root connects it (hotline/surveys/cases.py).
CASE_DESK = web.AppKey("survey_case_desk", CaseDesk)

_ITEM = {
    "type": "object",
    "required": list(FIELDS),
    "properties": {
        "window": {"type": "string", "description": "window id, as the scoring subjects"},
        "staff": {"type": "string", "description": "staff id, as the scoring subjects"},
        "applicant": {"type": "string"},
        "phone": {"type": "string", "description": "Chinese mobile or landline with area code"},
        "item": {"type": "string"},
        "completed_at": {"type": "string", "format": "date-time",
                         "description": "ISO 8601; without an offset, the centre's time zone"},
    },
}

_WEEK = {"name": "week", "in": "query", "schema": {"type": "string"}, "description": "ISO week, e.g. 2026-W49"}

OPENAPI_PATHS = {
    "/api/v1/surveys": {
        "get": {
            "summary": "One week's callback surveys: status, attempts, answers, suggestion (supervisor)",
            "parameters": [{**_WEEK, "required": True}],
            "responses": {"200": {"description": "`week`, `seed`, `surveys` (each with `case`, `window`, "
                                  "`staff`, `phone` masked unless admin, `status`, `attempts`, `answers`, "
                                  "`suggestion`, `complaint_case`), `completed` and `shortfall` (docs/surveys.md)"}},
        }
    },
    "/api/v1/survey-opt-outs": {
        "post": {
            "summary": "Never call a number for a survey again (operator, supervisor)",
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "required": ["phone"],
                "properties": {"phone": {"type": "string"}, "reason": {"type": "string", "maxLength": 200}},
            }}}},
            "responses": {"200": {"description": "`phone` as stored and `ended`: surveys not yet finished that "
                                                 "ended as opted-out"}},
        }
    },
    "/api/v1/surveys/results": {
        "get": {
            "summary": "Completed and partial surveys, answer distribution and satisfaction rate (supervisor)",
            "parameters": [
                _WEEK,
                {"name": "month", "in": "query", "schema": {"type": "string"}, "description": "e.g. 2026-12 (instead of week)"},
                {"name": "by", "in": "query", "schema": {"type": "string", "enum": list(GROUPINGS)}},
            ],
            "responses": {"200": {"description": "`total` and, with `by`, one summary per window or staff member"}},
        }
    },
    "/api/v1/served-items": {
        "post": {
            "summary": "Add completed service items, the population of the weekly survey draw (supervisor)",
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "required": ["items"],
                "properties": {"items": {"type": "array", "items": _ITEM, "maxItems": BATCH_LIMIT}},
            }}}},
            "responses": {
                "200": {"description": "Every item valid: `added`, `already_known`, `duplicates` (1-based positions skipped)"},
                "400": {"description": "Some items refused (`details.problems`, each with `row`, `field`, "
                                       "`message`); the valid ones were stored (`details.added`)"},
            },
        }
    },
}


@routes.post("/api/v1/served-items")
async def add_served_items(request: web.Request) -> web.Response:
    """Validate and store a batch of served items; bad ones are reported, good ones kept."""
    require_role(request, *SURVEY_MANAGERS)
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("expected a JSON body {\"items\": [...]}") from None
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise InvalidInput("items: expected a list of served items", parameter="items")
    if len(items) > BATCH_LIMIT:
        raise InvalidInput(f"items: at most {BATCH_LIMIT} per request", parameter="items")
    rows = [(index, row if isinstance(row, dict) else {}) for index, row in enumerate(items, 1)]
    batch = parse_rows(rows, request.app[CONFIG].surveys.zone)
    async with request.app[SESSIONS]() as session:
        report = await store.add_served_items(session, batch.items, datetime.now(UTC))
    result = {"added": report.added, "already_known": report.already_known, "duplicates": batch.duplicates}
    if batch.problems:
        refused = sorted({problem.line for problem in batch.problems})
        raise InvalidInput(
            f"{len(refused)} served items refused; the {report.added} new valid ones were stored",
            problems=[{"row": p.line, "field": p.field, "message": p.message} for p in batch.problems],
            **result,
        )
    return web.json_response(result)


def masked(phone: str, user: User) -> str:
    """The number as `user` may see it: 138****8000 unless they are an admin."""
    if user.role in FULL_NUMBERS:
        return phone
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def _survey_json(survey: store.Survey, view: store.WeekView, user: User) -> dict:
    call = view.suggestion_calls.get(survey.case)
    suggestion = None
    if survey.suggestion:
        suggestion = {
            "file": survey.suggestion,
            "call": call,
            # The recordings API serves both, with its own role checks and audit.
            "recording": None if call is None else f"/api/v1/calls/{call}/recording",
            "transcript": None if call is None else f"/api/v1/calls/{call}/transcript",
        }
    return {
        "case": survey.case, "round": survey.round, "window": survey.window, "staff": survey.staff,
        "phone": masked(survey.phone, user), "status": survey.status,
        "attempts": [
            {"number": a.number, "at": a.started_at.isoformat(), "outcome": a.outcome or "in-progress"}
            for a in view.attempts[survey.id]
        ],
        "answers": {question: getattr(survey, question) for question in QUESTIONS},
        "suggestion": suggestion,
        "complaint_case": survey.complaint_case,
    }


@routes.get("/api/v1/surveys")
async def week_surveys(request: web.Request) -> web.Response:
    """One week's surveys, as the dialer and the flows left them."""
    user = require_role(request, *SURVEY_MANAGERS)
    week = request.query.get("week", "")
    parse_week(week)
    config = request.app[CONFIG].surveys
    async with request.app[SESSIONS]() as session:
        view = await store.week_view(session, week)
    over = datetime.now(UTC) >= week_bounds(week, config.zone)[1]
    statuses = [survey.status for survey in view.surveys]
    return web.json_response({
        "week": week,
        "seed": view.week.seed if view.week else None,
        "drawn": view.week is not None,
        "surveys": [_survey_json(survey, view, user) for survey in view.surveys],
        "completed": statuses.count(COMPLETED),
        "shortfall": shortfall(config.per_week, statuses,
                               view.week.shortfall if view.week else "not drawn yet", over),
    })


@routes.get("/api/v1/surveys/results")
async def survey_results(request: web.Request) -> web.Response:
    """Counts, distribution and satisfaction rate for a week or a month."""
    require_role(request, *SURVEY_MANAGERS)
    weeks, period = period_weeks(request.query.get("week"), request.query.get("month"))
    by = request.query.get("by")
    if by is not None and by not in GROUPINGS:
        raise InvalidInput(f"by: expected one of {', '.join(GROUPINGS)}, got {by!r}", parameter="by")
    async with request.app[SESSIONS]() as session:
        records = await store.survey_records(session, weeks)
    return web.json_response({"period": period, "weeks": weeks, **results(records, by)})



@routes.post("/api/v1/survey-opt-outs")
async def opt_out(request: web.Request) -> web.Response:
    """Record an opt-out asked of an operator; the number's open surveys end opted-out."""
    user = require_role(request, *OPT_OUT_TAKERS)
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("expected a JSON body {\"phone\": ...}") from None
    raw = body.get("phone") if isinstance(body, dict) else None
    phone = phone_number(raw) if isinstance(raw, str) else None
    if phone is None:
        raise InvalidInput(f"phone: not a Chinese mobile or landline number: {raw!r}", parameter="phone")
    reason = body.get("reason", "asked an operator")
    if not isinstance(reason, str) or len(reason) > 200:
        raise InvalidInput("reason: expected text of at most 200 characters", parameter="reason")
    async with request.app[SESSIONS]() as session:
        ended = await store.opt_out(session, phone, by=f"{user.role} {user.name}", reason=reason,
                                    now=datetime.now(UTC), desk=request.app[CASE_DESK])
    return web.json_response({"phone": masked(phone, user), "ended": ended})
