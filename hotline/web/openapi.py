"""The OpenAPI document, assembled from the `OPENAPI_PATHS` each route module declares."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from aiohttp import web

from hotline import __version__

OPENAPI = web.AppKey("openapi", dict)


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
