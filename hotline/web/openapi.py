"""The OpenAPI document, assembled from the `OPENAPI_PATHS` each route module declares, and the
parameters that both validate a request and describe it there.

A route declares its parameters once (`Integer`, `Text`, `Choice`, `Boolean`, `Time`, `Date`); the handler reads
them with `read` and the document lists `spec(...)` of the same objects, so what the document
admits is exactly what the server accepts: schemathesis checks both ways in CI (.ci/run).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from types import ModuleType
from typing import Any, Iterable, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from hotline import __version__
from hotline.db.calls import CURSOR_PATTERN
from hotline.db.tables import MAX_ID
from hotline.errors import InvalidInput, RequestTimeout, UnsupportedMediaType
from hotline.web.context import CONFIG

OPENAPI = web.AppKey("openapi", dict)

# Text parameters are compared with PostgreSQL text, which cannot hold NUL.
NO_NUL = "^[^\\x00]*$"
# Text that must say something: not only white space (what str.strip() removes).
# The white space str.strip() removes, spelled out for patterns: ECMA-262's \s, which readers of
# the document (schemathesis among them) go by, lacks the separators \x1c-\x1f that Python's has.
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"^[^\\x00]*[^{SPACE}\\x00][^\\x00]*$"
_PATTERNS = {NO_NUL: "text without NUL", NOT_BLANK: "text, not blank, without NUL"}


def text(max_length: int, *, blank: bool = True, null: bool = False, **more: Any) -> dict[str, Any]:
    """The JSON Schema of a text property of at most `max_length` characters."""
    return {"type": ["string", "null"] if null else "string", "maxLength": max_length,
            "pattern": NO_NUL if blank else NOT_BLANK} | more


@dataclass(frozen=True, kw_only=True)
class Parameter:
    """One query or path parameter: its schema and its parser in one place."""

    name: str
    description: str
    required: bool = False
    location: str = "query"

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, raw: str) -> Any:
        """The value of `raw`, or InvalidInput (the same refusal the schema states)."""
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """This parameter as an OpenAPI Parameter Object."""
        return {"name": self.name, "in": self.location, "required": self.required or self.location == "path",
                "description": self.description, "schema": self.schema()}

    def read(self, request: web.Request) -> Any:
        """The parsed value from `request`, None when an optional parameter is absent."""
        raw = request.match_info[self.name] if self.location == "path" else request.query.get(self.name)
        if raw is None:
            if self.required:
                raise InvalidInput(f"{self.name}: required", parameter=self.name)
            return None
        return self.parse(raw)

    def invalid(self, expected: str, raw: str) -> InvalidInput:
        shown = raw if len(raw) <= 80 else raw[:80] + "..."
        return InvalidInput(f"{self.name}: expected {expected}, got {shown!r}", parameter=self.name)


@dataclass(frozen=True, kw_only=True)
class Integer(Parameter):
    low: int
    high: int
    default: int | None = None

    def schema(self) -> dict[str, Any]:
        schema = {"type": "integer", "minimum": self.low, "maximum": self.high}
        return schema | ({"default": self.default} if self.default is not None else {})

    def parse(self, raw: str) -> int:
        # ASCII only: int() would also take "٣", " 7 " and "1_000".
        if not re.fullmatch(r"-?[0-9]{1,20}", raw) or not self.low <= int(raw) <= self.high:
            raise self.invalid(f"a whole number from {self.low} to {self.high}", raw)
        return int(raw)

    def read(self, request: web.Request) -> int | None:
        value = super().read(request)
        return self.default if value is None else value


@dataclass(frozen=True, kw_only=True)
class Text(Parameter):
    pattern: str = NO_NUL
    max_length: int = 200
    example: str | None = None

    def schema(self) -> dict[str, Any]:
        schema = {"type": "string", "pattern": self.pattern, "maxLength": self.max_length}
        return schema | ({"examples": [self.example]} if self.example else {})

    def parse(self, raw: str) -> str:
        if len(raw) > self.max_length or not re.fullmatch(self.pattern, raw):
            expected = _PATTERNS.get(self.pattern, f"text matching {self.pattern}")
            raise self.invalid(f"{expected} of at most {self.max_length} characters", raw)
        return raw


@dataclass(frozen=True, kw_only=True)
class Choice(Parameter):
    values: tuple[str, ...]

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.values)}

    def parse(self, raw: str) -> str:
        if raw not in self.values:
            raise self.invalid(f"one of {', '.join(self.values)}", raw)
        return raw


# RFC 3339 5.6 date-time (what JSON Schema's `date-time` format means), with the fields captured.
# Refused besides: year 0000 (no such year in Python or PostgreSQL) and the first and last days of
# years 1 and 9999, where an offset would put the time outside the years 1-9999 once in UTC.
_DATE_TIME = (
    "^(?!0000-|0001-01-01|9999-12-31)([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    "(?:\\.([0-9]+))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))$"
)


@dataclass(frozen=True, kw_only=True)
class Time(Parameter):
    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time", "pattern": _DATE_TIME,
                "examples": ["2026-11-27T08:00:00+08:00"]}

    def parse(self, raw: str) -> datetime:
        """An RFC 3339 time in UTC."""
        match = re.fullmatch(_DATE_TIME, raw)
        try:
            if match is None:
                raise ValueError(raw)
            year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
            fraction, sign, offset_hours, offset_minutes = match.groups()[6:]
            if not (offset_hours is None or (int(offset_hours) < 24 and int(offset_minutes) < 60)):
                raise ValueError(raw)
            # A leap second (:60, RFC 3339 5.7) is taken as the last instant of the minute before.
            leap = second == 60
            value = datetime(
                year, month, day, hour, minute, 59 if leap else second,
                999999 if leap else int((fraction or "0")[:6].ljust(6, "0")),
                tzinfo=timezone(timedelta(hours=int(offset_hours or 0), minutes=int(offset_minutes or 0))
                                * (-1 if sign == "-" else 1)),
            )
        except ValueError:
            raise self.invalid("an RFC 3339 time such as 2026-11-27T08:00:00+08:00", raw) from None
        return value.astimezone(timezone.utc)


@dataclass(frozen=True, kw_only=True)
class Boolean(Parameter):
    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": ["true", "false"]}

    def parse(self, raw: str) -> bool:
        if raw not in ("true", "false"):
            raise self.invalid("true or false", raw)
        return raw == "true"


# A calendar day (RFC 3339 full-date); as for times, not the first and last days of years 1 and
# 9999, whose local midnight lies outside the years 1-9999 once in UTC or a day later.
_DATE = "^(?!0000-|0001-01-01|9999-12-31)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


@dataclass(frozen=True, kw_only=True)
class Date(Parameter):
    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date", "pattern": _DATE, "examples": ["2026-12-01"]}

    def parse(self, raw: str) -> date:
        try:
            if not re.fullmatch(_DATE, raw):
                raise ValueError(raw)
            return date.fromisoformat(raw)
        except ValueError:
            raise self.invalid("a day such as 2026-12-01", raw) from None


# JSON Schema's names of the JSON types, as json.loads gives them (bool is no integer there).
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "null": (type(None),),
    "array": (list,), "object": (dict,),
}


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return next(name for name, kinds in _JSON_TYPES.items() if isinstance(value, kinds))


def check(schema: dict[str, Any], value: Any, where: str) -> None:
    """Refuse `value` (at JSON path `where`) unless it is valid under `schema`.

    The subset of JSON Schema 2020-12 the request bodies use, read exactly as the standard does, so
    a body's schema is both its validation and its documentation.
    """
    def refuse(expected: str) -> InvalidInput:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:80] + "..."
        return InvalidInput(f"{where}: expected {expected}, got {shown}", field=where)

    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        kind = _type_of(value)
        # 1.0 is an integer to JSON Schema (2020-12 validation 6.1.1).
        if not (kind in kinds or (kind == "number" and "integer" in kinds and float(value).is_integer())
                or (kind == "integer" and "number" in kinds)):
            raise refuse(" or ".join(kinds))
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        raise refuse("a finite number")
    if "const" in schema and value != schema["const"]:
        raise refuse(repr(schema["const"]))
    if "enum" in schema and value not in schema["enum"]:
        raise refuse("one of " + ", ".join(map(str, schema["enum"])))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise refuse(f"at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise refuse(f"at most {schema['maximum']}")
    if isinstance(value, str):
        if len(value) > schema.get("maxLength", len(value)):
            raise refuse(f"text of at most {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise refuse(_PATTERNS.get(schema["pattern"]) or schema.get("description")
                         or f"text matching {schema['pattern']}")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            raise refuse(f"at most {schema['maxItems']} items")
        for index, item in enumerate(value):
            check(schema.get("items", {}), item, f"{where}[{index}]")
    if isinstance(value, dict):
        prefix = f"{where}." if where else ""
        for name in schema.get("required", ()):
            if name not in value:
                raise InvalidInput(f"{prefix}{name}: required", field=prefix + name)
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name not in properties and schema.get("additionalProperties", True) is False:
                raise InvalidInput(f"{prefix}{name}: unknown; one of {', '.join(properties)}", field=prefix + name)
            check(properties.get(name, {}), item, prefix + name)
        for rule in schema.get("allOf", ()):
            condition = rule["if"]
            try:
                check(condition, value, where)
            except InvalidInput:
                continue
            check(rule["then"], value, where)


def _whole(schema: dict[str, Any], value: Any) -> Any:
    """`value` with the integral numbers JSON Schema calls integers (1.0) as Python ints."""
    if isinstance(value, float) and "integer" in ([schema.get("type")] if isinstance(schema.get("type"), str)
                                                  else schema.get("type", [])):
        return int(value)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {name: _whole(properties.get(name, {}), item) for name, item in value.items()}
    return value


Read = TypeVar("Read")


async def within_body_timeout(request: web.Request, reading: Awaitable[Read]) -> Read:
    """What `reading` (of the request's body) gives, or a 408 that closes the connection once
    `[web] body_timeout` has passed: aiohttp waits for a body as long as its client sends
    nothing, so a client that starts a body and stalls would otherwise hold its connection."""
    limit = request.app[CONFIG].web_body_timeout
    try:
        async with asyncio.timeout(limit):
            return await reading
    except TimeoutError:
        # What is left of the body is given up: aiohttp would otherwise drain it for its
        # lingering time (body_timeout again) before closing the connection after the 408.
        request.content.feed_eof()
        raise RequestTimeout(f"body: not received within {limit:g} s", field="body") from None


@dataclass(frozen=True)
class Body:
    """A JSON request body, declared once as the JSON Schema that validates it and documents it."""

    schema: dict[str, Any]
    # Array properties whose items the route checks itself (to keep the good ones of a batch):
    # only the array is checked here.
    lenient: tuple[str, ...] = ()
    # Forms (RFC 1866 urlencoded, RFC 7578 multipart) read into the same object of strings.
    media_types: tuple[str, ...] = ("application/json",)

    @property
    def required(self) -> bool:
        # With no required property an empty body is the empty object, so a client may omit it.
        return bool(self.schema.get("required"))

    def spec(self) -> dict[str, Any]:
        """This body as an OpenAPI Request Body Object."""
        return {"required": self.required, "content": {media: {"schema": self.schema} for media in self.media_types}}

    async def read(self, request: web.Request) -> dict[str, Any]:
        """The request's JSON object, valid under the schema; a 400 naming the field otherwise."""
        # A body over aiohttp's client_max_size is refused there with a 413 (BODY_RESPONSES).
        if self.media_types != ("application/json",):
            return self._checked(await self._form(request))
        raw = await within_body_timeout(request, request.read())
        if not raw.strip():
            body: Any = {}
        elif request.content_type != "application/json":
            raise UnsupportedMediaType(f"body: expected Content-Type application/json, got {request.content_type}",
                                       field="body")
        else:
            try:
                # JSON (RFC 8259) has no NaN or Infinity, which Python's parser would take.
                body = json.loads(raw, parse_constant=_no_constant)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                raise InvalidInput(f"body: not JSON ({exc})", field="body") from None
        if not isinstance(body, dict):
            raise InvalidInput("body: expected a JSON object", field="body")
        return self._checked(body)

    def _checked(self, body: dict[str, Any]) -> dict[str, Any]:
        lenient = {name: {key: value for key, value in self.schema["properties"][name].items() if key != "items"}
                   for name in self.lenient}
        check(self.schema | {"properties": self.schema["properties"] | lenient}, body, "")
        return _whole(self.schema, body)

    async def _form(self, request: web.Request) -> dict[str, Any]:
        if request.content_type not in self.media_types:
            raise UnsupportedMediaType(f"body: expected Content-Type {' or '.join(self.media_types)}, "
                                       f"got {request.content_type}", field="body")
        try:
            form = await within_body_timeout(request, request.post())
        except (ValueError, AssertionError, UnicodeDecodeError, HttpProcessingError) as exc:
            # aiohttp's multipart reader asserts what a boundary-less or truncated body breaks.
            raise InvalidInput(f"body: not a form ({exc or type(exc).__name__})", field="body") from None
        fields: dict[str, Any] = {}
        for name, value in form.items():
            if not isinstance(value, str):
                raise InvalidInput(f"{name}: expected text, not a file", field=name)
            fields.setdefault(name, value)
        return fields


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def specs(parameters: Iterable[Parameter]) -> list[dict[str, Any]]:
    """The OpenAPI Parameter Objects of `parameters`."""
    return [parameter.spec() for parameter in parameters]


def read(request: web.Request, parameters: Iterable[Parameter]) -> dict[str, Any]:
    """Every one of `parameters` read from `request`, by name; the first invalid one refused."""
    return {parameter.name: parameter.read(request) for parameter in parameters}


# A month (2026-12), but for the first and the last, for the same reason as _DATE.
MONTH = Text(name="month", pattern="^(?!0000-|0001-01|9999-12)[0-9]{4}-(0[1-9]|1[0-2])$", max_length=7,
             example="2026-12", description="a calendar month, e.g. 2026-12")
CURSOR = Text(name="cursor", pattern=CURSOR_PATTERN, max_length=29, description="next_cursor of the previous page")
CALL_ID = Integer(name="call_id", location="path", low=1, high=MAX_ID, description="the call's id")


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


COMMON_RESPONSES = {
    "400": _error("Invalid input"),
    "401": _error("Missing or unknown token"),
    "403": _error("The user's role may not do this"),
}
# What any route that reads a body may answer besides (aiohttp refuses a body over client_max_size).
BODY_RESPONSES = {
    "408": _error("The body did not arrive within [web] body_timeout; the connection is closed"),
    "413": _error("The body is larger than the server reads"),
    "415": _error("The body is not in the format documented"),
}


def document(modules: tuple[ModuleType, ...]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for the routes of `modules`."""
    paths: dict[str, Any] = {}
    for module in modules:
        for path, operations in getattr(module, "OPENAPI_PATHS", {}).items():
            for operation in operations.values():
                if not operation.get("security") == []:
                    operation.setdefault("responses", {}).update(COMMON_RESPONSES)
                if "requestBody" in operation:
                    for status, response in BODY_RESPONSES.items():
                        operation.setdefault("responses", {}).setdefault(status, response)
            paths.setdefault(path, {}).update(operations)
    return {
        "openapi": "3.1.0",
        "info": {"title": "hotline", "version": __version__,
                 "description": "Telephone side of the 12345/12319 government service hotlines."},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message", "details"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                                   "details": {"type": "object"}},
                },
            },
        },
    }


routes = web.RouteTableDef()


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])
