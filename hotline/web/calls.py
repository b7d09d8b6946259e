"""Calls: the list, one call, and the WebSocket of live updates."""

from __future__ import annotations

import asyncio

from typing import Any, Callable

from aiohttp import WSMsgType, web

from hotline.calls import mask_number
from hotline.db.calls import CallFilter, call_json, get_call, list_calls
from hotline.errors import UpgradeRequired
from hotline.db.tables import User
from hotline.web.auth import CONSOLE, SOCKETS, USER, numbers_masked, require_role
from hotline.web.context import CONFIG, HUB, SESSIONS
from hotline.web.openapi import CALL_ID, CURSOR, Choice, Integer, Text, Time, read, specs

# Features add to a caller's history (cases: the caller's cases), wired by the composition root:
# each is `async (session, number, user, masked) -> {key: [...]}`, numbers masked when `masked`.
CALLER_HISTORY = web.AppKey("caller_history", list)
EARLIER_CALLS = 20
CALLER_NUMBER = Text(name="number", location="path", max_length=64, description="the caller's number, as the PBX gave it")

DISPOSITIONS = ("answered", "abandoned", "missed", "failed", "busy", "lost")
CALL_READERS = ("operator", "supervisor")

routes = web.RouteTableDef()


def as_seen_by(request: web.Request) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What the user may see of a call's JSON: the caller's number masked for the roles of
    `[centre] masked_roles` (personal data they do not need for their work)."""
    if not numbers_masked(request):
        return lambda call: call
    return lambda call: call | {"caller_number": mask_number(call.get("caller_number"))}

CALL_FILTERS = (
    Time(name="since", description="calls started at or after this time"),
    Time(name="until", description="calls started before this time"),
    Text(name="hotline", description="12345 or 12319 (empty: every hotline)", example="12345"),
    Choice(name="disposition", values=DISPOSITIONS, description="how the call ended"),
    Text(name="caller", description="the caller's number, exactly (empty: every caller)", example="13800000000"),
    Text(name="agent", description="the agent who took the call, exactly (empty: every agent)", example="PJSIP/8001"),
    CURSOR,
    Integer(name="limit", low=1, high=500, default=50, description="calls per page"),
)

_NULLABLE = {"string": ["string", "null"], "number": ["number", "null"], "integer": ["integer", "null"]}
_CALL_SCHEMA = {
    "type": "object",
    "required": ["id", "pbx", "linkedid", "status", "started_at", "recorded"],
    "properties": {
        "id": {"type": "integer"}, "pbx": {"type": "string"}, "linkedid": {"type": "string"},
        "status": {"type": "string", "enum": ["ringing", "queued", "answered", "ended"]},
        "started_at": {"type": "string", "format": "date-time"},
        "recorded": {"type": "boolean",
                     "description": "the PBX recorded the call; supervisors fetch it at /api/v1/calls/{id}/recording"},
        "disposition": {"type": ["string", "null"], "enum": [*DISPOSITIONS, None]},
        "rating": {"type": ["integer", "null"], "enum": [1, 2, 3, None],
                   "description": "the caller's key after the operator hung up: 1 satisfied, 2 basically "
                                  "satisfied, 3 dissatisfied; null: not rated (or still in progress)"},
        "rated_at": {"type": ["string", "null"], "format": "date-time"},
    } | {
        name: {"type": _NULLABLE[kind]}
        for name, kind in {
            "hotline": "string", "caller_number": "string", "caller_name": "string",
            "answered_at": "string", "ended_at": "string", "wait_seconds": "number",
            "talk_seconds": "number", "hangup_cause": "integer", "hangup_cause_text": "string",
            "queue": "string", "agent": "string", "survey_case": "string",
        }.items()
    },
}
OPENAPI_PATHS = {
    "/api/v1/calls": {"get": {
        "summary": "Calls, newest first (operator, supervisor)",
        "parameters": specs(CALL_FILTERS),
        "responses": {"200": {"description": "A page of calls", "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["calls", "next_cursor"],
            "properties": {"calls": {"type": "array", "items": _CALL_SCHEMA},
                           "next_cursor": {"type": ["string", "null"]}},
        }}}}},
    }},
    "/api/v1/calls/{call_id}": {"get": {
        "summary": "One call (operator, supervisor)",
        "parameters": specs([CALL_ID]),
        "responses": {"200": {"description": "The call", "content": {"application/json": {"schema": _CALL_SCHEMA}}},
                      "404": {"description": "No such call"}},
    }},
    "/api/v1/callers/{number}/history": {"get": {
        "summary": "A caller's earlier calls (newest first) and cases: what the operator sees when they answer (operator, supervisor)",
        "parameters": specs([CALLER_NUMBER]),
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
                       "Browsers may pass the token as ?access_token=. A request that is no "
                       "WebSocket handshake gets 426 Upgrade Required.",
        "responses": {"101": {"description": "Switching to WebSocket"},
                      "426": {"description": "Not a WebSocket handshake"}},
    }},
}


@routes.get("/api/v1/calls")
async def calls_list(request: web.Request) -> web.Response:
    """Calls, newest first, filtered and paginated with a cursor."""
    require_role(request, *CALL_READERS)
    query = read(request, CALL_FILTERS)
    filters = CallFilter(
        since=query["since"],
        until=query["until"],
        hotline=query["hotline"] or None,
        disposition=query["disposition"],
        caller=query["caller"] or None,
        agent=query["agent"] or None,
    )
    async with request.app[SESSIONS]() as session:
        page, next_cursor = await list_calls(session, filters, query["limit"], query["cursor"])
    shown = as_seen_by(request)
    return web.json_response(
        {"calls": [shown(call_json(call, call.id)) for call in page], "next_cursor": next_cursor}
    )


@routes.get("/api/v1/calls/{call_id}")
async def calls_show(request: web.Request) -> web.Response:
    require_role(request, *CALL_READERS)
    call_id = CALL_ID.read(request)
    async with request.app[SESSIONS]() as session:
        call = await get_call(session, call_id)
    return web.json_response(as_seen_by(request)(call_json(call, call.id)))


async def caller_history(request: web.Request, number: str, user: User, skip_call: int | None = None) -> dict:
    """The caller's earlier calls and whatever the features add (their cases), found by the
    whole number and shown as the user may see them."""
    masked, shown = numbers_masked(request), as_seen_by(request)
    async with request.app[SESSIONS]() as session:
        calls, _ = await list_calls(session, CallFilter(caller=number), EARLIER_CALLS + 1)
        history = {"number": mask_number(number) if masked else number,
                   "calls": [shown(call_json(c, c.id)) for c in calls if c.id != skip_call][:EARLIER_CALLS]}
        for source in request.app.get(CALLER_HISTORY, []):
            history |= await source(session, number, user, masked)
    return history


@routes.get("/api/v1/callers/{number}/history")
async def callers_history(request: web.Request) -> web.Response:
    user = require_role(request, *CALL_READERS)
    return web.json_response(await caller_history(request, CALLER_NUMBER.read(request), user))


async def screen_pop(request: web.Request, call: dict, user: User) -> dict:
    """What an operator needs on screen as they take `call`."""
    history = (await caller_history(request, call["caller_number"], user, call["id"])
               if call["caller_number"] else {"number": None, "calls": []})
    call = as_seen_by(request)(call)
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
    if not ws.can_prepare(request):
        # RFC 9110 15.5.22: 426 names the protocol to switch to in Upgrade.
        raise UpgradeRequired("this is a WebSocket: send a WebSocket handshake (Upgrade: websocket)")
    await ws.prepare(request)
    shown = as_seen_by(request)
    with hub.subscribe() as updates, request.app[SOCKETS].hold(ws, request[USER], request.get(CONSOLE)):
        await ws.send_json({"type": "snapshot", "calls": [shown(call) for call in hub.active.values()]})
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
                await ws.send_json({"type": "call", "call": shown(call)})
                if call.get("ended_at"):
                    popped.discard(call["id"])
                elif call.get("agent") in mine and call.get("answered_at") and call["id"] not in popped:
                    popped.add(call["id"])
                    await ws.send_json(await screen_pop(request, call, user))
        finally:
            gone.cancel()
    return ws
