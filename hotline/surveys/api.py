"""The survey campaign's routes: served items in, the week's surveys and results out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls import mask_number
from hotline.db.tables import User
from hotline.db.users import Actor
from hotline.errors import InvalidInput, NotFound
from hotline.surveys import store
from hotline.surveys.cases import CaseDesk
from hotline.surveys.draw import parse_week, week_bounds
from hotline.surveys.results import (
    COMPLETED, GROUPINGS, QUESTIONS, SUGGESTION_STATES, period_weeks, results, shortfall, weeks_of_month,
)
from hotline.surveys.served import FIELDS, ID, TEXT_LIMIT, parse_rows, phone_number
from hotline.surveys.transcripts import Transcripts
from hotline.web.auth import require_role
from hotline.web.context import CONFIG, SESSIONS
from hotline.web.openapi import MONTH, SPACE, Body, Boolean, Choice, Text, read, specs, text

SURVEY_MANAGERS = ("supervisor",)
# A citizen who asks an operator not to be called again is opted out there and then.
OPT_OUT_TAKERS = ("operator", "supervisor")
# Phone numbers are personal data: supervisors see them masked, admins whole.
FULL_NUMBERS = ("admin",)
BATCH_LIMIT = 10_000

routes = web.RouteTableDef()
# The cases workflow, as the composition root connects it (hotline/surveys/cases.py).
CASE_DESK = web.AppKey("survey_case_desk", CaseDesk)
# The suggestions' transcripts, as the composition root connects them (hotline/surveys/transcripts.py).
TRANSCRIPTS = web.AppKey("survey_transcripts", Transcripts)

_ID = {"type": "string", "pattern": f"^[{SPACE}]*{ID.pattern}[{SPACE}]*$",
       "description": "an id as the scoring subjects', e.g. gongan-1"}
# Not blank, at most TEXT_LIMIT characters once trimmed, no NUL: what parse_item keeps.
_WORDS = {"type": "string",
          "pattern": f"^[{SPACE}]*[^{SPACE}\\x00](?:[^\\x00]{{0,{TEXT_LIMIT - 2}}}[^{SPACE}\\x00])?[{SPACE}]*$"}
_S = f"[{SPACE}()\\-]*"
# What phone_number reads, as one pattern: separators anywhere, then +86, 0086 or (13 digits in
# all) 86, then a mobile or landline number (served.MOBILE, served.LANDLINE).
PHONE_PATTERN = (
    f"^{_S}(?:\\+{_S}8{_S}6{_S}|0{_S}0{_S}8{_S}6{_S}|8{_S}6{_S}(?=(?:[0-9]{_S}){{11}}$))?"
    f"(?:1{_S}[3-9]{_S}(?:[0-9]{_S}){{9}}|0{_S}[1-9]{_S}(?:[0-9]{_S}){{8,10}})$"
)
_PHONE = {"type": "string", "pattern": PHONE_PATTERN,
          "description": "Chinese mobile or landline with area code, +86 and separators allowed",
          "examples": ["13800138000"]}
# A time parse_time reads; only days 01-28, which every month has, so that every value the
# pattern admits is a real time (the server also reads 29-31 where the month has them).
_COMPLETED = {
    "type": "string", "examples": ["2026-11-27T10:30:00+08:00"],
    "pattern": f"^[{SPACE}]*(?!0000|0001-01-01)[0-9]{{4}}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3])"
               f":[0-5][0-9]:[0-5][0-9](\\.[0-9]{{1,6}})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?[{SPACE}]*$",
    "description": "ISO 8601; without an offset, the centre's time zone",
}
_ITEM = {
    "type": "object", "required": list(FIELDS), "additionalProperties": False,
    "properties": {"window": _ID, "staff": _ID, "applicant": _WORDS, "phone": _PHONE, "item": _WORDS,
                   "completed_at": _COMPLETED},
}
# Each item is checked by parse_rows, which keeps the good ones of a batch with bad ones in it.
SERVED_ITEMS = Body({"type": "object", "required": ["items"], "properties": {
    "items": {"type": "array", "items": _ITEM, "maxItems": BATCH_LIMIT}}}, lenient=("items",))
OPT_OUT = Body({"type": "object", "required": ["phone"], "properties": {
    "phone": _PHONE, "reason": text(200, description="why, default 'asked an operator'")}})
# An ISO week, but for those of years 0, 1 and 9999, which would reach outside the years 1-9999
# in UTC; a well-formed week that does not exist (2027-W53) is a 404.
_WEEK = "^(?!0000|0001|9999)[0-9]{4}-W(0[1-9]|[1-4][0-9]|5[0-3])$"
WEEK = Text(name="week", pattern=_WEEK, max_length=8, example="2026-W49", description="ISO week, e.g. 2026-W49")
RESULTS_QUERY = (
    Text(name="week", pattern=_WEEK, max_length=8, example="2026-W49",
         description="ISO week, e.g. 2026-W49 (or month)"),
    MONTH,
    Choice(name="by", values=GROUPINGS,
           description="one summary per window, staff member or department (the window's, as `hotline departments import` "
                       "set them; a window no department names is under `(no department)`)"),
    Boolean(name="suggestions",
            description="false: the figures alone, `suggestions` empty, no transcript read or audited (default true)"),
)
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_SUGGESTIONS = {"type": "array", "description": "the spoken suggestions, by week and case", "items": {
    "type": "object", "additionalProperties": False,
    "required": ["case", "week", "window", "staff", "department", "call", "transcript", "state"],
    "properties": {
        "case": {"type": "string"}, "week": {"type": "string"}, "window": {"type": "string"},
        "staff": {"type": "string"}, "department": {"type": "string"},
        "call": {"type": ["integer", "null"], "description": "the survey call it was recorded on"},
        "transcript": {"type": ["string", "null"], "description": "the transcript's text (each one shown is "
                                                                  "in the recordings audit log)"},
        "state": {"enum": list(SUGGESTION_STATES), "description": "why there is no text, if there is none"},
    }}}
_RESULTS = {"type": "object", "required": ["surveys", "suggestions"], "properties": {"suggestions": _SUGGESTIONS}}

OPENAPI_PATHS = {
    "/api/v1/surveys": {
        "get": {
            "summary": "One week's callback surveys: status, attempts, answers, suggestion (supervisor)",
            "parameters": specs([replace(WEEK, required=True)]),
            "responses": {"200": {"description": "`week`, `seed`, `surveys` (each with `case`, `window`, "
                                  "`staff`, `phone` masked unless admin, `status`, `attempts`, `answers`, "
                                  "`suggestion`, `complaint_case`), `completed` and `shortfall` (docs/surveys.md)",
                                  "content": {"application/json": {"schema": {"type": "object"}}}},
                          "404": {"description": "No such ISO week", **_ERROR}},
        }
    },
    "/api/v1/survey-opt-outs": {
        "post": {
            "summary": "Never call a number for a survey again (operator, supervisor)",
            "requestBody": OPT_OUT.spec(),
            "responses": {"200": {"description": "`phone` as stored and `ended`: surveys not yet finished that "
                                                 "ended as opted-out",
                                  "content": {"application/json": {"schema": {"type": "object", "properties": {
                                      "phone": {"type": "string"}, "ended": {"type": "integer"}}}}}}},
        }
    },
    "/api/v1/surveys/results": {
        "get": {
            "summary": "Completed and partial surveys, answer distribution and satisfaction rate (supervisor)",
            "description": "Give either week or month (a request with both or neither is a 400).",
            "parameters": specs(RESULTS_QUERY),
            "responses": {"200": {"description": "`period`, `weeks`, `total`, `suggestions` and, with `by`, one summary "
                                                 "per window, staff member or department (a department's with its `name`): "
                                                 "`surveys`, one count per status, `distribution`, `answered_surveys`, "
                                                 "`dissatisfied_surveys`, `satisfaction_rate`, `suggestions` "
                                                 "(docs/surveys.md, Results)",
                                  "content": {"application/json": {"schema": {
                                      "type": "object", "required": ["period", "weeks", "total", "suggestions"],
                                      "properties": {"period": {"type": "string"},
                                                     "weeks": {"type": "array", "items": {"type": "string"}},
                                                     "total": {"type": "object", "required": ["surveys"]},
                                                     "suggestions": _SUGGESTIONS}
                                                    | {by: {"type": "object", "additionalProperties": _RESULTS}
                                                       for by in GROUPINGS}}}}},
                          "404": {"description": "No such ISO week", **_ERROR}},
        }
    },
    "/api/v1/served-items": {
        "post": {
            "summary": "Add completed service items, the population of the weekly survey draw (supervisor)",
            "requestBody": SERVED_ITEMS.spec(),
            "responses": {
                "200": {"description": "Every item valid: `added`, `already_known`, `duplicates` (1-based positions skipped)",
                        "content": {"application/json": {"schema": {"type": "object", "properties": {
                            "added": {"type": "integer"}, "already_known": {"type": "integer"},
                            "duplicates": {"type": "array", "items": {"type": "integer"}}}}}}},
                "400": {"description": "Some items refused (`details.problems`, each with `row`, `field`, "
                                       "`message`); the valid ones were stored (`details.added`)", **_ERROR},
            },
        }
    },
}


def _week(week: str) -> None:
    """Refuse a well-formed week that its year lacks (2027-W53) as not found."""
    try:
        parse_week(week)
    except InvalidInput:
        raise NotFound(f"week {week}: no such ISO week", week=week) from None


@routes.post("/api/v1/served-items")
async def add_served_items(request: web.Request) -> web.Response:
    """Validate and store a batch of served items; bad ones are reported, good ones kept."""
    require_role(request, *SURVEY_MANAGERS)
    items = (await SERVED_ITEMS.read(request))["items"]
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
    """The number as `user` may see it: 138****8000 unless they are an admin. Stricter than
    `[centre] masked_roles`: a survey's report needs no one's number but the campaign's admin's."""
    return phone if user.role in FULL_NUMBERS else mask_number(phone)


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
    week = replace(WEEK, required=True).read(request)
    _week(week)
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
    """Counts, distribution, satisfaction rate and suggestions for a week or a month."""
    user = require_role(request, *SURVEY_MANAGERS)
    query = read(request, RESULTS_QUERY)
    if query["week"]:
        _week(query["week"])
    weeks, period = period_weeks(query["week"], query["month"])
    by = query["by"]
    desk = request.app[CASE_DESK]
    async with request.app[SESSIONS]() as session:
        records, names = await store.period_records(session, weeks, desk)
        suggestions = []
        # Transcripts are read (and each read audited) only for whoever will show them.
        if query["suggestions"] is not False:
            suggestions = await store.period_suggestions(session, weeks, desk, request.app[TRANSCRIPTS],
                                                         Actor.of_user(user, request.remote), f"survey results {period}")
            # The transcripts' reads are audited before any of them is sent.
            await session.commit()
    return web.json_response({"period": period, "weeks": weeks, **results(records, by, names, suggestions)})


@routes.post("/api/v1/survey-opt-outs")
async def opt_out(request: web.Request) -> web.Response:
    """Record an opt-out asked of an operator; the number's open surveys end opted-out."""
    user = require_role(request, *OPT_OUT_TAKERS)
    body = await OPT_OUT.read(request)
    phone = phone_number(body["phone"])
    assert phone is not None  # PHONE_PATTERN admits exactly the numbers phone_number reads
    reason = body.get("reason", "asked an operator")
    async with request.app[SESSIONS]() as session:
        ended = await store.opt_out(session, phone, by=f"{user.role} {user.name}", reason=reason,
                                    now=datetime.now(UTC), desk=request.app[CASE_DESK])
    return web.json_response({"phone": masked(phone, user), "ended": ended})


async def window_satisfaction(session: AsyncSession, month: str) -> dict[str, Any]:
    """The month's satisfaction rate (results.py's), in total and per window that has an
    answered survey, for the dashboard: a month holds five surveys a week, not a table's worth."""
    figures = results(await store.survey_records(session, weeks_of_month(month)), "window")

    def rate(summary: dict[str, Any]) -> dict[str, Any]:
        return {"surveys": summary["answered_surveys"], "dissatisfied": summary["dissatisfied_surveys"],
                "satisfaction_rate": summary["satisfaction_rate"]}

    return rate(figures["total"]) | {"windows": [
        {"window": window} | rate(summary) for window, summary in figures["window"].items()
        if summary["answered_surveys"]]}
