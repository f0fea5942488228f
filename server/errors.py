"""One table from error to HTTP status, message and headers, used by every route, both request
pipelines (through server/guard.py) and the admin page. The engine's errors carry their own
status (engine/core/errors.py: bad input 400, conflict 409, refused 403, a store that does not
answer 503); only HTTP's own are added, Starlette's routing errors among them."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

from suite_authz.engine.core import AuthzError, Unavailable
from suite_authz.server.authzen import BadRequest, HttpError

HANDLED: tuple[type[Exception], ...] = (HttpError, BadRequest, AuthzError)


def status_of(exc: Exception) -> int:
    if isinstance(exc, HttpError):
        return exc.status
    if isinstance(exc, BadRequest):
        return 400
    if isinstance(exc, AuthzError):
        return exc.http_status
    if isinstance(exc, HTTPException):
        return exc.status_code
    return 500


def message_of(exc: Exception) -> str:
    """What an error body says: the error's own words; for a failure inside the server only
    its kind (a message could carry data of a request)."""
    if isinstance(exc, HANDLED):
        return str(exc)
    if isinstance(exc, HTTPException):
        return _WORDS.get(exc.status_code, "error")
    return f"internal error: {type(exc).__name__}"


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "message": message}


def error_headers(status: int, exc: Exception | None = None) -> dict[str, str]:
    """A 401 names the scheme to authenticate with (RFC 6750, as AuthZEN's 401 implies); a
    405 the methods the route takes (RFC 9110); a 503 when to try again."""
    headers = dict(getattr(exc, "headers", None) or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="authz"'
    if isinstance(exc, Unavailable):
        headers["Retry-After"] = "5"
    return headers


_WORDS = {404: "no such route", 405: "method not allowed on this route"}
