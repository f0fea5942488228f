"""The AuthZEN app: routing and JSON. Decisions come from the engine; nothing here decides.

Rooms: routes.py is the table of every route, guard.py the checks and error answers both
pipelines share, fastpath.py answers the evaluation routes from raw ASGI, evaluation.py turns
their JSON into decisions, search.py and page_tokens.py page through searches, plan.py
answers query plans, recording.py logs and counts every decision answered, errors.py maps each
error type to its status once, bodies.py bounds what is read. This module declares the table
and answers the small routes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request as HttpRequest
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from suite_authz.engine.serving import DecisionLog, shard_of
from suite_authz.server.authzen import HttpError
from suite_authz.server.bodies import request_id
from suite_authz.server.evaluation import Evaluator
from suite_authz.server.fastpath import answer_raw
from suite_authz.server.guard import Guard
from suite_authz.server.metrics import CONTENT_TYPE, Metrics
from suite_authz.server.migration import migration_routes
from suite_authz.server.openapi import openapi
from suite_authz.server.page_tokens import PageTokens
from suite_authz.server.plan import plan_routes
from suite_authz.server.recording import Recorder
from suite_authz.server.routes import RouteSpec, RouteTable
from suite_authz.server.search import MAX_SEARCHES, PAGE_SECONDS, SearchGate, search_routes
from suite_authz.server.state import State
from suite_authz.server.ui.routes import Ui


def create_app(
    state: State,
    metrics: Metrics,
    token: str | None = None,
    decision_log: DecisionLog | None = None,
    public_url: str | None = None,
    page_seconds: float = PAGE_SECONDS,
    max_searches: int = MAX_SEARCHES,
    fleet: tuple[str, ...] = (),
) -> ASGIApp:
    """`public_url`: the base URL the metadata document names; by default the address the
    server is bound to (never the request's Host header, which any caller can set).
    `max_searches`: search pages computed at once in this worker (server/search.py).
    `fleet`: a sharded fleet's sidecars' base URLs, in shard order."""
    return Sidecar(
        state, metrics, token, decision_log, public_url, page_seconds, max_searches, fleet
    )


class Sidecar:
    """The ASGI app: the fast routes of the table answered from raw ASGI, the rest through
    Starlette's routing; the table's guard around both."""

    def __init__(
        self,
        state: State,
        metrics: Metrics,
        token: str | None,
        decision_log: DecisionLog | None,
        public_url: str | None,
        page_seconds: float,
        max_searches: int = MAX_SEARCHES,
        fleet: tuple[str, ...] = (),
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.public_url = public_url
        self.fleet = tuple(url.rstrip("/") for url in fleet)
        self.guard = Guard(token, metrics, self.served_org)
        self.recorder = Recorder(metrics, decision_log)
        self.evaluator = Evaluator(state, self.recorder)
        tokens = PageTokens(state.store.secret("page-tokens"))
        self.searches = SearchGate(max_searches)
        searches = search_routes(
            state, self.searched_engine, self.recorder, tokens, page_seconds, self.searches
        )
        self.routes = RouteTable(
            [
                RouteSpec("/access/v1/evaluation", ("POST",), self.evaluator.one, **_FAST),
                RouteSpec("/access/v1/evaluations", ("POST",), self.evaluator.many, **_FAST),
                *searches,
                *plan_routes(self.searched_engine, self.recorder, lambda: state.readiness),
                RouteSpec(_METADATA, _GET, self.configuration, token=False),
                RouteSpec(f"{_METADATA}/{{org}}", _GET, self.tenant_configuration, token=False),
                RouteSpec("/healthz", _GET, self.healthz, token=False),
                RouteSpec("/readyz", _GET, self.readyz, token=False),
                RouteSpec("/metrics", _GET, self.metrics_text),
                RouteSpec("/openapi.json", _GET, self.openapi_doc, token=False),
                *migration_routes(state, token is not None, decision_log),
            ]
        )
        self.rest = Starlette(
            routes=[*self.routes.starlette_routes(self.guard.around), *Ui(state, token).routes()],
            exception_handlers={HTTPException: self.http_error, Exception: self.http_error},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hit = self.routes.fast_route(scope["path"])
            if hit is not None:
                await answer_raw(scope, receive, send, hit[0], hit[1], self.guard)
                return
        await self.rest(scope, receive, send)

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
            wrong = self.state.selection.misrouted(org)
            raise HttpError(404, "no such org at this server" + (f": {wrong}" if wrong else ""))
        return org

    def searched_engine(self, context: dict[str, Any], org: str | None) -> Any:
        return self.evaluator.engine(context, None if org is None else self.served_org(org))

    async def configuration(self, request: HttpRequest, rid: str) -> dict[str, Any]:
        return _metadata(self.base_url(request))

    async def tenant_configuration(self, request: HttpRequest, rid: str) -> dict[str, Any]:
        """AuthZEN 9.2: one identifier per tenant, `{base}/{org}`, its metadata at
        /.well-known/authzen-configuration/{org}. Behind a token, a caller without it gets
        the same document for any org id, served or not: a 404 would tell anyone which org
        ids exist; what the routes answer for an unserved org still needs the
        token to learn."""
        org = request.path_params["org"]
        shard = self.state.selection.shard
        if self.fleet and shard is not None and not shard.holds(org):
            # another shard's org: its sidecar named, from the id alone (which says nothing
            # of whether the org exists, so with or without the token)
            right = self.fleet[shard_of(org, shard.count) - 1]
            return _metadata(f"{right}/{quote(org, safe='')}")
        if self.guard.authorized(request.headers.get("authorization", "").encode("latin-1")):
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
            self.guard.check_token(request.headers.get("authorization", "").encode("latin-1"))
        except HttpError:
            return {"status": readiness.status()}
        # off the event loop: the first ask after a swap reads whether each org's set plans
        return await run_in_threadpool(readiness.details)

    async def metrics_text(self, request: HttpRequest, rid: str) -> Response:
        self.state.sync_metrics()
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    async def openapi_doc(self, request: HttpRequest, rid: str) -> dict[str, Any]:
        return openapi()

    async def http_error(self, request: HttpRequest, exc: Exception) -> Response:
        """Starlette's own 404/405/500, as the same JSON body as every other error."""
        rid = request_id(request.headers.get("x-request-id", "").encode("latin-1"))
        return self.guard.failure_response(exc, rid)


def _metadata(base: str) -> dict[str, Any]:
    return {
        "policy_decision_point": base,
        "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
        "access_evaluations_endpoint": f"{base}/access/v1/evaluations",
        "search_subject_endpoint": f"{base}/access/v1/search/subject",
        "search_resource_endpoint": f"{base}/access/v1/search/resource",
        "search_action_endpoint": f"{base}/access/v1/search/action",
    }


_FAST: dict[str, Any] = {"fast": True, "per_org": True}
_GET = ("GET",)
_METADATA = "/.well-known/authzen-configuration"
