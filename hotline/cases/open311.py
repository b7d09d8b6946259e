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
(channel `web`) are listed. A location is optional: not every service is a place. `email` and
`media_url` are accepted and not kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

from aiohttp import web

from hotline.cases import workflow
from hotline.cases.api import services, viewer
from hotline.cases.calendar import SHANGHAI
from hotline.cases.store import CaseFilter, CaseView, file_case, list_cases, list_departments, view_case
from hotline.db.tables import User
from hotline.db.users import user_for_token
from hotline.errors import Forbidden, HotlineError, InvalidInput, NotFound
from hotline.web.context import SESSIONS

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
    "type": "array", "items": {"type": "object", "properties": {"code": {"type": "integer"}, "description": _S}}}}}}
_KEY = {"name": "api_key", "in": "query", "required": True, "schema": _S,
        "description": "the token of a user of role open311"}
OPENAPI_PATHS = {
    "/open311/v2/services.json": {"get": {
        "summary": "Open311: the services (case types) requests can be filed for", "security": [],
        "responses": {"200": {"description": "Services", "content": {"application/json": {"schema": {
            "type": "array", "items": {"type": "object"}}}}}},
    }},
    "/open311/v2/services/{service_code}.json": {"get": {
        "summary": "Open311: a service definition (no extra attributes)", "security": [],
        "parameters": [{"name": "service_code", "in": "path", "required": True, "schema": _S}],
        "responses": {"200": {"description": "The definition"}, "404": _ERRORS},
    }},
    "/open311/v2/requests.json": {
        "post": {
            "summary": "Open311: file a request (a web case)", "security": [],
            "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                "type": "object", "required": ["api_key", "service_code", "description"],
                "properties": {name: _S for name in (
                    "api_key", "service_code", "description", "address_string", "lat", "long", "first_name",
                    "last_name", "phone", "email", "media_url")}}}}},
            "responses": {"200": {"description": "[{service_request_id, service_notice, account_id}]"},
                          "400": _ERRORS, "403": _ERRORS},
        },
        "get": {
            "summary": "Open311: requests filed through Open311", "security": [],
            "parameters": [_KEY] + [{"name": name, "in": "query", "schema": _S, "description": text} for name, text in (
                ("service_request_id", "comma-separated ids"), ("service_code", "comma-separated codes"),
                ("start_date", "ISO 8601, requested at or after"), ("end_date", "ISO 8601, requested at or before"),
                ("status", "open, closed or both comma-separated"))],
            "responses": {"200": {"description": "Requests", "content": {"application/json": {"schema": {
                "type": "array", "items": _REQUEST}}}}, "400": _ERRORS, "403": _ERRORS},
        },
    },
    "/open311/v2/requests/{service_request_id}.json": {"get": {
        "summary": "Open311: one request", "security": [],
        "parameters": [_KEY, {"name": "service_request_id", "in": "path", "required": True, "schema": _S}],
        "responses": {"200": {"description": "[request]", "content": {"application/json": {"schema": {
            "type": "array", "items": _REQUEST}}}}, "403": _ERRORS, "404": _ERRORS},
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


@routes.get("/open311/v2/services/{code}.json")
@_errors
async def services_show(request: web.Request) -> web.Response:
    code = request.match_info["code"]
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
    form = await request.post()
    user = await _user(request, form)
    code = form.get("service_code", "")
    if code not in SERVICES:
        raise InvalidInput(f"service_code: expected one of {', '.join(SERVICES)}, got {code!r}")
    address = form.get("address_string", "").strip()
    lat, long = form.get("lat", "").strip(), form.get("long", "").strip()
    if lat or long:
        try:
            latitude, longitude = float(lat), float(long)
        except ValueError:
            raise InvalidInput(f"lat, long: expected decimal degrees, got {lat!r}, {long!r}") from None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise InvalidInput("lat, long: outside the globe")
        address = address or f"{latitude:.6f},{longitude:.6f}"
    fields = {
        "type": code, "channel": "web", "description": form.get("description", ""),
        "address": address or None,
        "caller_number": form.get("phone", "").strip() or None,
        "caller_name": _name(form.get("first_name", "").strip(), form.get("last_name", "").strip()),
    }
    for key, value in fields.items():
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput(f"{key}: contains a NUL character")
    async with request.app[SESSIONS]() as session:
        view = await file_case(session, fields, viewer(user).actor, datetime.now(timezone.utc),
                               await services(request, session))
    return web.json_response([{"service_request_id": view.case.number,
                               "service_notice": f"due by {_local(view.case.due_at)}", "account_id": None}])


def _list_param(request: web.Request, name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in request.query.get(name, "").split(",") if part.strip())


def _date(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name}: expected ISO 8601 such as 2026-12-01T08:00:00+08:00, got {raw!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)


@routes.get("/open311/v2/requests.json")
@_errors
async def requests_list(request: web.Request) -> web.Response:
    user = await _user(request)
    statuses: tuple[str, ...] = ()
    for status in _list_param(request, "status"):
        if status not in ("open", "closed"):
            raise InvalidInput(f"status: expected open or closed, got {status!r}")
        statuses += workflow.OPEN_STATUSES if status == "open" else workflow.FINAL_STATUSES
    codes = _list_param(request, "service_code")
    unknown = [code for code in codes if code not in SERVICES]
    if unknown:
        raise InvalidInput(f"service_code: unknown {unknown[0]!r}")
    start, end = _date(request, "start_date"), _date(request, "end_date")
    numbers = _list_param(request, "service_request_id")
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


@routes.get("/open311/v2/requests/{number}.json")
@_errors
async def requests_show(request: web.Request) -> web.Response:
    user = await _user(request)
    number = request.match_info["number"]
    async with request.app[SESSIONS]() as session:
        view = await view_case(session, number, viewer(user))
        if view.case.channel != "web":
            raise NotFound(f"service_request_id {number!r} not found")
        departments = {d.id: d.name for d in await list_departments(session)}
    return web.json_response([request_json(view, departments)])
