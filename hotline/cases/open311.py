"""Open311 GeoReport v2 for the web channel (http://wiki.open311.org/GeoReport_v2/), so that an
existing Open311 client (a city portal, a mobile app) can file a request and follow it.

Mapped onto cases:

- A service is a case type (`services.json`); none has extra attributes (`metadata: false`).
- `POST requests.json` (form-encoded, as the specification writes it) files a `web` case as the
  `open311` user whose token is the `api_key`; `service_request_id` is the case number.
- A request is `open` while its case is received, registered, dispatched, in handling or in
  feedback, `closed` once it is resolved, rejected or closed; `status_notes` is the note of the
  step that closed it (the answer, the reason); `agency_responsible` the department's name;
  `expected_datetime` the case's deadline.
- Errors are the specification's array of `{code, description}`.

Where we differ from the specification, on purpose: reading requests needs the `api_key` too
(descriptions and addresses are citizens' personal data), and only requests filed through Open311
(channel `web`) are listed. A location is optional: not every service is a place. `email`,
`media_url`, `jurisdiction_id`, `address_id`, `device_id` and `account_id` are accepted and not kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Iterable

from aiohttp import web

from hotline.cases import workflow
from hotline.cases.api import services, viewer
from hotline.cases.calendar import SHANGHAI
from hotline.cases.store import CaseFilter, CaseView, file_case, list_cases, list_departments, view_case
from hotline.db.tables import User
from hotline.db.users import user_for_token
from hotline.errors import Forbidden, HotlineError, NotFound
from hotline.web.context import SESSIONS
from hotline.web.openapi import SPACE, Body, Text, Time, read, specs, text

ROLES = ("open311", "admin")
SERVICES: dict[str, tuple[str, str, str]] = {
    # service_code: (service_name, description, group)
    "complaint": ("投诉", "Complaint about a public service or its staff (投诉)", "12345"),
    "inquiry": ("咨询", "A question about a public service (咨询)", "12345"),
    "help": ("求助", "Request for help (求助)", "12345"),
    "suggestion": ("建议", "Suggestion (建议)", "12345"),
    "report": ("举报", "Report of a problem in public space or a violation (举报)", "12319"),
    "praise": ("表扬", "Praise for a service or its staff (表扬)", "12345"),
}
# The specification's defaults when no dates are given: the last 90 days, at most 1000 requests.
DEFAULT_DAYS = 90
MAX_REQUESTS = 1000

routes = web.RouteTableDef()

_S, _SN = {"type": "string"}, {"type": ["string", "null"]}
_REQUEST = {"type": "object", "properties": {
    name: _SN for name in ("service_request_id", "status", "status_notes", "service_name", "service_code",
                           "description", "agency_responsible", "service_notice", "requested_datetime",
                           "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                           "media_url")
} | {"lat": {"type": ["number", "null"]}, "long": {"type": ["number", "null"]}}}
_ERRORS = {"description": "Errors: [{code, description}]", "content": {"application/json": {"schema": {
    "type": "array", "items": {"type": "object", "required": ["code", "description"],
                               "properties": {"code": {"type": "integer"}, "description": _S}}}}}}
# Every refusal is the specification's array, but for what the server refuses before any route
# reads the request (a request line over 8 KiB, a body over client_max_size): its error object.
_EARLY = {"description": "Errors: [{code, description}], or the server's error object for a request refused "
                         "before it reached Open311", "content": {"application/json": {"schema": {"anyOf": [
                             _ERRORS["content"]["application/json"]["schema"],
                             {"$ref": "#/components/schemas/Error"}]}}}}
_REFUSALS = {"400": _EARLY, "403": _ERRORS, "404": _ERRORS, "413": _EARLY, "415": _ERRORS}
_KEY = {"name": "api_key", "in": "query", "required": True, "schema": _S,
        "description": "the token of a user of role open311 (a missing or unknown one is a 403)"}
SERVICE_CODE = Text(name="service_code", location="path", max_length=200, description="a service_code")
REQUEST_ID = Text(name="service_request_id", location="path", max_length=200, description="the case number")


def _listing(values: Iterable[str]) -> str:
    # A comma-separated list of `values`, blanks around and between items ignored (_list_param).
    item = f"[{SPACE}]*(?:{'|'.join(values)})?[{SPACE}]*"
    return f"^{item}(?:,{item})*$"


# Short enough that any request of them stays within the server's 8 KiB request line, even with
# every character percent-encoded UTF-8 (12 bytes at most).
REQUEST_FILTERS = (
    Text(name="service_request_id", max_length=400, description="comma-separated case numbers"),
    Text(name="service_code", pattern=_listing(SERVICES), max_length=100,
         description="comma-separated service codes"),
    Time(name="start_date", description="requested at or after (W3C date-time, with its zone)"),
    Time(name="end_date", description="requested at or before"),
    Text(name="status", pattern=_listing(("open", "closed")), max_length=30,
         description="open, closed or both comma-separated"),
)
# Decimal degrees as the specification's examples write them, within the globe; a location is
# both lat and long, or neither (GeoReport v2: "lat & long both need to be sent").
_LAT = f"^[{SPACE}]*-?(?:90(?:\\.0+)?|[1-8]?[0-9](?:\\.[0-9]+)?)[{SPACE}]*$"
_LONG = f"^[{SPACE}]*-?(?:180(?:\\.0+)?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\\.[0-9]+)?)[{SPACE}]*$"
NEW_REQUEST = Body({
    "type": "object", "required": ["service_code", "description"],
    "properties": {
        "api_key": {**_S, "description": "the token of a user of role open311, here or in the query"},
        "service_code": {"type": "string", "enum": list(SERVICES)},
        "description": text(workflow.TEXT_LIMIT, blank=False),
        "address_string": text(workflow.TEXT_LIMIT),
        "lat": {"type": "string", "pattern": _LAT, "description": "decimal degrees from -90 to 90"},
        "long": {"type": "string", "pattern": _LONG, "description": "decimal degrees from -180 to 180"},
        # The case keeps "last first" (or "first last") as its caller's name, at most 200 characters.
        "first_name": text(99), "last_name": text(99),
        "phone": text(64),
    } | {name: {**_S, "description": "accepted, not kept"} for name in (
        "email", "media_url", "jurisdiction_id", "address_id", "device_id", "account_id")},
    # The specification's fields are all there is: `attribute[...]` would answer a service's
    # metadata, and no service has any.
    "additionalProperties": False,
    "allOf": [{"if": {"required": ["lat"]}, "then": {"required": ["long"]}},
              {"if": {"required": ["long"]}, "then": {"required": ["lat"]}}],
}, media_types=("application/x-www-form-urlencoded", "multipart/form-data"))

OPENAPI_PATHS = {
    "/open311/v2/services.json": {"get": {
        "summary": "Open311: the services (case types) requests can be filed for", "security": [],
        "responses": {"200": {"description": "Services", "content": {"application/json": {"schema": {
            "type": "array", "items": {"type": "object", "properties": {
                "service_code": _S, "service_name": _S, "description": _S, "metadata": {"type": "boolean"},
                "type": _S, "keywords": _S, "group": _S}}}}}}},
    }},
    "/open311/v2/services/{service_code}.json": {"get": {
        "summary": "Open311: a service definition (no extra attributes)", "security": [],
        "parameters": specs([SERVICE_CODE]),
        "responses": {"200": {"description": "The definition", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"service_code": _S, "attributes": {"type": "array", "maxItems": 0}}}}}},
            **_REFUSALS},
    }},
    "/open311/v2/requests.json": {
        "post": {
            "summary": "Open311: file a request (a web case)", "security": [],
            "requestBody": NEW_REQUEST.spec(),
            "responses": {"200": {"description": "The request filed", "content": {"application/json": {"schema": {
                "type": "array", "items": {"type": "object", "properties": {
                    "service_request_id": _S, "service_notice": _SN, "account_id": _SN}}}}}}, **_REFUSALS},
        },
        "get": {
            "summary": "Open311: requests filed through Open311", "security": [],
            "parameters": [_KEY, *specs(REQUEST_FILTERS)],
            "responses": {"200": {"description": "Requests", "content": {"application/json": {"schema": {
                "type": "array", "items": _REQUEST}}}}, **_REFUSALS},
        },
    },
    "/open311/v2/requests/{service_request_id}.json": {"get": {
        "summary": "Open311: one request", "security": [],
        "parameters": [_KEY, *specs([REQUEST_ID])],
        "responses": {"200": {"description": "[request]", "content": {"application/json": {"schema": {
            "type": "array", "items": _REQUEST}}}}, **_REFUSALS},
    }},
}


def _errors(handler: Callable[[web.Request], Awaitable[web.Response]]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Render our errors as GeoReport v2's array of {code, description}."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except HotlineError as error:
            return web.json_response([{"code": error.status_code, "description": error.message}],
                                     status=error.status_code)

    wrapped.__doc__ = handler.__doc__
    return wrapped


async def _user(request: web.Request, form: Any = None) -> User:
    key = request.query.get("api_key") or (form.get("api_key") if form is not None else None)
    if not key:
        raise Forbidden("api_key: required (the token of a user of role open311)")
    async with request.app[SESSIONS]() as session:
        user = await user_for_token(session, key)
    if user is None or user.role not in ROLES:
        raise Forbidden("api_key: unknown, disabled, or not an open311 user")
    return user


def _local(value: datetime | None) -> str | None:
    # GeoReport v2 asks for ISO 8601 with the zone; the centre's local time is what people read.
    return value.astimezone(SHANGHAI).isoformat() if value is not None else None


def request_json(view: CaseView, departments: dict[str, str]) -> dict[str, Any]:
    case = view.case
    closing = view.history[-1] if case.status in workflow.FINAL_STATUSES and view.history else None
    return {
        "service_request_id": case.number,
        "status": "open" if case.is_open else "closed",
        "status_notes": closing.note or None if closing else None,
        "service_name": SERVICES.get(case.type, (case.type,))[0],
        "service_code": case.type,
        "description": case.description,
        "agency_responsible": departments.get(case.department or "", None),
        "service_notice": None,
        "requested_datetime": _local(case.filed_at),
        "updated_datetime": _local(view.history[-1].at if view.history else case.filed_at),
        "expected_datetime": _local(case.due_at),
        "address": case.address, "address_id": None, "zipcode": None, "lat": None, "long": None,
        "media_url": None,
    }


@routes.get("/open311/v2/services.json")
@_errors
async def services_list(request: web.Request) -> web.Response:
    return web.json_response([
        {"service_code": code, "service_name": name, "description": text, "metadata": False,
         "type": "realtime", "keywords": code, "group": group}
        for code, (name, text, group) in SERVICES.items()
    ])


@routes.get("/open311/v2/services/{service_code}.json")
@_errors
async def services_show(request: web.Request) -> web.Response:
    code = SERVICE_CODE.read(request)
    if code not in SERVICES:
        raise NotFound(f"service_code {code!r} not found")
    return web.json_response({"service_code": code, "attributes": []})


def _name(first: str, last: str) -> str | None:
    if not first and not last:
        return None
    # Chinese names are written family name first, without a space.
    if not (first + last).isascii():
        return last + first
    return " ".join(part for part in (first, last) if part)


@routes.post("/open311/v2/requests.json")
@_errors
async def requests_create(request: web.Request) -> web.Response:
    """File a request: a `web` case of the service's type, as the api_key's open311 user."""
    form = await NEW_REQUEST.read(request)
    user = await _user(request, form)
    address = form.get("address_string", "").strip()
    if "lat" in form:
        address = address or f"{float(form['lat']):.6f},{float(form['long']):.6f}"
    fields = {
        "type": form["service_code"], "channel": "web", "description": form["description"],
        "address": address or None,
        "caller_number": form.get("phone", "").strip() or None,
        "caller_name": _name(form.get("first_name", "").strip(), form.get("last_name", "").strip()),
    }
    async with request.app[SESSIONS]() as session:
        view = await file_case(session, fields, viewer(user).actor, datetime.now(timezone.utc),
                               await services(request, session))
    return web.json_response([{"service_request_id": view.case.number,
                               "service_notice": f"due by {_local(view.case.due_at)}", "account_id": None}])


def _items(listed: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (listed or "").split(",") if part.strip())


@routes.get("/open311/v2/requests.json")
@_errors
async def requests_list(request: web.Request) -> web.Response:
    user = await _user(request)
    query = read(request, REQUEST_FILTERS)
    statuses: tuple[str, ...] = ()
    for status in _items(query["status"]):
        statuses += workflow.OPEN_STATUSES if status == "open" else workflow.FINAL_STATUSES
    codes = _items(query["service_code"])
    start, end = query["start_date"], query["end_date"]
    numbers = _items(query["service_request_id"])
    if start is None and not numbers:
        start = (end or datetime.now(timezone.utc)) - timedelta(days=DEFAULT_DAYS)
    now = datetime.now(timezone.utc)
    found: list[CaseView] = []
    async with request.app[SESSIONS]() as session:
        for code in codes or (None,):
            page, _ = await list_cases(
                session, CaseFilter(type=code, channel="web", numbers=numbers, statuses=statuses,
                                    filed_since=start, filed_until=end),
                viewer(user), now, await services(request, session), MAX_REQUESTS)
            found += page
        departments = {d.id: d.name for d in await list_departments(session)}
    found.sort(key=lambda view: view.case.filed_at, reverse=True)
    return web.json_response([request_json(view, departments) for view in found[:MAX_REQUESTS]])


@routes.get("/open311/v2/requests/{service_request_id}.json")
@_errors
async def requests_show(request: web.Request) -> web.Response:
    user = await _user(request)
    number = REQUEST_ID.read(request)
    async with request.app[SESSIONS]() as session:
        view = await view_case(session, number, viewer(user))
        if view.case.channel != "web":
            raise NotFound(f"service_request_id {number!r} not found")
        departments = {d.id: d.name for d in await list_departments(session)}
    return web.json_response([request_json(view, departments)])
