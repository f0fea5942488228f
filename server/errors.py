"""One table from error to HTTP status, used by every route and both request pipelines."""

from __future__ import annotations

from typing import Any

from suite_authz.engine import AuthzError, MigrationRefused, StalePlan, StoreUnreachable
from suite_authz.server.authzen import BadRequest, HttpError

# Most specific first: the first type an error is an instance of decides its status.
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (MigrationRefused, 403),
    (StalePlan, 409),
    # the store did not answer: nothing was read or written, try again (not the caller's fault)
    (StoreUnreachable, 503),
    (BadRequest, 400),
    (AuthzError, 400),
)
HANDLED: tuple[type[Exception], ...] = (HttpError, *(kind for kind, _ in STATUS))


def status_of(exc: Exception) -> int:
    if isinstance(exc, HttpError):
        return exc.status
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "message": message}


def error_headers(status: int, exc: Exception | None = None) -> dict[str, str]:
    """A 401 names the scheme to authenticate with (RFC 6750, as AuthZEN's 401 implies); a
    405 the methods the route takes (RFC 9110)."""
    headers = dict(getattr(exc, "headers", None) or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="authz"'
    if isinstance(exc, StoreUnreachable):
        headers["Retry-After"] = "5"
    return headers
