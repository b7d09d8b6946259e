"""The survey campaign's routes: served items in, the week's surveys and results out."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from hotline.errors import InvalidInput
from hotline.surveys import store
from hotline.surveys.served import FIELDS, parse_rows
from hotline.web.auth import require_role
from hotline.web.context import CONFIG, SESSIONS

SURVEY_MANAGERS = ("supervisor",)
BATCH_LIMIT = 10_000

routes = web.RouteTableDef()

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

OPENAPI_PATHS = {
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
