"""Cases over HTTP: file, list, read, and each workflow step as its own action.

Roles: operators and supervisors file and read every case; a handler reads and acts only on their
department's cases (another department's is a 404, so numbers cannot be probed); phone numbers
are shown only to the roles that call citizens back (operator, supervisor, admin), masked
(138****0001) for everyone else. A confidential case (保密工单) hides its callers' names too.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.cases import workflow
from hotline.cases import statistics
from hotline.cases.store import (
    CaseFilter, CaseServices, CaseView, Department, Recordings, Scoring, Viewer, act_on_case, case_services,
    cases_filed_between, file_case, list_cases, list_departments, open_case_counts, save_departments, view_case,
)
from hotline.cases.workflow import Actor
from hotline.db.tables import User
from hotline.errors import InvalidInput
from hotline.web.auth import USER, require_role
from hotline.web.context import CONFIG, SESSIONS
from hotline.web.openapi import Integer

# The features cases report to, wired by the composition root (hotline/web/app.py).
SCORING = web.AppKey("case_scoring", Scoring)
RECORDINGS = web.AppKey("case_recordings", Recordings)

FILERS = ("operator", "supervisor")
READERS = ("operator", "supervisor", "handler")
# Roles that call citizens back and so see their numbers in full.
NUMBER_READERS = frozenset({"operator", "supervisor", "admin"})
MAX_BODY = 64 * 1024
LIMIT = Integer(name="limit", low=1, high=500, default=50, description="cases per page")

routes = web.RouteTableDef()

_T = {"type": "string"}
_TN = {"type": ["string", "null"]}
_STEP_SCHEMA = {"type": "object", "properties": {
    "seq": {"type": "integer"}, "action": _T, "actor": _T, "role": _T, "at": _T, "note": _T,
    "status_before": _TN, "status_after": _T, "data": {"type": "object"}, "prev_hash": _T, "hash": _T,
}}
CASE_SCHEMA = {"type": "object", "required": ["number", "type", "channel", "status", "due_at", "history"],
               "properties": {
    "number": {"type": "string", "examples": ["12345-20261201-0007"]},
    "type": {"type": "string", "enum": list(workflow.TYPES)},
    "channel": {"type": "string", "enum": list(workflow.CHANNELS)},
    "status": {"type": "string", "enum": list(workflow.STATUSES)},
    "description": _T, "hotline": _TN, "caller_number": _TN, "caller_name": _TN,
    "callers": {"type": "array", "items": {"type": "object", "properties": {"number": _TN, "name": _TN}}},
    "call_id": {"type": ["integer", "null"]},
    "calls": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "transcript_offset": {"type": ["number", "null"]}, "started_at": _T, "hotline": _TN}}},
    "department": _TN, "department_window": _TN, "window": _TN, "staff": _TN, "address": _TN,
    "grid_code": _TN, "component_code": _TN, "confidential": {"type": "boolean"},
    "filed_at": _T, "due_at": _T, "overdue": {"type": "boolean"}, "acknowledge_due_at": _TN,
    "acknowledged_at": _TN, "extension_requested_days": {"type": ["integer", "null"]}, "urged_at": _TN,
    "criticism_due_at": _TN, "escalated_at": _TN, "overdue_at": _TN, "criticised_at": _TN,
    "substantiated": {"type": ["boolean", "null"]}, "item": _TN, "merged_into": _TN, "closed_at": _TN,
    "version": {"type": "integer"}, "history": {"type": "array", "items": _STEP_SCHEMA},
}}
_CASE_RESPONSE = {"content": {"application/json": {"schema": CASE_SCHEMA}}}
_NUMBER = {"name": "number", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "the case number, e.g. 12345-20261201-0007"}
# The body each action reads: name -> (JSON properties, required).
ACTION_BODIES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "resolve": ({"answer": _T}, ["answer"]),
    "register": ({"note": _T}, []),
    "reject": ({"reason": _T}, ["reason"]),
    "dispatch": ({"department": _T, "window": _T}, ["department"]),
    "acknowledge": ({}, []),
    "return": ({"reason": _T}, ["reason"]),
    "request-extension": ({"days": {"type": "integer", "minimum": 1, "maximum": 60}, "reason": _T}, ["days", "reason"]),
    "decide-extension": ({"approve": {"type": "boolean"}, "note": _T}, ["approve"]),
    "feedback": ({"text": _T}, ["text"]),
    "verify": ({"passed": {"type": "boolean"}, "substantiated": {"type": "boolean"},
                "item": {"type": "string", "description": "rubric item, default verified-complaint"}, "note": _T},
               ["passed"]),
    "urge": ({"note": _T}, []),
    "escalate": ({"note": _T}, []),
    "reopen": ({"reason": _T}, ["reason"]),
    # Made by the follow-up callback (and admins): the citizen's answer, 3 = dissatisfied.
    "request-reopening": ({"reason": _T, "answer": {"type": "integer", "enum": [1, 2, 3]}}, ["reason"]),
    "merge": ({"into": _T}, ["into"]),
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/cases": {
        "post": {
            "summary": "File a case (operator, supervisor)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["type", "channel", "description"],
                "properties": {
                    "type": {"type": "string", "enum": list(workflow.TYPES)},
                    "channel": {"type": "string", "enum": list(workflow.CHANNELS)},
                    "description": _T, "hotline": _T, "caller_number": _T, "caller_name": _T,
                    "call_id": {"type": "integer"}, "transcript_offset": {"type": "number"},
                    "department": _T, "window": _T, "staff": _T, "address": _T,
                    "grid_code": {"type": "string", "pattern": "^[0-9]{12}$"},
                    "component_code": {"type": "string", "pattern": "^[0-9]{16}$"},
                    "confidential": {"type": "boolean"},
                }}}}},
            "responses": {"201": {"description": "The case", **_CASE_RESPONSE},
                          "404": {"description": "No such call or department"}},
        },
        "get": {
            "summary": "Cases, newest first (operator, supervisor; a handler: their department's)",
            "parameters": [
                {"name": name, "in": "query", "schema": {"type": "string"}, "description": text}
                for name, text in [
                    ("status", " | ".join(workflow.STATUSES)), ("type", " | ".join(workflow.TYPES)),
                    ("department", "department id"), ("window", "window id (complained about or responsible)"),
                    ("overdue", "true: open and past the deadline; false: the others"),
                    ("soon_due", "true: open and due within [cases] soon_days working days"),
                    ("caller", "any caller's number"), ("cursor", "next_cursor of the previous page"),
                    ("limit", "1-500, default 50"),
                ]
            ],
            "responses": {"200": {"description": "A page of cases", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"cases": {"type": "array", "items": CASE_SCHEMA},
                                                 "next_cursor": _TN}}}}}},
        },
    },
    "/api/v1/cases/{number}": {"get": {
        "summary": "One case with its callers, calls and history (operator, supervisor, its department's handler)",
        "parameters": [_NUMBER],
        "responses": {"200": {"description": "The case", **_CASE_RESPONSE}, "404": {"description": "No such case"}},
    }},
}
for _name, (_properties, _required) in ACTION_BODIES.items():
    _rule = workflow.ACTIONS[_name]
    OPENAPI_PATHS[f"/api/v1/cases/{{number}}/actions/{_name}"] = {"post": {
        "summary": f"{_name} ({', '.join(_rule.roles)}; from {', '.join(_rule.sources)})",
        "description": "Send the case's `version` to be refused (409) if it changed since it was read.",
        "parameters": [_NUMBER],
        "requestBody": {"content": {"application/json": {"schema": {
            "type": "object", "required": _required,
            "properties": _properties | {"version": {"type": "integer"}}}}}},
        "responses": {"200": {"description": "The case after the step", **_CASE_RESPONSE},
                      "404": {"description": "No such case (or another department's)"},
                      "409": {"description": "Not possible in the case's status, or the case changed meanwhile"}},
    }}


_DEPARTMENT = {"type": "object", "required": ["id", "name"],
               "properties": {"id": _T, "name": _T, "window": {**_TN, "description": "scoring subject id"}}}
OPENAPI_PATHS["/api/v1/departments"] = {"get": {
    "summary": "Departments that handle cases and their windows (operator, supervisor, handler)",
    "responses": {"200": {"description": "Every department", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"departments": {"type": "array", "items": _DEPARTMENT}}}}}}},
}}
OPENAPI_PATHS["/api/v1/departments/{id}"] = {"put": {
    "summary": "Add or rename a department (admin); `hotline departments import` does many at once",
    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["name"], "properties": {"name": _T, "window": _TN}}}}},
    "responses": {"200": {"description": "The department", "content": {"application/json": {"schema": _DEPARTMENT}}}},
}}


OPENAPI_PATHS["/api/v1/statistics/cases"] = {"get": {
    "summary": "Case figures per department, window or hotline for a period (supervisor; a handler: their department)",
    "description": "Cases count in the period they were filed in; see docs/cases.md for each column.",
    "parameters": [
        {"name": name, "in": "query", "schema": {"type": "string"}, "description": text}
        for name, text in [("by", "department (default) | window | hotline"), ("month", "e.g. 2026-12"),
                           ("from", "first local day, e.g. 2026-12-01 (with to)"), ("to", "last local day"),
                           ("format", "json (default) | csv | xlsx")]
    ],
    "responses": {"200": {"description": "The figures, one row per group then the total", "content": {
        "application/json": {"schema": {"type": "object", "properties": {
            "by": _T, "period": _T, "rows": {"type": "array", "items": {"type": "object", "properties": {
                name: {"type": ["integer", "number", "string", "null"]} for name in statistics.COLUMNS}}}}}},
        "text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}},
}}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def case_json(view: CaseView, role: str, now: datetime) -> dict[str, Any]:
    """A case as the API shows it to `role`: numbers masked unless the role calls citizens back."""
    case = view.case
    full = role in NUMBER_READERS
    callers = [{"number": number if full else workflow.mask_number(number),
                "name": name if full or not case.confidential else None}
               for number, name in view.callers]
    first = callers[0] if callers else {"number": None, "name": None}
    return {
        "number": case.number, "type": case.type, "channel": case.channel, "status": case.status,
        "description": case.description, "hotline": case.hotline,
        "caller_number": first["number"], "caller_name": first["name"], "callers": callers,
        "call_id": view.calls[0]["id"] if view.calls else None, "calls": view.calls,
        "department": case.department, "department_window": case.department_window,
        "window": case.window, "staff": case.staff, "address": case.address, "grid_code": case.grid_code,
        "component_code": case.component_code, "confidential": case.confidential,
        "filed_at": _time(case.filed_at), "due_at": _time(case.due_at),
        "overdue": workflow.is_overdue(case, now), "acknowledge_due_at": _time(case.acknowledge_due_at),
        "acknowledged_at": _time(case.acknowledged_at), "extension_requested_days": case.extension_days,
        "urged_at": _time(case.urged_at), "criticism_due_at": _time(case.criticism_due_at),
        "escalated_at": _time(case.escalated_at), "overdue_at": _time(case.overdue_at),
        "criticised_at": _time(case.criticised_at), "substantiated": case.substantiated, "item": case.scored_item, "merged_into": case.merged_into,
        "closed_at": _time(case.closed_at), "version": view.version,
        "history": [
            {"seq": s.seq, "action": s.action, "actor": s.actor, "role": s.role, "at": _time(s.at),
             "note": s.note, "status_before": s.status_before, "status_after": s.status_after,
             "data": dict(s.data), "prev_hash": s.prev_hash, "hash": s.hash}
            for s in view.history
        ],
    }


def viewer(user: User) -> Viewer:
    return Viewer(Actor(user.name, user.role, user.department))


async def services(request: web.Request, session: AsyncSession) -> CaseServices:
    """Deadlines as configured, on the calendars in the database (an import takes effect at once)."""
    return await case_services(session, request.app[CONFIG].cases, request.app.get(SCORING),
                               request.app.get(RECORDINGS))


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is an empty object); a clear 400 otherwise."""
    if request.content_length and request.content_length > MAX_BODY:
        raise InvalidInput(f"body: at most {MAX_BODY} bytes")
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"body: not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidInput("body: expected a JSON object")
    for key, value in body.items():
        if isinstance(value, str) and "\x00" in value:
            # PostgreSQL text cannot hold NUL: refuse it here rather than fail the insert.
            raise InvalidInput(f"{key}: contains a NUL character", field=key)
    return body


