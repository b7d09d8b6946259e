"""Authentication (bearer tokens, and the console's session cookie) and role checks.

Every route under /api/ needs `Authorization: Bearer <token>` or the console's session cookie,
except health and sign-in; each handler then states which roles may use it with `require_role`.
An admin may do anything. A request made with the cookie that changes anything must carry the
session's CSRF token in `X-CSRF-Token`; bearer-token requests need none (a browser never adds an
Authorization header on its own, so another site cannot forge one).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from typing import AsyncIterator, Awaitable, Callable, Iterator

from aiohttp import WSCloseCode, web
from sqlalchemy.exc import SQLAlchemyError

from hotline.db.tables import ConsoleSession, User
from hotline.db.users import active_tokens, console_session, live_console_sessions, user_for_token
from hotline.errors import Forbidden, Unauthorized
from hotline.web.context import CONFIG, SESSIONS

log = logging.getLogger(__name__)

USER = web.RequestKey("user", User)
# The console session the request was made with (absent for bearer-token requests).
CONSOLE = web.RequestKey("console", ConsoleSession)
SESSION_COOKIE = "hotline_session"
CSRF_HEADER = "X-CSRF-Token"
# RFC 9110 9.2.1: these methods are safe (read-only); every other one needs the CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How soon an open WebSocket notices that its token was revoked (`hotline user revoke`, run in
# another process, reaches the daemon only through the database).
REVOCATION_CHECK_SECONDS = 1.0

# Routes anyone may reach: load balancers and Prometheus carry no tokens, and the UI page holds
# no data (it asks for a token and then calls the API with it).
PUBLIC_PATHS = frozenset({"/api/v1/health", "/metrics", "/", "/api/v1/sign-in"})
# The console's scripts, styles and language catalogues: no data, served to anyone.
PUBLIC_PREFIX = "/ui/"
# Open311 GeoReport v2 clients send `api_key` (in the query, or in a form body the middleware
# cannot read without consuming it): those handlers authenticate themselves.
OWN_AUTH_PREFIXES = ("/open311/",)


def require_role(request: web.Request, *roles: str) -> User:
    """The authenticated user, if their role is one of `roles` (admins always pass)."""
    user: User = request[USER]
    if user.role != "admin" and user.role not in roles:
        raise Forbidden(f"role {user.role!r} may not do this", required=list(roles))
    return user


def numbers_masked(request: web.Request) -> bool:
    """Whether the user sees callers' numbers masked (138****5678): their role is in `[centre]
    masked_roles` (personal data they do not need for their work)."""
    return request[USER].role in request.app[CONFIG].masked_roles


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        # Tokens are URL-safe base64; other bytes (aiohttp keeps undecodable ones as surrogates,
        # which cannot even be hashed) are simply no token of ours.
        return token.strip() if token.isascii() else ""
    # Browsers cannot set headers on a WebSocket handshake; the UI passes the token in the query
    # instead, and the access log never writes query strings.
    if request.path == "/api/v1/events":
        return request.query.get("access_token")
    return None


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or request.path.startswith((PUBLIC_PREFIX, *OWN_AUTH_PREFIXES)):
        return await handler(request)
    token = bearer_token(request)
    if token is None and SESSION_COOKIE in request.cookies:
        request[USER] = await _cookie_user(request)
        return await handler(request)
    if token is None:
        raise Unauthorized("send Authorization: Bearer <token> (create one: hotline user add NAME --role ROLE)")
    async with request.app[SESSIONS]() as session:
        user = await user_for_token(session, token)
    if user is None:
        raise Unauthorized("unknown or disabled token")
    request[USER] = user
    return await handler(request)


def same_origin(request: web.Request) -> bool:
    """Whether the request's Origin, when the browser sent one, is this server (RFC 6454)."""
    origin = request.headers.get("Origin")
    return origin is None or origin.partition("://")[2] == request.host


async def _cookie_user(request: web.Request) -> User:
    """The user signed in with the request's session cookie; CSRF checked for unsafe methods."""
    async with request.app[SESSIONS]() as session:
        signed_in = await console_session(session, request.cookies[SESSION_COOKIE])
    if signed_in is None:
        raise Unauthorized("signed out or the session expired: sign in again")
    user, console = signed_in
    request[CONSOLE] = console
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), console.csrf_token.encode()):
            raise Forbidden(f"missing or wrong {CSRF_HEADER}: send the token /api/v1/me gives",
                            reason="csrf")
    elif request.headers.get("Upgrade", "").lower() == "websocket" and not same_origin(request):
        # A WebSocket handshake is a GET that browsers send cross-site with cookies and without
        # any CORS check (RFC 6455 10.2): another site's page must not open the live feed.
        raise Forbidden("a WebSocket from another origin may not use the console's cookie", reason="origin")
    return user


class OpenSockets:
    """The WebSockets each token holds open, closed as soon as the token stops working.

    A request is authenticated once, at the handshake; a socket lives for hours. One query per
    REVOCATION_CHECK_SECONDS, for all open sockets together, finds the tokens revoked (or
    reissued) since, and the console sessions signed out or expired.
    """

    def __init__(self) -> None:
        self._held: dict[web.WebSocketResponse, tuple[int, str, int | None]] = {}

    @contextlib.contextmanager
    def hold(self, ws: web.WebSocketResponse, user: User, console: ConsoleSession | None = None) -> Iterator[None]:
        """Watch `ws`, opened with `user`'s token (or their console session), while the block runs."""
        self._held[ws] = (user.id, user.token_hash, console.id if console else None)
        try:
            yield
        finally:
            self._held.pop(ws, None)

    async def close_revoked(self, app: web.Application) -> None:
        """Close every held socket whose token no longer works, or whose console session ended."""
        if not self._held:
            return
        consoles = {console for _, _, console in self._held.values() if console is not None}
        async with app[SESSIONS]() as session:
            valid = await active_tokens(session, {user_id for user_id, _, _ in self._held.values()})
            signed_in = await live_console_sessions(session, consoles) if consoles else set()
        for ws, (user_id, digest, console) in list(self._held.items()):
            if (user_id, digest) not in valid or (console is not None and console not in signed_in):
                self._held.pop(ws, None)
                # 1008: the endpoint "is terminating the connection because it has received a
                # message that violates its policy" (RFC 6455 7.4.1); the UI asks for a new token.
                await ws.close(code=WSCloseCode.POLICY_VIOLATION,
                               message=b"token revoked" if console is None else b"signed out")

    async def watch(self, app: web.Application) -> AsyncIterator[None]:
        """A cleanup context: checks the open sockets' tokens while the app runs."""

        async def forever() -> None:
            while True:
                await asyncio.sleep(REVOCATION_CHECK_SECONDS)
                try:
                    await self.close_revoked(app)
                except (SQLAlchemyError, OSError) as exc:
                    # The database is down: the next round checks again; health reports it.
                    log.warning("checking open WebSockets for revoked tokens failed: %s", exc)

        task = asyncio.create_task(forever())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


SOCKETS = web.AppKey("sockets", OpenSockets)
