"""Calls: the list, one call, and the WebSocket of live updates."""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web

from hotline.db.calls import CallFilter, call_json, get_call, list_calls
from hotline.errors import InvalidInput
from hotline.web.auth import SOCKETS, USER, require_role
from hotline.web.context import HUB, SESSIONS, query_int, query_time

DISPOSITIONS = ("answered", "abandoned", "missed", "failed", "busy", "lost")
CALL_READERS = ("operator", "supervisor")

routes = web.RouteTableDef()

_CALL_SCHEMA = {
    "type": "object",
    "properties": {
        name: {"type": kind}
        for name, kind in {
            "id": "integer", "pbx": "string", "linkedid": "string", "hotline": ["string", "null"],
            "caller_number": ["string", "null"], "caller_name": ["string", "null"],
            "status": "string", "disposition": ["string", "null"], "started_at": "string",
            "answered_at": ["string", "null"], "ended_at": ["string", "null"],
            "wait_seconds": ["number", "null"], "talk_seconds": ["number", "null"],
            "hangup_cause": ["integer", "null"], "hangup_cause_text": ["string", "null"],
            "queue": ["string", "null"], "agent": ["string", "null"],
            "recording": ["string", "null"], "survey_case": ["string", "null"],
        }.items()
    },
}
OPENAPI_PATHS = {
    "/api/v1/calls": {"get": {
        "summary": "Calls, newest first (operator, supervisor)",
        "parameters": [
            {"name": name, "in": "query", "schema": {"type": "string"}, "description": text}
            for name, text in [
                ("since", "ISO 8601; calls started at or after"),
                ("until", "ISO 8601; calls started before"),
                ("hotline", "12345 or 12319"),
                ("disposition", " | ".join(DISPOSITIONS)),
                ("caller", "caller number"),
                ("cursor", "next_cursor of the previous page"),
                ("limit", "1-500, default 50"),
            ]
        ],
        "responses": {"200": {"description": "A page of calls", "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"calls": {"type": "array", "items": _CALL_SCHEMA},
                           "next_cursor": {"type": ["string", "null"]}},
        }}}}},
    }},
    "/api/v1/calls/{call_id}": {"get": {
        "summary": "One call (operator, supervisor)",
        "parameters": [{"name": "call_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "The call", "content": {"application/json": {"schema": _CALL_SCHEMA}}},
                      "404": {"description": "No such call"}},
    }},
    "/api/v1/events": {"get": {
        "summary": "WebSocket: a snapshot of calls in progress, then every call update (operator, supervisor)",
        "description": "Messages: {type: snapshot, calls: [...]} then {type: call, call: {...}}. "
                       "Browsers may pass the token as ?access_token=.",
        "responses": {"101": {"description": "Switching to WebSocket"}},
    }},
}


@routes.get("/api/v1/calls")
async def calls_list(request: web.Request) -> web.Response:
    """Calls, newest first, filtered and paginated with an opaque cursor."""
    require_role(request, *CALL_READERS)
    disposition = request.query.get("disposition") or None
    if disposition and disposition not in DISPOSITIONS:
        raise InvalidInput(
            f"disposition: expected one of {', '.join(DISPOSITIONS)}, got {disposition!r}",
            parameter="disposition",
        )
    filters = CallFilter(
        since=query_time(request, "since"),
        until=query_time(request, "until"),
        hotline=request.query.get("hotline") or None,
        disposition=disposition,
        caller=request.query.get("caller") or None,
    )
    limit = query_int(request, "limit", 50, 1, 500)
    async with request.app[SESSIONS]() as session:
        page, next_cursor = await list_calls(session, filters, limit, request.query.get("cursor"))
    return web.json_response(
        {"calls": [call_json(call, call.id) for call in page], "next_cursor": next_cursor}
    )


@routes.get(r"/api/v1/calls/{call_id:\d+}")
async def calls_show(request: web.Request) -> web.Response:
    require_role(request, *CALL_READERS)
    async with request.app[SESSIONS]() as session:
        call = await get_call(session, int(request.match_info["call_id"]))
    return web.json_response(call_json(call, call.id))


async def _client_gone(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends until it closes."""
    async for message in ws:
        if message.type == WSMsgType.ERROR:
            return


@routes.get("/api/v1/events")
async def calls_stream(request: web.Request) -> web.WebSocketResponse:
    """A snapshot of the calls in progress, then every call update as it happens."""
    require_role(request, *CALL_READERS)
    hub = request.app[HUB]
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    with hub.subscribe() as updates, request.app[SOCKETS].hold(ws, request[USER]):
        await ws.send_json({"type": "snapshot", "calls": list(hub.active.values())})
        gone = asyncio.ensure_future(_client_gone(ws))
        try:
            while True:
                update = asyncio.ensure_future(updates.get())
                await asyncio.wait({gone, update}, return_when=asyncio.FIRST_COMPLETED)
                if not update.done():
                    update.cancel()
                    break
                call = update.result()
                if call is None:
                    await ws.close(message=b"too far behind: reconnect for a fresh snapshot")
                    break
                await ws.send_json({"type": "call", "call": call})
        finally:
            gone.cancel()
    return ws
