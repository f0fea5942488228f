"""One table from error to HTTP status, used by every route, both request pipelines and the
admin page. The engine's errors carry their own status (engine/core/errors.py: bad input 400,
conflict 409, refused 403, a store that does not answer 503); only HTTP's own are added."""

from __future__ import annotations

from typing import Any

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
    return 500


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
