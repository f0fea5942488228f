"""One guard around both request pipelines (the fast path and Starlette's routes): the method,
the bearer token, the org a per-org path names, the request id, and every failure turned into
an answer through the one error table (server/errors.py), in the same bytes whichever pipeline
met it. The body's checks (media type, size, JSON) are server/bodies.py's, used by both."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request as HttpRequest
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from suite_authz.server.authzen import HttpError
from suite_authz.server.bodies import (
    RawHeaders,
    json_answer,
    json_response,
    raw_response,
    request_id,
)
from suite_authz.server.errors import HANDLED, error_body, error_headers, message_of, status_of
from suite_authz.server.metrics import Metrics
from suite_authz.server.routes import RouteSpec

log = logging.getLogger("authz.server")
UNAUTHORIZED = "a valid `Authorization: Bearer` token is required"


def bearer_matches(given: bytes, expected: bytes) -> bool:
    """An `Authorization` header that names the bearer scheme, in any case (RFC 7235 2.1), and
    this token; compared in constant time. One check for the API and the admin page."""
    scheme, _, credentials = given.partition(b" ")
    ok = hmac.compare_digest(credentials.lstrip(b" "), expected)
    return ok and scheme.lower() == b"bearer"


class Guard:
    def __init__(
        self, token: str | None, metrics: Metrics, served_org: Callable[[str], str]
    ) -> None:
        self.expected = token.encode() if token is not None else None
        self.metrics = metrics
        self.served_org = served_org

    def authorized(self, given: bytes) -> bool:
        return self.expected is None or bearer_matches(given, self.expected)

    def check_token(self, given: bytes) -> None:
        if self.expected is not None and not bearer_matches(given, self.expected):
            raise HttpError(401, UNAUTHORIZED)

    def admit(self, spec: RouteSpec, method: str, authorization: bytes, org: str | None) -> None:
        """Before any body is read: the method, the token, then the org (after the token, so
        that a caller without it learns nothing of which orgs are served)."""
        if method not in spec.accepts:
            raise HttpError(405, f"method: this route takes {spec.allow}", {"Allow": spec.allow})
        if spec.token:
            self.check_token(authorization)
        if org is not None:
            self.served_org(org)

    def failure(self, exc: Exception, rid: str) -> tuple[int, bytes, RawHeaders]:
        """Any error as its answer: status, body and headers from the one table; a failure
        inside the server is logged and answered as a 500, never as a decision."""
        status = status_of(exc)
        if status == 500 and not isinstance(exc, HANDLED):
            log.error("request failed", exc_info=exc)
        self.metrics.http_error(status)
        body = error_body(status, message_of(exc))
        payload, headers = json_answer(body, rid, error_headers(status, exc))
        return status, payload, headers

    def failure_response(self, exc: Exception, rid: str) -> Response:
        return raw_response(*self.failure(exc, rid))

    def around(self, spec: RouteSpec, per_org: bool) -> ASGIApp:
        """A Starlette endpoint for a route of the table, behind the guard."""
        handler = spec.handler

        async def handle(request: HttpRequest) -> Response:
            headers = request.headers
            rid = request_id(headers.get("x-request-id", "").encode("latin-1"))
            try:
                org = request.path_params["org"] if per_org else None
                given = headers.get("authorization", "").encode("latin-1")
                self.admit(spec, request.method, given, org)
                result = await handler(request, rid)
            except Exception as exc:
                return self.failure_response(exc, rid)
            if isinstance(result, Response):
                result.headers["X-Request-ID"] = rid
                return result
            return json_response(200, result, rid)

        return _Endpoint(handle)


class _Endpoint:
    """An ASGI app, not a function: Starlette would limit a function's route to GET when
    given no methods, and the methods are the guard's to check."""

    def __init__(self, handle: Callable[[HttpRequest], Awaitable[Response]]) -> None:
        self.handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(HttpRequest(scope, receive))
        await response(scope, receive, send)
