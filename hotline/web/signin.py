"""The console's sign-in: a password, a session cookie, its CSRF token, and sign-out.

The cookie is HttpOnly (page scripts cannot read it, so an injected script cannot send it
elsewhere), SameSite=Strict (the console is never the target of a link from another site that
must arrive signed in; Strict keeps the cookie off every cross-site request, RFC 6265bis 8.8),
Secure when the console is reached over TLS, and expires both in the browser (Max-Age) and on
the server (the session row's expiry). Wrong passwords are throttled per user name and per
client address; scrypt runs in a thread so the event loop keeps serving calls meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web

from hotline.db.users import end_console_session, open_console_session, user_named
from hotline.errors import InvalidInput, TooManyRequests, Unauthorized, Forbidden
from hotline.passwords import Throttle, verify_password
from hotline.web.auth import CONSOLE, SESSION_COOKIE, USER, same_origin
from hotline.web.context import CONFIG, SESSIONS
from hotline.web.openapi import within_body_timeout

# OWASP Authentication Cheat Sheet: lock out after a few failures for a while. Five wrong
# passwords for one name in 15 minutes, or twenty from one address (a shared office NAT has a
# shift of operators behind it), and that name or address waits.
USER_FAILURES, ADDRESS_FAILURES, FAILURE_WINDOW = 5, 20, 15 * 60.0
# Each scrypt takes 32 MiB; at most this many run at once.
_CONCURRENT_HASHES = 2


@dataclass
class SignInGuard:
    """The daemon's throttles on wrong passwords, and the bound on concurrent hashing."""

    users: Throttle = field(default_factory=lambda: Throttle(USER_FAILURES, FAILURE_WINDOW))
    addresses: Throttle = field(default_factory=lambda: Throttle(ADDRESS_FAILURES, FAILURE_WINDOW))
    hashing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(_CONCURRENT_HASHES))


GUARD = web.AppKey("sign_in_guard", SignInGuard)

routes = web.RouteTableDef()

_ME = {
    "type": "object",
    "required": ["name", "role", "csrf_token", "expires_at", "timezone"],
    "properties": {
        "name": {"type": "string"},
        "role": {"type": "string", "enum": ["operator", "supervisor", "handler", "admin"]},
        "csrf_token": {"type": ["string", "null"],
                       "description": "send as X-CSRF-Token with every POST, PUT, PATCH or DELETE made with the cookie"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "timezone": {"type": "string", "description": "the centre's time zone: show times in it"},
    },
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
OPENAPI_PATHS = {
    "/api/v1/sign-in": {"post": {
        "summary": "Sign in to the console with a user name and password: sets the session cookie",
        "security": [],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["name", "password"],
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[^\\x00]*$"},
                           "password": {"type": "string", "maxLength": 1024}},
        }}}},
        "responses": {
            "200": {"description": "Signed in; Set-Cookie: hotline_session", "content": {"application/json": {"schema": _ME}}},
            "400": {"description": "Not a JSON object with a name and a password", "content": _ERROR},
            "401": {"description": "Wrong name or password", "content": _ERROR},
            "403": {"description": "Sent from another site's page", "content": _ERROR},
            "429": {"description": "Too many wrong passwords for this name or address: see Retry-After",
                    "content": _ERROR},
        },
    }},
    "/api/v1/sign-out": {"post": {
        "summary": "End the console session: its cookie stops working at once (needs X-CSRF-Token)",
        "responses": {"204": {"description": "Signed out"},
                      "403": {"description": "Signed in with a bearer token, not a console session", "content": _ERROR}},
    }},
    "/api/v1/me": {"get": {
        "summary": "Who is signed in: name, role, the session's CSRF token, the centre's time zone (any role)",
        "responses": {"200": {"description": "The user", "content": {"application/json": {"schema": _ME}}}},
    }},
}


def me_json(request: web.Request) -> dict[str, Any]:
    """The signed-in user as the console needs it."""
    user, console = request[USER], request.get(CONSOLE)
    return {
        "name": user.name,
        "role": user.role,
        "csrf_token": console.csrf_token if console else None,
        "expires_at": console.expires_at.isoformat() if console else None,
        "timezone": request.app[CONFIG].centre_timezone,
    }


async def _credentials(request: web.Request) -> tuple[str, str]:
    try:
        body = json.loads(await within_body_timeout(request, request.read()))
    except (ValueError, RecursionError):
        raise InvalidInput("send a JSON object: {\"name\": ..., \"password\": ...}") from None
    if not (isinstance(body, dict) and isinstance(body.get("name"), str) and isinstance(body.get("password"), str)):
        raise InvalidInput("send a JSON object: {\"name\": ..., \"password\": ...}")
    name, password = body["name"], body["password"]
    if not name or len(name) > 100 or len(password) > 1024 or "\x00" in name:
        raise InvalidInput("a name of 1 to 100 characters and a password of at most 1024", parameter="name")
    return name, password


@routes.post("/api/v1/sign-in")
async def sign_in(request: web.Request) -> web.Response:
    """Check the password, open a console session and set its cookie."""
    if not same_origin(request):
        # Login CSRF: another site's page signing the browser in to an account of its choosing.
        raise Forbidden("sign in from the console's own page", reason="origin")
    name, password = await _credentials(request)
    guard, address = request.app[GUARD], request.remote or "-"
    now = time.monotonic()
    wait = max(guard.users.wait(name, now), guard.addresses.wait(address, now))
    if wait > 0:
        raise TooManyRequests("too many wrong passwords: try again later", retry_after=int(wait) + 1)
    async with request.app[SESSIONS]() as session:
        user = await user_named(session, name)
        async with guard.hashing:
            good = await asyncio.to_thread(verify_password, password, user.password_hash if user else None)
        if user is None or not good:
            now = time.monotonic()
            guard.users.failed(name, now)
            guard.addresses.failed(address, now)
            raise Unauthorized("wrong user name or password")
        guard.users.succeeded(name)
        config = request.app[CONFIG]
        lifetime = timedelta(hours=config.web_session_hours)
        token, console = await open_console_session(session, user, lifetime, request.remote)
    request[USER], request[CONSOLE] = user, console
    response = web.json_response(me_json(request))
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(lifetime.total_seconds()), path="/", httponly=True,
        samesite="Strict", secure=config.web_secure_cookie or request.secure,
    )
    return response


@routes.post("/api/v1/sign-out")
async def sign_out(request: web.Request) -> web.Response:
    """End this console session server-side and clear the cookie."""
    console = request.get(CONSOLE)
    if console is None:
        # A bearer token is a credential, not a session: only `hotline user revoke` ends it.
        raise Forbidden("a bearer token has no session to end: hotline user revoke stops a token", reason="bearer")
    async with request.app[SESSIONS]() as session:
        await end_console_session(session, console.id)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.Response:
    """The signed-in user, role, CSRF token and the centre's time zone."""
    return web.json_response(me_json(request))
