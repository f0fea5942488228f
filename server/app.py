"""The AuthZEN app: routing and JSON. Decisions come from the engine; nothing here decides.

Rooms: fastpath.py answers the two evaluation routes from raw ASGI, evaluation.py turns
their JSON into decisions, search.py and pages.py page through searches, recording.py logs
and counts every decision answered, errors.py maps each error type to its status once,
httpio.py bounds what is read. This module wires them and answers the small routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request as HttpRequest
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from suite_authz.engine.serving import DecisionLog
from suite_authz.server.authzen import HttpError
from suite_authz.server.errors import HANDLED, error_body, error_headers, status_of
from suite_authz.server.evaluation import Evaluator
from suite_authz.server.fastpath import answer_raw
from suite_authz.server.httpio import bearer_matches, body_of, json_response, request_id
from suite_authz.server.metrics import CONTENT_TYPE, Metrics
from suite_authz.server.migration import migration_routes
from suite_authz.server.openapi import openapi
from suite_authz.server.pages import PageTokens
from suite_authz.server.recording import Recorder
from suite_authz.server.search import MAX_SEARCHES, PAGE_SECONDS, SearchGate, search_routes
from suite_authz.server.state import State
from suite_authz.server.ui.routes import Ui

Handler = Callable[[HttpRequest], Awaitable[Response]]
Answer = Callable[[dict[str, Any], str], dict[str, Any]]
AnswerForOrg = Callable[[dict[str, Any], str, str | None], dict[str, Any]]


def create_app(
    state: State,
    metrics: Metrics,
    token: str | None = None,
    decision_log: DecisionLog | None = None,
    public_url: str | None = None,
    page_seconds: float = PAGE_SECONDS,
    max_searches: int = MAX_SEARCHES,
) -> ASGIApp:
    """`public_url`: the base URL the metadata document names; by default the address the
    server is bound to (never the request's Host header, which any caller can set).
    `max_searches`: search pages computed at once in this worker (server/search.py)."""
    return Sidecar(state, metrics, token, decision_log, public_url, page_seconds, max_searches)


class Sidecar:
    """The ASGI app: the two evaluation routes (and their per-org forms) answered from raw
    ASGI, everything else through Starlette's routing."""

    def __init__(
        self,
        state: State,
        metrics: Metrics,
        token: str | None,
        decision_log: DecisionLog | None,
        public_url: str | None,
        page_seconds: float,
        max_searches: int = MAX_SEARCHES,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.public_url = public_url
        self.expected = token.encode() if token is not None else None
        self.recorder = Recorder(metrics, decision_log)
        self.evaluator = Evaluator(state, self.recorder)
        tokens = PageTokens(state.store.secret("page-tokens"))
        self.searches = SearchGate(max_searches)
        endpoint = self.endpoint
        routes = [
            *search_routes(
                state,
                self.searched_engine,
                endpoint,
                self.recorder,
                tokens,
                page_seconds,
                self.searches,
            ),
            Route(
                "/.well-known/authzen-configuration",
                endpoint(self.configuration, auth=False),
                methods=["GET"],
            ),
            Route(
                "/.well-known/authzen-configuration/{org}",
                endpoint(self.tenant_configuration, auth=False),
                methods=["GET"],
            ),
            Route("/healthz", endpoint(self.healthz, auth=False), methods=["GET"]),
            Route("/readyz", endpoint(self.readyz, auth=False), methods=["GET"]),
            Route("/metrics", endpoint(self.metrics_text), methods=["GET"]),
            Route("/openapi.json", endpoint(self.openapi_doc, auth=False), methods=["GET"]),
            *migration_routes(state, endpoint, body_of, token is not None, decision_log),
            *Ui(state, token).routes(),
        ]
        self.rest = Starlette(
            routes=routes,
            exception_handlers={HTTPException: self.http_error, Exception: self.http_error},
        )
        self.for_org: dict[str, AnswerForOrg] = {
            "/access/v1/evaluation": self.evaluator.one,
            "/access/v1/evaluations": self.evaluator.many,
        }
        self.hot: dict[str, Answer] = {
            "/access/v1/evaluation": self.evaluator.one,
            "/access/v1/evaluations": self.evaluator.many,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = None
        if scope["type"] == "http":
            answer = self.hot.get(scope["path"]) or self.tenant_answer(scope["path"])
        if answer is None:
            await self.rest(scope, receive, send)
            return
        await answer_raw(scope, receive, send, answer, self.check_token, self.metrics)

    def tenant_answer(self, path: str) -> Answer | None:
        """`/{org}/access/v1/evaluation(s)`: the route's answer, bound to the path's org."""
        head, sep, tail = path[1:].partition("/")
        answer = self.for_org.get(f"/{tail}") if sep and head else None
        if answer is None:
            return None
        # the ASGI path is decoded once already (B7: a second decoding made `%2564emo` `demo`)
        org = head

        def bound(body: dict[str, Any], rid: str) -> dict[str, Any]:
            return answer(body, rid, self.served_org(org))

        return bound

    def check_token(self, given: bytes) -> None:
        if self.expected is not None and not self.authorized(given):
            raise HttpError(401, "a valid `Authorization: Bearer` token is required")

    def authorized(self, given: bytes) -> bool:
        return self.expected is None or bearer_matches(given, self.expected)

    def failure(self, exc: Exception, rid: str) -> Response:
        status = status_of(exc)
        self.metrics.http_error(status)
        return json_response(status, error_body(status, str(exc)), rid, error_headers(status, exc))

    def endpoint(
        self, fn: Callable[[HttpRequest, str], Awaitable[Any]], auth: bool = True
    ) -> Handler:
        async def handle(request: HttpRequest) -> Response:
            rid = request_id(request.headers.get("x-request-id", "").encode("latin-1"))
            try:
                if auth:
                    self.check_token(request.headers.get("authorization", "").encode("latin-1"))
                result = await fn(request, rid)
            except HANDLED as exc:
                return self.failure(exc, rid)
            if isinstance(result, Response):
                result.headers["X-Request-ID"] = rid
                return result
            return json_response(200, result, rid)

        return handle

    def base_url(self, request: HttpRequest) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = request.url.scheme
        host, port = request.scope.get("server") or ("127.0.0.1", None)
        default = {"http": 80, "https": 443}.get(scheme)
        return f"{scheme}://{host}" + ("" if port in (None, default) else f":{port}")

    def served_org(self, org: str) -> str:
        """An org named by a path: served, or a 404 that names nothing else served."""
        served = self.state.served
        if served is None or (org not in served.engines and org not in served.refused_orgs):
            raise HttpError(404, "no such org at this server")
        return org

    def searched_engine(self, context: dict[str, Any], org: str | None) -> Any:
        return self.evaluator.engine(context, None if org is None else self.served_org(org))

    async def configuration(self, request: HttpRequest, rid: str) -> dict[str, Any]:
        return _metadata(self.base_url(request))

    async def tenant_configuration(self, request: HttpRequest, rid: str) -> dict[str, Any]:
        """AuthZEN 9.2: one identifier per tenant, `{base}/{org}`, its metadata at
        /.well-known/authzen-configuration/{org}. Behind a token, a caller without it gets
        the same document for any org id, served or not: a 404 would tell anyone which org
        ids exist (issue 29); what the routes answer for an unserved org still needs the
        token to learn."""
        org = request.path_params["org"]
        if self.authorized(request.headers.get("authorization", "").encode("latin-1")):
            org = self.served_org(org)
        return _metadata(f"{self.base_url(request)}/{quote(org, safe='')}")

    async def healthz(self, request: HttpRequest, rid: str) -> dict[str, Any]:
        return {"status": "ok"}

    async def readyz(self, request: HttpRequest, rid: str) -> Any:
        readiness = self.state.readiness
        problem = readiness.problem(self.recorder.healthy)
        if problem is not None:
            raise HttpError(503, f"not ready: {problem}")
        try:  # the details name orgs and versions: only for a caller with the token
            self.check_token(request.headers.get("authorization", "").encode("latin-1"))
        except HttpError:
            return {"status": readiness.status()}
        return readiness.details()

    async def metrics_text(self, request: HttpRequest, rid: str) -> Response:
        self.state.sync_metrics()
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    async def openapi_doc(self, request: HttpRequest, rid: str) -> dict[str, Any]:
        return openapi()

    async def http_error(self, request: HttpRequest, exc: Exception) -> Response:
        """Starlette's own 404/405/500, as the same JSON body as every other error."""
        rid = request_id(request.headers.get("x-request-id", "").encode("latin-1"))
        if isinstance(exc, HTTPException):
            words = _WORDS.get(exc.status_code, "error")
            return self.failure(HttpError(exc.status_code, words, dict(exc.headers or {})), rid)
        return self.failure(HttpError(500, f"internal error: {type(exc).__name__}"), rid)


def _metadata(base: str) -> dict[str, Any]:
    return {
        "policy_decision_point": base,
        "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
        "access_evaluations_endpoint": f"{base}/access/v1/evaluations",
        "search_subject_endpoint": f"{base}/access/v1/search/subject",
        "search_resource_endpoint": f"{base}/access/v1/search/resource",
        "search_action_endpoint": f"{base}/access/v1/search/action",
    }


_WORDS = {404: "no such route", 405: "method not allowed on this route"}
