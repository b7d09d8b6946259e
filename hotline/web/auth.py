"""Bearer-token authentication and role checks.

Every route under /api/ needs `Authorization: Bearer <token>` except health; each handler then
states which roles may use it with `require_role`. An admin may do anything.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from hotline.db.tables import User
from hotline.db.users import user_for_token
from hotline.errors import Forbidden, Unauthorized
from hotline.web.context import SESSIONS

USER = web.RequestKey("user", User)

# Routes anyone may reach: load balancers and Prometheus carry no tokens, and the UI page holds
# no data (it asks for a token and then calls the API with it).
PUBLIC_PATHS = frozenset({"/api/v1/health", "/metrics", "/", "/ui/app.js"})
# Open311 GeoReport v2 clients send `api_key` (in the query, or in a form body the middleware
# cannot read without consuming it): those handlers authenticate themselves.
OWN_AUTH_PREFIXES = ("/open311/",)


def require_role(request: web.Request, *roles: str) -> User:
    """The authenticated user, if their role is one of `roles` (admins always pass)."""
    user: User = request[USER]
    if user.role != "admin" and user.role not in roles:
        raise Forbidden(f"role {user.role!r} may not do this", required=list(roles))
    return user


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # Browsers cannot set headers on a WebSocket handshake; the UI passes the token in the query
    # instead, and the access log never writes query strings.
    if request.path == "/api/v1/events":
        return request.query.get("access_token")
    return None


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or request.path.startswith(OWN_AUTH_PREFIXES):
        return await handler(request)
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("send Authorization: Bearer <token> (create one: hotline user add NAME --role ROLE)")
    async with request.app[SESSIONS]() as session:
        user = await user_for_token(session, token)
    if user is None:
        raise Unauthorized("unknown or disabled token")
    request[USER] = user
    return await handler(request)
