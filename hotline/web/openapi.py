"""The OpenAPI document, assembled from the `OPENAPI_PATHS` each route module declares, and the
parameters that both validate a request and describe it there.

A route declares its parameters once (`Integer`, `Text`, `Choice`, `Time`); the handler reads
them with `read` and the document lists `spec(...)` of the same objects, so what the document
admits is exactly what the server accepts: schemathesis checks both ways in CI (.ci/run).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any, Iterable

from aiohttp import web

from hotline import __version__
from hotline.db.tables import MAX_ID
from hotline.errors import InvalidInput

OPENAPI = web.AppKey("openapi", dict)

# Text parameters are compared with PostgreSQL text, which cannot hold NUL.
NO_NUL = "^[^\\x00]*$"


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
            expected = "text without NUL" if self.pattern == NO_NUL else f"text matching {self.pattern}"
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


def specs(parameters: Iterable[Parameter]) -> list[dict[str, Any]]:
    """The OpenAPI Parameter Objects of `parameters`."""
    return [parameter.spec() for parameter in parameters]


def read(request: web.Request, parameters: Iterable[Parameter]) -> dict[str, Any]:
    """Every one of `parameters` read from `request`, by name; the first invalid one refused."""
    return {parameter.name: parameter.read(request) for parameter in parameters}


CALL_ID = Integer(name="call_id", location="path", low=1, high=MAX_ID, description="the call's id")


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


COMMON_RESPONSES = {
    "400": _error("Invalid input"),
    "401": _error("Missing or unknown token"),
    "403": _error("The user's role may not do this"),
}


def document(modules: tuple[ModuleType, ...]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for the routes of `modules`."""
    paths: dict[str, Any] = {}
    for module in modules:
        for path, operations in getattr(module, "OPENAPI_PATHS", {}).items():
            for operation in operations.values():
                if not operation.get("security") == []:
                    operation.setdefault("responses", {}).update(COMMON_RESPONSES)
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
