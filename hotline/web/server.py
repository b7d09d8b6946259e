"""The HTTP server around the web application: read timeouts, a connection limit, and requests
aiohttp cannot parse answered without repeating them.

aiohttp's own answer to a request line or header over its 8190-byte limit quotes the offending
bytes, in the response body and in the error log: with `Authorization: Bearer TOKEN, xxx...` or
`?access_token=TOKEN&pad=...` that is the caller's token, written to the log. Here such a request
gets a JSON 400 naming only the kind of fault, and the log one line without its content.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from hotline.config import Config
from hotline.web.app import AccessLog

log = logging.getLogger(__name__)


def _json_error(status: int, error: str, message: str) -> bytes:
    return json.dumps({"error": error, "message": message, "details": {}}).encode()


class _Connection(RequestHandler):
    """One client connection; refused outright past the server's connection limit."""

    def __init__(self, manager: web.Server, *, max_connections: int, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.max_connections = max_connections

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if len(self._manager.connections) > self.max_connections:
            # Past the limit a client gets a plain 503 and the socket is closed at once: a flood of
            # idle connections (slow loris) cannot exhaust the daemon's file descriptors.
            body = _json_error(503, "too-many-connections", "too many open connections; retry shortly")
            transport.write(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            log.warning("refused a connection from %s: %d connections open",
                        transport.get_extra_info("peername"), self.max_connections)
            self.force_close()
            transport.close()

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, HttpProcessingError):
            # The parser's message quotes the request; it may hold a token, so it is not repeated.
            what = "a request line or header field over 8190 bytes" if isinstance(exc, LineTooLong) \
                else "a malformed HTTP request"
            log.warning("refused %s from %s (%s)", what, request.remote, type(exc).__name__)
            error, text = "bad-request", f"refused: {what}"
        else:
            # A bug: the traceback goes to the log, the client learns nothing of it.
            self.log_exception("error handling a request from %s", request.remote, exc_info=exc)
            error, text = "internal-error", HTTPStatus.INTERNAL_SERVER_ERROR.phrase
        response = web.Response(status=status, body=_json_error(status, error, text),
                                content_type="application/json")
        response.force_close()
        return response


class _Server(web.Server):
    # aiohttp has no public hook for the protocol class: this is web.Server.__call__ (3.9-3.14)
    # with our connection class; tests/web/test_server.py fails if that ever changes.
    def __call__(self) -> RequestHandler:
        return _Connection(self, loop=self._loop, **self._kwargs)


class WebRunner(web.AppRunner):
    """An AppRunner whose connections have the timeouts and the limit of `config`'s [web]."""

    def __init__(self, app: web.Application, config: Config) -> None:
        super().__init__(app, access_log_class=AccessLog)
        self.config = config

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return _Server(
            made.request_handler, request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation, access_log_class=AccessLog,
            max_connections=self.config.web_max_connections,
            # aiohttp arms its keep-alive timer when a connection opens and after each response,
            # and closes the connection if no complete request head has arrived when it fires:
            # that is the header read timeout, whatever trickles in meanwhile (slow loris).
            keepalive_timeout=self.config.web_header_timeout,
            # A body a route reads must arrive within body_timeout (openapi.within_body_timeout);
            # one no route reads is drained for at most as long before the connection closes.
            lingering_time=self.config.web_body_timeout,
        )