def _flag(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    if raw not in ("true", "false"):
        raise InvalidInput(f"{name}: expected true or false, got {raw!r}", parameter=name)
    return raw == "true"


def _choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = request.query.get(name) or None
    if value is not None and value not in choices:
        raise InvalidInput(f"{name}: expected one of {', '.join(choices)}, got {value!r}", parameter=name)
    return value


@routes.post("/api/v1/cases")
async def cases_file(request: web.Request) -> web.Response:
    """File a case; 201 with the case."""
    user = require_role(request, *FILERS)
    body = await json_body(request)
    now = datetime.now(timezone.utc)
    async with request.app[SESSIONS]() as session:
        view = await file_case(session, body, viewer(user).actor, now, await services(request, session))
    return web.json_response(case_json(view, user.role, now), status=201,
                             headers={"Location": f"/api/v1/cases/{view.case.number}"})


@routes.get("/api/v1/cases")
async def cases_list(request: web.Request) -> web.Response:
    """Cases, newest first, filtered, keyset-paginated."""
    user = require_role(request, *READERS)
    filters = CaseFilter(
        status=_choice(request, "status", workflow.STATUSES), type=_choice(request, "type", workflow.TYPES),
        department=request.query.get("department") or None, window=request.query.get("window") or None,
        overdue=_flag(request, "overdue"), soon_due=bool(_flag(request, "soon_due")),
        caller=request.query.get("caller") or None,
    )
    limit = LIMIT.read(request)
    now = datetime.now(timezone.utc)
    async with request.app[SESSIONS]() as session:
        page, next_cursor = await list_cases(session, filters, viewer(user), now, await services(request, session),
                                             limit, request.query.get("cursor") or None)
    return web.json_response({"cases": [case_json(v, user.role, now) for v in page], "next_cursor": next_cursor})


@routes.get("/api/v1/cases/{number}")
async def cases_show(request: web.Request) -> web.Response:
    user = require_role(request, *READERS)
    async with request.app[SESSIONS]() as session:
        view = await view_case(session, request.match_info["number"], viewer(user))
    return web.json_response(case_json(view, user.role, datetime.now(timezone.utc)))


@routes.post("/api/v1/cases/{number}/actions/{action}")
async def cases_act(request: web.Request) -> web.Response:
    """One workflow step; the body's `version`, if sent, must still be the case's."""
    user: User = request[USER]
    action = request.match_info["action"]
    if action not in workflow.ACTIONS:
        raise InvalidInput(f"unknown action {action!r}; one of {', '.join(workflow.ACTIONS)}", action=action)
    body = await json_body(request)
    version = body.pop("version", None)
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise InvalidInput(f"version: expected the case's version number, got {version!r}", field="version")
    now = datetime.now(timezone.utc)
    async with request.app[SESSIONS]() as session:
        view = await act_on_case(session, request.match_info["number"], action, body, viewer(user), now,
                                 await services(request, session), version)
    return web.json_response(case_json(view, user.role, now))


def department_json(department: Department) -> dict[str, Any]:
    return {"id": department.id, "name": department.name, "window": department.window}


@routes.get("/api/v1/departments")
async def departments_list(request: web.Request) -> web.Response:
    require_role(request, *READERS)
    async with request.app[SESSIONS]() as session:
        departments = await list_departments(session)
    return web.json_response({"departments": [department_json(d) for d in departments]})


@routes.put("/api/v1/departments/{id}")
async def departments_put(request: web.Request) -> web.Response:
    """Add or rename one department (admins only: handlers' access follows it)."""
    require_role(request)
    body = await json_body(request)
    department_id, name, window = request.match_info["id"], body.get("name"), body.get("window")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("name: required", field="name")
    if window is not None and (not isinstance(window, str) or not window.strip() or len(window) > 64):
        raise InvalidInput("window: expected a scoring subject id of at most 64 characters", field="window")
    if len(department_id) > 64:
        raise InvalidInput("id: at most 64 characters", field="id")
    department = Department(id=department_id, name=name.strip(), window=window.strip() if window else None)
    async with request.app[SESSIONS]() as session:
        await save_departments(session, [department])
    return web.json_response(department_json(department))


@routes.get("/api/v1/statistics/cases")
async def cases_statistics(request: web.Request) -> web.Response:
    """The period's figures as JSON, CSV or XLSX."""
    user = require_role(request, "supervisor", "handler")
    by = request.query.get("by") or "department"
    form = request.query.get("format") or "json"
    if form not in ("json", "csv", "xlsx"):
        raise InvalidInput(f"format: expected json, csv or xlsx, got {form!r}", parameter="format")
    now = datetime.now(timezone.utc)
    async with request.app[SESSIONS]() as session:
        hours = (await services(request, session)).policy.calendar.hours
        start, end, label = statistics.period(request.query.get("month"), request.query.get("from"),
                                              request.query.get("to"), hours.zone)
        rows = statistics.tally(await cases_filed_between(session, start, end, viewer(user)), by, now)
    name = f"cases-by-{by}-{label}"
    if form == "csv":
        return web.Response(text=statistics.figures_csv(rows), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if form == "xlsx":
        out = io.BytesIO()
        statistics.figures_workbook(rows, label).save(out)
        return web.Response(body=out.getvalue(), headers={
            "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return web.json_response({"by": by, "period": label, "rows": [row.as_row() for row in rows]})


async def case_metrics(app: web.Application) -> list[Metric]:
    """Gauges of open cases per status and of overdue ones, read at scrape time."""
    async with app[SESSIONS]() as session:
        per_status, overdue = await open_case_counts(session, datetime.now(timezone.utc))
    open_cases = GaugeMetricFamily("hotline_cases_open", "Open cases by status", labels=["status"])
    for status, count in per_status.items():
        open_cases.add_metric([status], count)
    return [open_cases, GaugeMetricFamily("hotline_cases_overdue", "Open cases past their deadline", value=overdue)]


CALLER_CASES = 20


async def caller_cases(session: AsyncSession, number: str, user: User) -> dict[str, Any]:
    """The caller's cases (as `user` may see them) for their history and the operator's screen pop."""
    now = datetime.now(timezone.utc)
    page, _ = await list_cases(session, CaseFilter(caller=number), viewer(user), now, None, CALLER_CASES)
    return {"cases": [case_json(view, user.role, now) for view in page]}
