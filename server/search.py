"""The three search routes: off the event loop, a page at a time, every result logged.

A search runs in a worker thread with a deadline per page, and the engine asks about
candidates in small batches (engine/search.py), so evaluations keep being answered while it
runs. Each result is an allowed decision, logged and counted like an evaluation's.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest
from starlette.routing import Route

from suite_authz.engine import Engine, Request, as_evaluation, search_page
from suite_authz.server.authzen import decision_body, parse_evaluation
from suite_authz.server.httpio import body_of
from suite_authz.server.pages import PageTokens, page_spec, request_key
from suite_authz.server.recording import Recorder
from suite_authz.server.state import State
from suite_authz.server.wire import ActionSearch, ResourceSearch, SubjectSearch

PAGE_SECONDS = 1.0  # a page is cut short after this; its token goes on from there

Endpoint = Callable[[HttpRequest, str], Awaitable[Any]]


SHAPES: dict[str, type[BaseModel]] = {
    "subject": SubjectSearch,
    "resource": ResourceSearch,
    "action": ActionSearch,
}


def _template(body: dict[str, Any], kind: str) -> tuple[Request, dict[str, Any]]:
    """The request searched with: the part being searched for is a placeholder."""
    return parse_evaluation(body, shape=SHAPES[kind])


def _result(kind: str, template: Request, found_id: str) -> dict[str, Any]:
    if kind == "subject":
        return {"type": "user", "id": found_id}
    if kind == "resource":
        return {"type": template.resource_type, "id": found_id}
    return {"name": found_id}


def search_routes(
    state: State,
    engine_of: Callable[[dict[str, Any], str | None], Engine],
    wrap: Callable[[Endpoint], Any],
    recorder: Recorder,
    tokens: PageTokens,
    page_seconds: float = PAGE_SECONDS,
) -> list[Route]:
    def version_of(engine: Engine, org: object) -> str:
        served = state.served
        org_version = served.org_versions.get(engine.org.id) if served else None
        return f"{engine.policies.version}/{org}/{org_version}"

    def route(kind: str) -> Endpoint:
        async def search(request: HttpRequest, rid: str) -> dict[str, Any]:
            body = await body_of(request)
            template, context = _template(body, kind)
            engine = engine_of(context, request.path_params.get("org"))
            limit, token = page_spec(body)
            key, version = request_key(body), version_of(engine, context.get("org"))
            start = 0 if token is None else tokens.read(token, key, version)
            started = time.monotonic()
            page = await run_in_threadpool(
                search_page, engine, kind, template, start, limit, started + page_seconds
            )
            elapsed = time.monotonic() - started
            org = {"org": context["org"]} if "org" in context else {}
            entries = []
            for f in page.found:
                asked = as_evaluation(f.request)
                asked["context"].update(org)
                entries.append((asked, decision_body(f.decision, False), f.decision.policy_version))
            recorder.record(rid, entries, elapsed, f"search_{kind}")
            next_token = "" if page.cursor is None else tokens.issue(key, page.cursor, version)
            return {
                "page": {"next_token": next_token, "count": len(page.found)},
                "results": [_result(kind, template, f.id) for f in page.found],
            }

        return search

    kinds = ("subject", "resource", "action")
    return [
        *(Route(f"/access/v1/search/{k}", wrap(route(k)), methods=["POST"]) for k in kinds),
        # one base URL per org (AuthZEN 9.2): the path names the org
        *(Route(f"/{{org}}/access/v1/search/{k}", wrap(route(k)), methods=["POST"]) for k in kinds),
    ]
