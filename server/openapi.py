"""The OpenAPI description served at /openapi.json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from suite_authz.server import wire

_MODELS: tuple[type[BaseModel], ...] = (
    wire.Evaluation,
    wire.Evaluations,
    wire.SubjectSearch,
    wire.ResourceSearch,
    wire.ActionSearch,
    wire.PlanRequest,
    wire.DecisionBody,
    wire.EvaluationsBody,
    wire.SearchBody,
    wire.PlanBody,
    wire.ErrorBody,
    wire.Metadata,
)
_, _SCHEMAS = models_json_schema(
    [(m, "validation") for m in _MODELS], ref_template="#/components/schemas/{model}"
)


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


_ERROR = _ref(wire.ErrorBody)
_DECISION = _ref(wire.DecisionBody)
_SEARCH_RESPONSE = _ref(wire.SearchBody)


_USAGE_ROW = {
    "type": "object",
    "required": ["user", "module", "events", "last_used"],
    "properties": {
        "user": {"type": "string"},
        "product": {"type": "string", "enum": ["books", "subscriptions"]},
        "module": {"type": "string"},
        "events": {"type": "integer", "minimum": 0},
        "last_used": {"type": "string", "format": "date"},
    },
}
_PLAN_REQUEST = {
    "type": "object",
    "required": ["org"],
    "properties": {
        "org": {"type": "string"},
        "usage": {"type": "array", "items": _USAGE_ROW},
        "as_of": {"type": "string", "format": "date", "description": "default: today (UTC)"},
        "impact": {"type": "boolean", "description": "add each user's rights, old and new"},
    },
}
_PLAN = {
    "type": "object",
    "description": "kind, format, org, org_version, as_of, window, limit, completes, counts, "
    "enrolments, users (outcome and reason per user and product), plan_id; impact when asked",
}
_APPLY_REQUEST = {
    "type": "object",
    "required": ["plan", "as"],
    "properties": {
        "plan": _PLAN,
        "as": {"type": "string", "description": "the CRM admin applying it (D12)"},
    },
}
_APPLIED = {
    "type": "object",
    "properties": {
        "applied": {"type": "boolean", "description": "false: this plan was applied already"},
        "org": {"type": "string"},
        "plan_id": {"type": "string"},
        "version": {"type": "integer"},
        "enrolled": {"type": "integer"},
        "at": {"type": "string"},
        "actor": {"type": "string"},
    },
}
_EVALUATION_ERRORS = (
    (405, "a method other than POST"),
    (500, "the server failed: never a decision"),
)
_MIGRATION_ERRORS = (
    (403, "the engine refused (only a CRM admin, the limit: D12), or no --token-file"),
    (409, "stale plan: the org changed since the plan was made"),
    (503, "the store does not answer: nothing was read or written (Retry-After)"),
)


def _post(
    summary: str,
    request: dict[str, Any],
    response: dict[str, Any],
    more: tuple[tuple[int, str], ...] = (),
) -> dict[str, Any]:
    errors = {
        str(code): {"description": text, "content": {"application/json": {"schema": _ERROR}}}
        for code, text in (
            (400, "malformed JSON or a wrong shape"),
            (401, "missing or wrong bearer token"),
            (413, "body larger than 1 MiB"),
            (415, "a body that is not application/json"),
            *more,
        )
    }
    return {
        "post": {
            "summary": summary,
            "parameters": [
                {
                    "name": "X-Request-ID",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
            "responses": {
                "200": {
                    "description": "the answer",
                    "content": {"application/json": {"schema": response}},
                },
                **errors,
            },
        }
    }


def _get(summary: str, model: type[BaseModel] | None = None, org: bool = False) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "ok"}
    if model is not None:
        ok["content"] = {"application/json": {"schema": _ref(model)}}
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": ok}}
    if org:
        operation["parameters"] = [
            {"name": "org", "in": "path", "required": True, "schema": {"type": "string"}}
        ]
        operation["responses"]["404"] = {"description": "no such org at this server"}
    return {"get": operation}


# A search beyond `authz serve --max-searches` that found no turn in time (server/search.py)
_SEARCH_ERRORS = (
    (
        503,
        "searches at their limit on this worker, or the decision log cannot be written "
        "(Retry-After)",
    ),
)


# The query plan (server/plan.py): a 422 when the policy set does not plan for the request
_PLAN_ERRORS = (
    (
        422,
        "the policies read a record in a way the planner does not follow (or the type is not "
        "a record type): ask /access/v1/search/resource instead",
    ),
    (503, "the decision log cannot be written (Retry-After)"),
)


def _authzen(org: bool) -> dict[str, Any]:
    """The five AuthZEN routes and the plan, at the root or under one org's base path
    (AuthZEN 9.2)."""
    base = "/{org}" if org else ""
    paths = {
        f"{base}/access/v1/evaluation": _post(
            "One access evaluation", _ref(wire.Evaluation), _DECISION, _EVALUATION_ERRORS
        ),
        f"{base}/access/v1/evaluations": _post(
            "Several evaluations; top-level subject/action/resource/context are defaults",
            _ref(wire.Evaluations),
            {"oneOf": [_ref(wire.EvaluationsBody), _DECISION]},
            _EVALUATION_ERRORS,
        ),
        f"{base}/access/v1/search/subject": _post(
            "Who may act on this record",
            _ref(wire.SubjectSearch),
            _SEARCH_RESPONSE,
            _SEARCH_ERRORS,
        ),
        f"{base}/access/v1/search/resource": _post(
            "Which records of a type this user may act on",
            _ref(wire.ResourceSearch),
            _SEARCH_RESPONSE,
            _SEARCH_ERRORS,
        ),
        f"{base}/access/v1/search/action": _post(
            "What this user may do to this record",
            _ref(wire.ActionSearch),
            _SEARCH_RESPONSE,
            _SEARCH_ERRORS,
        ),
        f"{base}/access/v1/plan/resource": _post(
            "Which records of a type this user may act on, as a condition over each record's "
            "attributes (an extension: docs/api.md)",
            _ref(wire.PlanRequest),
            _ref(wire.PlanBody),
            _PLAN_ERRORS,
        ),
    }
    if org:
        parameter = {"name": "org", "in": "path", "required": True, "schema": {"type": "string"}}
        for item in paths.values():
            item["post"]["parameters"].append(parameter)
            item["post"]["responses"]["404"] = {
                "description": "no such org at this server",
                "content": {"application/json": {"schema": _ERROR}},
            }
    return paths


def openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "suite-authz: OpenID AuthZEN Authorization API 1.0", "version": "1.0"},
        "components": {"schemas": _SCHEMAS["$defs"]},
        "paths": {
            **_authzen(org=False),
            **_authzen(org=True),
            "/.well-known/authzen-configuration": _get("PDP metadata", wire.Metadata),
            "/.well-known/authzen-configuration/{org}": _get(
                "One org's PDP metadata (its own identifier)", wire.Metadata, org=True
            ),
            "/healthz": _get("alive"),
            "/readyz": _get("policies and org data loaded and validated"),
            "/metrics": _get("Prometheus metrics"),
            "/openapi.json": _get("this document"),
            "/migration/v1/plan": _post(
                "D12: plan an org's migration (and its impact); needs the server's token",
                _PLAN_REQUEST,
                _PLAN,
                _MIGRATION_ERRORS[:1],
            ),
            "/migration/v1/apply": _post(
                "D12: apply a plan in one transaction, as a CRM admin; needs the token",
                _APPLY_REQUEST,
                _APPLIED,
                _MIGRATION_ERRORS,
            ),
            "/migration/v1/history": {
                "get": {
                    "summary": "D12: applied and refused migrations of an org",
                    "parameters": [
                        {
                            "name": "org",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": {"description": "entries, oldest first"}},
                }
            },
        },
    }
