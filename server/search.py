"""The three search routes: off the event loop, a page at a time, every result logged.

A search runs in a worker thread with a deadline per page, and the engine asks about
candidates in small batches (engine/serving/search.py), so evaluations keep being answered while it
runs. A resource search is answered from the query plan, and record by record (counted in
`authz_plan_fallbacks_total`, and shown by /readyz) when the policies do not plan for it.
Each result is an allowed decision, logged and counted like an evaluation's; a page that
found nothing is logged as a search of its own, so that no answered search goes unseen.

At most `max_searches` pages are computed at a time in a worker (SearchGate): each holds the
GIL in its batches, and two at once took single evaluations' p99 from 2 to 90.7 ms.
The rest wait their turn a short while, then get a 503 with Retry-After.

A page token is bound to the request, the search kind and the org that answered (path or
context): one issued by `/demo/.../search/subject` never pages through another org's or
another kind's candidates, whose cursors count something else.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest

from suite_authz.engine.core import Engine, Request
from suite_authz.engine.serving import Found, as_evaluation, search_page
from suite_authz.server.authzen import HttpError, decision_body, parse_evaluation
from suite_authz.server.bodies import body_of
from suite_authz.server.page_tokens import PageTokens, page_spec, request_key
from suite_authz.server.recording import Recorder
from suite_authz.server.routes import RouteSpec
from suite_authz.server.state import State
from suite_authz.server.wire import ActionSearch, ResourceSearch, SubjectSearch

PAGE_SECONDS = 1.0  # a page is cut short after this; its token goes on from there
MAX_SEARCHES = 1  # pages computed at once per worker (`authz serve --max-searches`)
QUEUE_SECONDS = 2.0  # how long a search beyond them waits for its turn before a 503
MAX_QUEUED = 16  # searches waiting at once per worker; past them, a 503 straight away

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


class ShortSwitches:
    """While a search page computes on a worker thread, the event loop waits for the GIL after
    each wake-up up to the interpreter's switch interval, 5 ms by default: 4 list views at once
    held single evaluations at p50 11-13 ms, p99 33-47 ms. A 0.5 ms interval fixes that, but
    kept all the time it cost single evaluations 10-30% more CPU and a worse p99 (the loop is
    then made to hand over the GIL to idle threads' wake-ups): so it is short only while some
    page is computing, in this process."""

    def __init__(self, interval: float = 0.0005) -> None:
        self.interval = interval
        self._running = 0
        self._saved = sys.getswitchinterval()
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            if self._running == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(self.interval)
            self._running += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0:
                sys.setswitchinterval(self._saved)


SHORT_SWITCHES = ShortSwitches()  # the interval is the process's: one for every app in it


class SearchGate:
    """At most `limit` search pages computed at once in this worker; `queue_seconds`: how
    long one beyond them waits for a turn (0: a 503 at once)."""

    def __init__(self, limit: int = MAX_SEARCHES, queue_seconds: float = QUEUE_SECONDS) -> None:
        if limit < 1:
            raise ValueError(f"max searches: {limit}; at least 1")
        self.limit = limit
        self.queue_seconds = queue_seconds
        self.queued = 0
        self._slots = asyncio.Semaphore(limit)

    def busy(self) -> bool:
        return self._slots.locked()

    async def take(self) -> None:
        await self._slots.acquire()

    def give(self) -> None:
        self._slots.release()

    async def enter(self) -> None:
        """A turn, or HttpError 503 when none comes in time."""
        if not self.busy():
            await self.take()
            return
        if self.queue_seconds <= 0 or self.queued >= MAX_QUEUED:
            raise _busy(self.limit)
        self.queued += 1
        try:
            await asyncio.wait_for(self.take(), self.queue_seconds)
        except TimeoutError:
            raise _busy(self.limit) from None
        finally:
            self.queued -= 1


def _busy(limit: int) -> HttpError:
    return HttpError(
        503,
        f"search: {limit} already running in this worker, try again shortly",
        {"Retry-After": "1"},
    )


def _page_key(body: dict[str, Any], kind: str, path_org: str | None, org: str) -> str:
    """What a token pages through: the request, and the search kind and org it was asked of
    (the path's, None on the root paths, and the one that answered)."""
    bound = json.dumps([request_key(body), kind, path_org, org])
    return hashlib.sha256(bound.encode()).hexdigest()[:16]


def search_routes(
    state: State,
    engine_of: Callable[[dict[str, Any], str | None], Engine],
    recorder: Recorder,
    tokens: PageTokens,
    page_seconds: float = PAGE_SECONDS,
    gate: SearchGate | None = None,
) -> list[RouteSpec]:
    turns = gate if gate is not None else SearchGate()

    def version_of(engine: Engine, org: object) -> str:
        served = state.served
        org_version = served.org_versions.get(engine.org.id) if served else None
        return f"{engine.policies.version}/{org}/{org_version}"

    async def page_of(
        engine: Engine, kind: str, template: Request, start: int, limit: int
    ) -> tuple[Any, float]:
        await turns.enter()
        try:
            started = time.monotonic()
            with SHORT_SWITCHES:
                page = await run_in_threadpool(
                    search_page, engine, kind, template, start, limit, started + page_seconds
                )
            return page, time.monotonic() - started
        finally:
            turns.give()

    def route(kind: str) -> Endpoint:
        async def search(request: HttpRequest, rid: str) -> dict[str, Any]:
            body = await body_of(request)
            template, context = _template(body, kind)
            path_org = request.path_params.get("org")
            engine = engine_of(context, path_org)
            limit, token = page_spec(body)
            key = _page_key(body, kind, path_org, engine.org.id)
            version = version_of(engine, context.get("org"))
            start = 0 if token is None else tokens.read(token, key, version)
            page, elapsed = await page_of(engine, kind, template, start, limit)
            org = {"org": context["org"]} if "org" in context else {}
            if page.found:
                _record_found(recorder, rid, kind, template, page.found, org, elapsed)
            else:
                _record_empty(recorder, rid, body, kind, engine.policies.version, elapsed)
            recorder.metrics.search_page(kind, len(page.found))
            if page.unplanned is not None:  # asked record by record: the plan could not be made
                recorder.metrics.plan_fallback()
                state.readiness.unplannable(engine.org.id, engine, page.unplanned)
            next_token = "" if page.cursor is None else tokens.issue(key, page.cursor, version)
            return {
                "page": {"next_token": next_token, "count": len(page.found)},
                "results": [_result(kind, template, f.id) for f in page.found],
            }

        return search

    # one base URL per org (AuthZEN 9.2): the per-org form's path names the org
    kinds = ("subject", "resource", "action")
    return [RouteSpec(f"/access/v1/search/{k}", ("POST",), route(k), per_org=True) for k in kinds]


def _record_found(
    recorder: Recorder,
    rid: str,
    kind: str,
    template: Request,
    found: tuple[Found, ...],
    org: dict[str, Any],
    seconds: float,
) -> None:
    """Each result logged with its own request and decision. A record search's results
    differ from its template only in the record id (and share a few decisions): logged from
    the template, each answer's body built once."""
    batch = f"search_{kind}"
    version = found[0].decision.policy_version
    if kind == "resource" and all(f.decision.policy_version == version for f in found):
        asked = as_evaluation(template)
        asked["context"].update(org)
        bodies: dict[int, dict[str, Any]] = {}
        results = []
        for f in found:
            body = bodies.get(id(f.decision))
            if body is None:
                body = bodies[id(f.decision)] = decision_body(f.decision, False)
            results.append((f.id, body))
        recorder.record_results(rid, asked, results, version, seconds, batch)
        return
    entries = []
    for f in found:
        asked = as_evaluation(f.request)
        asked["context"].update(org)
        entries.append((asked, decision_body(f.decision, False), f.decision.policy_version))
    recorder.record(rid, entries, seconds, batch)


def _record_empty(
    recorder: Recorder, rid: str, body: dict[str, Any], kind: str, version: str, seconds: float
) -> None:
    """A page that found nothing, logged as the search it was (no decision was answered) and
    timed as a page of none; a line that cannot be written answers nothing, as for results."""
    if recorder.log is not None:
        try:
            recorder.log.write_search(rid, body, kind, version, seconds * 1000)
        except OSError:
            recorder.metrics.log_failed()
            raise HttpError(
                503, "the decision log cannot be written: no search is answered unlogged"
            ) from None
    recorder.metrics.decisions_of([], seconds, f"search_{kind}")
