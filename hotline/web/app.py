"""The aiohttp application: errors as JSON, authentication, the route modules and the UI."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any, AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from sqlalchemy.ext.asyncio import async_sessionmaker

import hotline.surveys.api
import recordings.api
import scoring.api
from hotline.config import Config
from hotline.errors import HotlineError
from hotline.web import calls, monitoring, openapi
from hotline.web.auth import USER, auth_middleware
from hotline.web.context import CONFIG, HUB, SESSIONS, TELEMETRY
from hotline.web.live import CallHub, Telemetry

log = logging.getLogger(__name__)

ROUTE_MODULES = (calls, monitoring, openapi, recordings.api, scoring.api, hotline.surveys.api)


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except HotlineError as error:
        return web.json_response(error.to_json(), status=error.status_code)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response(
            {"error": exc.reason.lower().replace(" ", "-"), "message": exc.reason, "details": {}},
            status=exc.status,
        )


class AccessLog(AbstractAccessLogger):
    """Method, path (no query string: it may carry a token), status, size, time and user."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        user = request.get(USER)
        self.logger.info(
            '%s "%s %s" %s %s %.3fs %s',
            request.remote, request.method, request.path, response.status,
            response.body_length, time, user.name if user else "-",
        )


def _static(name: str, content_type: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def serve(request: web.Request) -> web.Response:
        text = resources.files("hotline.web").joinpath(f"static/{name}").read_text("utf-8")
        return web.Response(text=text, content_type=content_type, charset="utf-8")

    return serve


def make_app(
    config: Config,
    sessions: async_sessionmaker,
    hub: CallHub,
    telemetry: Telemetry,
    contexts: list[Callable[[web.Application], AsyncIterator[Any]]] | None = None,
) -> web.Application:
    """The web application over `sessions`, streaming call updates from `hub`."""
    app = web.Application(middlewares=[errors_middleware, auth_middleware])
    app[CONFIG] = config
    app[SESSIONS] = sessions
    app[HUB] = hub
    app[TELEMETRY] = telemetry
    app[openapi.OPENAPI] = openapi.document(ROUTE_MODULES)
    for module in ROUTE_MODULES:
        app.router.add_routes(module.routes)
    app.router.add_get("/", _static("index.html", "text/html"))
    app.router.add_get("/ui/app.js", _static("app.js", "application/javascript"))
    app.cleanup_ctx.extend(contexts or [])
    return app
