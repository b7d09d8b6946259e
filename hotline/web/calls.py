"""Calls: the list, one call, and the WebSocket of live updates."""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web

from hotline.db.calls import CallFilter, call_json, get_call, list_calls
from hotline.db.tables import User
from hotline.errors import InvalidInput
from hotline.web.auth import require_role
from hotline.web.context import CONFIG, HUB, SESSIONS, query_int, query_time

# Features add to a caller's history (cases: the caller's cases), wired by the composition root:
# each is `async (session, number, user) -> {key: [...]}`.
CALLER_HISTORY = web.AppKey("caller_history", list)
EARLIER_CALLS = 20

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
    "/api/v1/callers/{number}/history": {"get": {
        "summary": "A caller's earlier calls (newest first) and cases: what the operator sees when they answer (operator, supervisor)",
        "parameters": [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "The history", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"number": {"type": "string"},
                                             "calls": {"type": "array", "items": _CALL_SCHEMA},
                                             "cases": {"type": "array", "items": {"type": "object"}}}}}}}},
    }},
    "/api/v1/events": {"get": {
        "summary": "WebSocket: a snapshot of calls in progress, then every call update (operator, supervisor)",
        "description": "Messages: {type: snapshot, calls: [...]} then {type: call, call: {...}}; when a call "
                       "this user takes as a queue agent ([agents] in the configuration) is answered, "
                       "{type: screen-pop, call, caller: {number, name}, hotline, history: {calls, cases}}. "
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


async def caller_history(request: web.Request, number: str, user: User, skip_call: int | None = None) -> dict:
    """The caller's earlier calls and whatever the features add (their cases)."""
    async with request.app[SESSIONS]() as session:
        calls, _ = await list_calls(session, CallFilter(caller=number), EARLIER_CALLS + 1)
        history = {"number": number,
                   "calls": [call_json(c, c.id) for c in calls if c.id != skip_call][:EARLIER_CALLS]}
        for source in request.app.get(CALLER_HISTORY, []):
            history |= await source(session, number, user)
    return history


@routes.get("/api/v1/callers/{number}/history")
async def callers_history(request: web.Request) -> web.Response:
    user = require_role(request, *CALL_READERS)
    number = request.match_info["number"]
    if "\x00" in number or len(number) > 64:
        raise InvalidInput("number: not a phone number", parameter="number")
    return web.json_response(await caller_history(request, number, user))


async def screen_pop(request: web.Request, call: dict, user: User) -> dict:
    """What an operator needs on screen as they take `call`."""
    history = (await caller_history(request, call["caller_number"], user, call["id"])
               if call["caller_number"] else {"number": None, "calls": []})
    return {"type": "screen-pop", "call": call, "hotline": call["hotline"],
            "caller": {"number": call["caller_number"], "name": call["caller_name"]}, "history": history}


async def _client_gone(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends until it closes."""
    async for message in ws:
        if message.type == WSMsgType.ERROR:
            return


@routes.get("/api/v1/events")
async def calls_stream(request: web.Request) -> web.WebSocketResponse:
    """A snapshot of the calls in progress, then every call update as it happens."""
    user = require_role(request, *CALL_READERS)
    hub = request.app[HUB]
    mine = {agent for agent, name in request.app[CONFIG].agents.items() if name == user.name}
    popped: set[int] = set()
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    with hub.subscribe() as updates:
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
                if call.get("ended_at"):
                    popped.discard(call["id"])
                elif call.get("agent") in mine and call.get("answered_at") and call["id"] not in popped:
                    popped.add(call["id"])
                    await ws.send_json(await screen_pop(request, call, user))
        finally:
            gone.cancel()
    return ws
