"""Cases over HTTP: file, list, read, and each workflow step as its own action.

Roles: operators and supervisors file and read every case; a handler reads and acts only on their
department's cases (another department's is a 404, so numbers cannot be probed). Callers' numbers
are masked (138****0001) for the roles of `[centre] masked_roles`, as the calls API masks them,
wherever a case shows one: its callers, and its description and history notes. A confidential
case (保密工单) hides its callers' numbers and names from the departments whatever that says.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls import mask_number
from hotline.cases import workflow
from hotline.cases import statistics
from hotline.cases.store import (
    CaseFilter, CaseServices, CaseView, Department, Recordings, Scoring, Viewer, act_on_case, case_services,
    cases_filed_between, file_case, list_cases, list_departments, open_case_counts, open_cases_per_department,
    save_departments, view_case,
)
from hotline.cases.workflow import Actor, Step
from hotline.db.tables import MAX_ID, User
from hotline.web.auth import USER, numbers_masked, require_role
from hotline.web.context import CONFIG, SESSIONS
from hotline.web.openapi import CURSOR, MONTH, Body, Boolean, Choice, Date, Integer, Text, read, specs, text

# The features cases report to, wired by the composition root (hotline/web/app.py).
SCORING = web.AppKey("case_scoring", Scoring)
RECORDINGS = web.AppKey("case_recordings", Recordings)

FILERS = ("operator", "supervisor")
READERS = ("operator", "supervisor", "handler")
# Department staff are outside the centre: a confidential case's caller is never shown to them.
OUTSIDE_THE_CENTRE = frozenset({"handler"})
# A mobile number typed into a description or a note: 1, 3-9, then 9 digits.
MOBILE_NUMBER = "1[3-9][0-9]{9}"
LIMIT = Integer(name="limit", low=1, high=500, default=50, description="cases per page")

routes = web.RouteTableDef()

_T = {"type": "string"}
_TN = {"type": ["string", "null"]}
_STEP_SCHEMA = {"type": "object", "properties": {
    "seq": {"type": "integer"}, "action": _T, "actor": _T, "role": _T, "at": _T, "note": _T,
    "status_before": _TN, "status_after": _T, "data": {"type": "object"},
    "prev_hash": {**_TN, "description": "null where a number in a note is masked"}, "hash": _TN,
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
NUMBER = Text(name="number", location="path", max_length=32,
              description="the case number, e.g. 12345-20261201-0007", example="12345-20261201-0007")


def _words(name: str, *, required: bool = False) -> dict[str, Any]:
    """A text the workflow reads with its limit (workflow.LIMITS), blank meaning absent."""
    limit = workflow.LIMITS.get(name, workflow.TEXT_LIMIT)
    return text(limit, blank=not required) if required else text(limit, null=True)


def _body(*required: str, **optional: dict[str, Any]) -> Body:
    """A body of the `required` texts and the `optional` properties, and nothing else."""
    return Body({"type": "object", "required": list(required),
                 "properties": {name: _words(name, required=True) for name in required} | optional})


_VERSION = {"version": {"type": "integer", "minimum": 0, "maximum": MAX_ID,
                        "description": "the case's version as read: refused (409) if it changed since"}}
# The grid (CJ/T 213-2005): district 6 + street office 2 + community 2 + grid 2, each part from 01.
GRID_CODE = "^[0-9]{6}(?!00)[0-9]{2}(?!00)[0-9]{2}(?!00)[0-9]{2}$"
GRID_WORDS = "12 digits: district 6, street 2, community 2, grid 2, each part from 01"
FILE_BODY = Body({
    "type": "object", "required": ["type", "channel", "description"],
    "properties": {
        "type": {"type": "string", "enum": list(workflow.TYPES)},
        "channel": {"type": "string", "enum": list(workflow.CHANNELS)},
        "description": _words("description", required=True),
        **{name: _words(name) for name in ("hotline", "department", "window", "staff", "address")},
        "caller_number": text(64, null=True), "caller_name": text(200, null=True),
        "call_id": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID},
        "transcript_offset": {"type": ["number", "null"], "minimum": 0, "description": "seconds into the call"},
        "grid_code": {"type": ["string", "null"], "pattern": GRID_CODE, "description": GRID_WORDS},
        "component_code": {"type": ["string", "null"], "pattern": "^[0-9]{16}$",
                           "description": "16 digits (6 district, 2+2 class, 6 serial)"},
        "confidential": {"type": "boolean"},
    },
    # A city-management case is located on the grid so a department can go there.
    "allOf": [{"if": {"properties": {"channel": {"const": "12319"}}},
               "then": {"required": ["address", "grid_code"],
                        "properties": {"address": _words("address", required=True),
                                       "grid_code": {"type": "string", "pattern": GRID_CODE,
                                                     "description": GRID_WORDS}}}}],
})
# The body each action reads, `version` besides.
ACTION_BODIES: dict[str, Body] = {
    "resolve": _body("answer", **_VERSION),
    "register": _body(note=_words("note"), **_VERSION),
    "reject": _body("reason", **_VERSION),
    "dispatch": _body("department", window=_words("window"), **_VERSION),
    "acknowledge": _body(**_VERSION),
    "return": _body("reason", **_VERSION),
    "request-extension": Body({"type": "object", "required": ["days", "reason"],
                               "properties": {"days": {"type": "integer", "minimum": 1, "maximum": 60},
                                              "reason": _words("reason", required=True)} | _VERSION}),
    "decide-extension": Body({"type": "object", "required": ["approve"],
                              "properties": {"approve": {"type": "boolean"}, "note": _words("note")} | _VERSION}),
    "feedback": _body("text", **_VERSION),
    "verify": Body({"type": "object", "required": ["passed"], "properties": {
        "passed": {"type": "boolean"},
        "substantiated": {"type": "boolean", "description": "required when a complaint passes"},
        "item": {**_words("item"), "description": "rubric item, default verified-complaint"},
        "note": _words("note")} | _VERSION}),
    "urge": _body(note=_words("note"), **_VERSION),
    "escalate": _body(note=_words("note"), **_VERSION),
    "reopen": _body("reason", **_VERSION),
    # Made by the follow-up callback (and admins): the citizen's answer, 3 = dissatisfied.
    "request-reopening": Body({"type": "object", "required": ["reason"], "properties": {
        "reason": _words("reason", required=True), "answer": {"type": "integer", "enum": [1, 2, 3]}} | _VERSION}),
    "merge": _body("into", **_VERSION),
}
CASE_FILTERS = (
    Choice(name="status", values=workflow.STATUSES, description="the case's status"),
    Choice(name="type", values=workflow.TYPES, description="the case's type"),
    Text(name="department", max_length=64, description="department id (empty: every department)"),
    Text(name="window", max_length=64, description="window id, complained about or responsible (empty: every window)"),
    Boolean(name="overdue", description="true: open and past the deadline; false: the others"),
    Boolean(name="soon_due", description="true: open and due within [cases] soon_days working days"),
    Text(name="caller", max_length=64, description="any caller's number (empty: every caller)"),
    CURSOR,
    LIMIT,
)

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/cases": {
        "post": {
            "summary": "File a case (operator, supervisor)",
            "requestBody": FILE_BODY.spec(),
            "responses": {"201": {"description": "The case", **_CASE_RESPONSE},
                          "404": {"description": "No such call or department", **_ERROR}},
        },
        "get": {
            "summary": "Cases, newest first (operator, supervisor; a handler: their department's)",
            "parameters": specs(CASE_FILTERS),
            "responses": {"200": {"description": "A page of cases", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"cases": {"type": "array", "items": CASE_SCHEMA},
                                                 "next_cursor": _TN}}}}}},
        },
    },
    "/api/v1/cases/{number}": {"get": {
        "summary": "One case with its callers, calls and history (operator, supervisor, its department's handler)",
        "parameters": specs([NUMBER]),
        "responses": {"200": {"description": "The case", **_CASE_RESPONSE},
                      "404": {"description": "No such case", **_ERROR}},
    }},
}
for _name, _body_of in ACTION_BODIES.items():
    _rule = workflow.ACTIONS[_name]
    OPENAPI_PATHS[f"/api/v1/cases/{{number}}/actions/{_name}"] = {"post": {
        "summary": f"{_name} ({', '.join(_rule.roles)}; from {', '.join(_rule.sources)})",
        "description": "Send the case's `version` to be refused (409) if it changed since it was read.",
        "parameters": specs([NUMBER]),
        "requestBody": _body_of.spec(),
        "responses": {"200": {"description": "The case after the step", **_CASE_RESPONSE},
                      "404": {"description": "No such case (or another department's)", **_ERROR},
                      "409": {"description": "Not possible in the case's status, or the case changed meanwhile",
                              **_ERROR}},
    }}


_DEPARTMENT = {"type": "object", "required": ["id", "name"],
               "properties": {"id": _T, "name": _T, "window": {**_TN, "description": "scoring subject id"}}}
OPENAPI_PATHS["/api/v1/departments"] = {"get": {
    "summary": "Departments that handle cases and their windows (operator, supervisor, handler)",
    "responses": {"200": {"description": "Every department", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"departments": {"type": "array", "items": _DEPARTMENT}}}}}}},
}}
DEPARTMENT_ID = Text(name="id", location="path", max_length=64, description="the department's id")
DEPARTMENT_BODY = Body({"type": "object", "required": ["name"], "properties": {
    "name": text(200, blank=False), "window": text(64, blank=False, null=True, description="scoring subject id")}})
OPENAPI_PATHS["/api/v1/departments/{id}"] = {"put": {
    "summary": "Add or rename a department (admin); `hotline departments import` does many at once",
    "parameters": specs([DEPARTMENT_ID]),
    "requestBody": DEPARTMENT_BODY.spec(),
    "responses": {"200": {"description": "The department", "content": {"application/json": {"schema": _DEPARTMENT}}}},
}}


STATISTICS_QUERY = (
    Choice(name="by", values=statistics.GROUPINGS, description="how rows are grouped (default department)"),
    MONTH,
    Date(name="from", description="first local day, e.g. 2026-12-01 (with to, instead of month)"),
    Date(name="to", description="last local day (with from)"),
    Choice(name="format", values=("json", "csv", "xlsx"), description="default json"),
)
OPENAPI_PATHS["/api/v1/statistics/cases"] = {"get": {
    "summary": "Case figures per department, window or hotline for a period (supervisor; a handler: their department)",
    "description": "Cases count in the period they were filed in; see docs/cases.md for each column.",
    "parameters": specs(STATISTICS_QUERY),
    "responses": {"200": {"description": "The figures, one row per group then the total", "content": {
        "application/json": {"schema": {"type": "object", "properties": {
            "by": _T, "period": _T, "rows": {"type": "array", "items": {"type": "object", "properties": {
                name: {"type": ["integer", "number", "string", "null"]} for name in statistics.COLUMNS}}}}}},
        "text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}},
}}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _number_masker(numbers: Iterable[str]) -> Callable[[str], str]:
    """What masks the callers' `numbers` and any mobile number in a text, each standing alone
    (not inside a longer run of digits such as a grid code or a case number)."""
    # Longest first, so that a number containing another is masked whole.
    either = "|".join([*(re.escape(n) for n in sorted(set(numbers), key=len, reverse=True)), MOBILE_NUMBER])
    pattern = re.compile(f"(?<![0-9])(?:{either})(?![0-9])")
    return lambda text: pattern.sub(lambda found: mask_number(found.group()), text)


def case_json(view: CaseView, now: datetime, *, masked: bool, outside: bool = False) -> dict[str, Any]:
    """A case as the API shows it: callers' numbers masked where `masked`, and for a confidential
    case also (with its callers' names) where `outside` the centre."""
    case = view.case
    hidden = masked or (outside and case.confidential)
    callers = [{"number": mask_number(number) if hidden else number,
                "name": None if hidden and case.confidential else name}
               for number, name in view.callers]
    first = callers[0] if callers else {"number": None, "name": None}
    words = _number_masker(number for number, _ in view.callers if number) if hidden else str
    return {
        "number": case.number, "type": case.type, "channel": case.channel, "status": case.status,
        "description": words(case.description), "hotline": case.hotline,
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
        "history": _history(view.history, words),
    }


def _history(steps: Iterable[Step], words: Callable[[str], str]) -> list[dict[str, Any]]:
    """The steps with their notes as `words` shows them. A step whose note had a number masked
    shows no hash (nor does the next its prev_hash): SHA-256 over the note would give the
    number back to whoever tries the 10,000 ways to fill 138****0001."""
    shown, withheld = [], False
    for s in steps:
        note = words(s.note)
        prev_hash, withheld = None if withheld else s.prev_hash, note != s.note
        shown.append({"seq": s.seq, "action": s.action, "actor": s.actor, "role": s.role, "at": _time(s.at),
                      "note": note, "status_before": s.status_before, "status_after": s.status_after,
                      "data": dict(s.data), "prev_hash": prev_hash, "hash": None if withheld else s.hash})
    return shown


def viewer(user: User) -> Viewer:
    return Viewer(Actor(user.name, user.role, user.department))


def as_seen_by(request: web.Request) -> Callable[[CaseView, datetime], dict[str, Any]]:
    """case_json for the request's user: numbers masked as the calls API masks them."""
    masked, outside = numbers_masked(request), request[USER].role in OUTSIDE_THE_CENTRE
    return lambda view, now: case_json(view, now, masked=masked, outside=outside)


async def services(request: web.Request, session: AsyncSession) -> CaseServices:
    """Deadlines as configured, on the calendars in the database (an import takes effect at once)."""
    return await case_services(session, request.app[CONFIG].cases, request.app.get(SCORING),
                               request.app.get(RECORDINGS))


@routes.post("/api/v1/cases")
async def cases_file(request: web.Request) -> web.Response:
    """File a case; 201 with the case."""
    user = require_role(request, *FILERS)
    body = await FILE_BODY.read(request)
    now = datetime.now(timezone.utc)
    async with request.app[SESSIONS]() as session:
        view = await file_case(session, body, viewer(user).actor, now, await services(request, session))
    return web.json_response(as_seen_by(request)(view, now), status=201,
                             headers={"Location": f"/api/v1/cases/{view.case.number}"})


@routes.get("/api/v1/cases")
async def cases_list(request: web.Request) -> web.Response:
    """Cases, newest first, filtered, keyset-paginated."""
    user = require_role(request, *READERS)
    query = read(request, CASE_FILTERS)
    filters = CaseFilter(
        status=query["status"], type=query["type"], department=query["department"] or None,
        window=query["window"] or None, overdue=query["overdue"], soon_due=bool(query["soon_due"]),
        caller=query["caller"] or None,
    )
    now = datetime.now(timezone.utc)
    async with request.app[SESSIONS]() as session:
        page, next_cursor = await list_cases(session, filters, viewer(user), now, await services(request, session),
                                             query["limit"], query["cursor"])
    shown = as_seen_by(request)
    return web.json_response({"cases": [shown(v, now) for v in page], "next_cursor": next_cursor})


@routes.get("/api/v1/cases/{number}")
async def cases_show(request: web.Request) -> web.Response:
    user = require_role(request, *READERS)
    async with request.app[SESSIONS]() as session:
        view = await view_case(session, NUMBER.read(request), viewer(user))
    return web.json_response(as_seen_by(request)(view, datetime.now(timezone.utc)))


@routes.post("/api/v1/cases/{number}/actions/{action}")
async def cases_act(request: web.Request) -> web.Response:
    """One workflow step; the body's `version`, if sent, must still be the case's."""
    user: User = request[USER]
    action = request.match_info["action"]
    number = NUMBER.read(request)
    # The role first: a role that may not act learns that, not what the body lacks.
    workflow.check_role(action, viewer(user).actor)
    body = await ACTION_BODIES[action].read(request)
    version = body.pop("version", None)
    now = datetime.now(timezone.utc)
    async with request.app[SESSIONS]() as session:
        view = await act_on_case(session, number, action, body, viewer(user), now,
                                 await services(request, session), version)
    return web.json_response(as_seen_by(request)(view, now))


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
    department_id = DEPARTMENT_ID.read(request)
    body = await DEPARTMENT_BODY.read(request)
    name, window = body["name"], body.get("window")
    department = Department(id=department_id, name=name.strip(), window=window.strip() if window else None)
    async with request.app[SESSIONS]() as session:
        await save_departments(session, [department])
    return web.json_response(department_json(department))


@routes.get("/api/v1/statistics/cases")
async def cases_statistics(request: web.Request) -> web.Response:
    """The period's figures as JSON, CSV or XLSX."""
    user = require_role(request, "supervisor", "handler")
    query = read(request, STATISTICS_QUERY)
    by, form = query["by"] or "department", query["format"] or "json"
    now = datetime.now(timezone.utc)
    async with request.app[SESSIONS]() as session:
        hours = (await services(request, session)).policy.calendar.hours
        start, end, label = statistics.period(query["month"], *(day and day.isoformat() for day in (query["from"], query["to"])),
                                              hours.zone)
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


async def department_load(session: AsyncSession, now: datetime) -> list[dict[str, Any]]:
    """Every department's open and overdue cases for the dashboard, the cases not dispatched
    yet first (id None)."""
    counts = await open_cases_per_department(session, now)
    rows = [{"id": None, "name": None, "window": None}] if None in counts else []
    rows += [department_json(d) for d in await list_departments(session)]
    return [row | dict(zip(("open", "overdue"), counts.get(row["id"], (0, 0)))) for row in rows]


CALLER_CASES = 20


async def caller_cases(session: AsyncSession, number: str, user: User, masked: bool) -> dict[str, Any]:
    """The caller's cases (as `user` may see them) for their history and the operator's screen pop."""
    now = datetime.now(timezone.utc)
    page, _ = await list_cases(session, CaseFilter(caller=number), viewer(user), now, None, CALLER_CASES)
    outside = user.role in OUTSIDE_THE_CENTRE
    return {"cases": [case_json(view, now, masked=masked, outside=outside) for view in page]}
