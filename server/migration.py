"""The migration routes (D12) of the sidecar: plan (with impact), apply, history.

They change org data, so they exist only on a server run with a token (`--token-file`), and
apply is decided by the engine like any enrolment: only a CRM admin, named in `as`, may. Each
call opens its own store connection, so a transaction here never mixes with the reload
watcher's reads, and the watcher picks the applied version up like an import.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest

from suite_authz.engine.core import PolicySet
from suite_authz.engine.migration import apply_plan, migration_history, plan_org
from suite_authz.engine.serving import DecisionLog, decision_sink
from suite_authz.engine.store import OrgStore
from suite_authz.server.authzen import BadRequest, HttpError
from suite_authz.server.bodies import body_of
from suite_authz.server.routes import RouteSpec
from suite_authz.server.state import State


def migration_routes(
    state: State, has_token: bool, decision_log: DecisionLog | None
) -> list[RouteSpec]:
    routes = _Migration(state, has_token, decision_log)
    return [
        RouteSpec("/migration/v1/plan", ("POST",), routes.plan),
        RouteSpec("/migration/v1/apply", ("POST",), routes.apply),
        RouteSpec("/migration/v1/history", ("GET",), routes.history),
    ]


class _Migration:
    def __init__(self, state: State, has_token: bool, decision_log: DecisionLog | None) -> None:
        self.state = state
        self.has_token = has_token
        self.decision_log = decision_log

    def policies(self) -> PolicySet:
        served = self.state.served
        if served is None:
            raise HttpError(503, "not ready: policies and org data are not loaded")
        return served.policies

    def store(self) -> OrgStore:
        if not self.has_token:
            raise HttpError(
                403, "the migration routes change org data: run the server with --token-file"
            )
        return self.state.store  # shared: thread-safe on both engines, one pool on PostgreSQL

    async def plan(self, request: HttpRequest, rid: str) -> dict[str, Any]:
        body = await body_of(request)
        org_id = _field(body, "org", str)
        usage = _field(body, "usage", list, required=False)
        as_of_text = _field(body, "as_of", str, required=False)
        try:
            as_of = date.fromisoformat(as_of_text) if as_of_text else datetime.now(UTC).date()
        except ValueError:
            raise BadRequest(f"as_of: `{as_of_text}` is not a date (YYYY-MM-DD)") from None
        impact = _field(body, "impact", bool, required=False) is True
        opened = self.store()
        current = self.policies()
        return await run_in_threadpool(plan_org, opened, current, org_id, usage, as_of, impact)

    async def apply(self, request: HttpRequest, rid: str) -> dict[str, Any]:
        body = await body_of(request)
        actor = _field(body, "as", str)
        made = _field(body, "plan", dict)
        opened = self.store()
        current = self.policies()
        log = self.decision_log
        sink = decision_sink(log, rid) if log is not None else None
        # a refusal (403) and a stale plan (409) carry their status (server/errors.py)
        done = await run_in_threadpool(apply_plan, opened, current, made, actor, sink)
        return {
            "applied": done.changed,
            "org": done.org,
            "plan_id": done.plan_id,
            "version": done.version,
            "enrolled": done.enrolled,
            "at": done.at,
            "actor": done.actor,
        }

    async def history(self, request: HttpRequest, rid: str) -> dict[str, Any]:
        org_id = request.query_params.get("org")
        if not org_id:
            raise BadRequest("org: the query parameter `org` is required")
        opened = self.store()
        return {"entries": [e.to_dict() for e in migration_history(opened, org_id)]}


def _field(body: dict[str, Any], name: str, kind: type, required: bool = True) -> Any:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise BadRequest(f"{name}: must be a {kind.__name__}")
    return value
