"""The one root of every error hotline raises on purpose.

Each error carries what an API client needs (`status_code`, `error_id`, `details`) so the web
layer renders any of them the same way, and the CLI prints them as one line.
"""

from __future__ import annotations

from typing import Any


class HotlineError(Exception):
    """Something went wrong in hotline."""

    status_code = 500
    error_id = "internal-error"
    # Whether the connection must close after the answer: part of the request may still be unread.
    closes_connection = False

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message or self.__doc__ or self.error_id)
        self.details = details

    @property
    def message(self) -> str:
        return str(self)

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the error's response must carry besides its JSON body."""
        return {}

    def to_json(self) -> dict[str, Any]:
        return {"error": self.error_id, "message": self.message, "details": self.details}


class ConfigError(HotlineError):
    """The configuration is invalid."""

    error_id = "invalid-config"


class InvalidInput(HotlineError):
    """The request is invalid."""

    status_code = 400
    error_id = "invalid-input"


class NotFound(HotlineError):
    """No such resource."""

    status_code = 404
    error_id = "not-found"


class RangeNotSatisfiable(HotlineError):
    """The requested byte range lies outside the file."""

    status_code = 416
    error_id = "range-not-satisfiable"

    @property
    def headers(self) -> dict[str, str]:
        # RFC 9110 15.5.17: a 416 to a byte-range request sends the current length this way.
        return {"Content-Range": f"bytes */{self.details['size']}"}


class UnsupportedMediaType(HotlineError):
    """The request's body is not in a format this route reads."""

    status_code = 415
    error_id = "unsupported-media-type"


class RequestTimeout(HotlineError):
    """The request's body did not arrive in time."""

    status_code = 408
    error_id = "request-timeout"
    closes_connection = True


class UpgradeRequired(HotlineError):
    """This resource speaks another protocol."""

    status_code = 426
    error_id = "upgrade-required"

    @property
    def headers(self) -> dict[str, str]:
        return {"Upgrade": "websocket", "Connection": "Upgrade"}


class Unauthorized(HotlineError):
    """A valid bearer token is required."""

    status_code = 401
    error_id = "unauthorized"


class Forbidden(HotlineError):
    """Your role may not do this."""

    status_code = 403
    error_id = "forbidden"


class TooManyRequests(HotlineError):
    """Too many failed attempts: wait before trying again."""

    status_code = 429
    error_id = "too-many-requests"

    @property
    def headers(self) -> dict[str, str]:
        # RFC 6585 4: a 429 may say how long to wait, in Retry-After (RFC 9110 10.2.3).
        return {"Retry-After": str(self.details["retry_after"])}


class AmiError(HotlineError):
    """The Asterisk Manager Interface refused or failed an action."""

    status_code = 502
    error_id = "ami-error"
