"""`POST /access/v1/plan/resource` (and its per-org form): which records of a type a user may act
on, as a condition over the record's attributes (`Engine.plan`, engine/core/plan.py), for a
list view to filter in its own database. An extension of AuthZEN beside the resource search:
the same body (no page: a plan is one answer), validated as an evaluation's is, the same guard.

A policy set the planner cannot follow for the request is a 422 naming why and pointing at
the resource search, which answers it record by record. Each plan answered is one line of
the decision log (`plan`, with `decision` null: a plan decides no record) and counted by its
kind (`authz_plans_total`); a plan that cannot be logged is not answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest

from suite_authz.engine.core import Engine, Plan, Unplannable
from suite_authz.server.authzen import HttpError, parse_evaluation
from suite_authz.server.bodies import body_of
from suite_authz.server.readiness import Readiness
from suite_authz.server.recording import Recorder
from suite_authz.server.routes import RouteSpec
from suite_authz.server.wire import PlanRequest

PLAN_PATH = "/access/v1/plan/resource"
SEARCH_PATH = "/access/v1/search/resource"


def plan_routes(
    engine_of: Callable[[dict[str, Any], str | None], Engine],
    recorder: Recorder,
    readiness: Callable[[], Readiness | None],
) -> list[RouteSpec]:
    async def plan(request: HttpRequest, rid: str) -> dict[str, Any]:
        body = await body_of(request)
        template, context = parse_evaluation(body, shape=PlanRequest)
        engine = engine_of(context, request.path_params.get("org"))
        engine.validate(template)
        started = time.perf_counter()
        try:
            made: Plan = await run_in_threadpool(engine.plan, template)
        except Unplannable as exc:
            recorder.metrics.plan_answered("unplannable")
            seen = readiness()
            if seen is not None:
                seen.unplannable(engine.org.id, engine, str(exc))
            raise HttpError(
                422,
                f"no plan for `{template.action}` on `{template.resource_type}`: {exc}; "
                f"ask {SEARCH_PATH} instead, which answers record by record",
            ) from None
        answer = made.to_dict()
        _log(recorder, rid, body, answer, time.perf_counter() - started)
        recorder.metrics.plan_answered(made.kind)
        return answer

    return [RouteSpec(PLAN_PATH, ("POST",), plan, per_org=True)]


def _log(recorder: Recorder, rid: str, body: Any, answer: dict[str, Any], seconds: float) -> None:
    """The plan's line: what was asked and the plan answered (no record was decided)."""
    if recorder.log is None:
        return
    try:
        recorder.log.write_plan(rid, body, answer, seconds * 1000)
    except OSError:
        recorder.metrics.log_failed()
        raise HttpError(
            503, "the decision log cannot be written: no plan is answered unlogged"
        ) from None
