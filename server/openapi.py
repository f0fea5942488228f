"""The OpenAPI description served at /openapi.json."""

from __future__ import annotations

from typing import Any

_ENTITY = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string"},
        "id": {"type": "string"},
        "properties": {"type": "object"},
    },
}
_SUBJECT = {
    "type": "object",
    "required": ["type", "id"],
    "properties": {
        "type": {"type": "string", "enum": ["user"]},
        "id": {"type": "string", "minLength": 1},
    },
}
_ACTION = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}, "properties": {"type": "object"}},
}
_CONTEXT = {
    "type": "object",
    "description": "channel (crm|direct, default crm); org (which org, when the server serves "
    "several); explain (true: the complete explanation); acting_as, sender, "
    "product (enrolment), enrolments (migration).",
    "properties": {
        "channel": {"type": "string", "enum": ["crm", "direct"]},
        "org": {"type": "string"},
        "explain": {"type": "boolean"},
        "acting_as": {"type": "string"},
        "sender": {"type": "string"},
        "product": {"type": "string"},
        "enrolments": {"type": "integer"},
    },
}
_EVALUATION: dict[str, Any] = {
    "type": "object",
    "required": ["subject", "action", "resource"],
    "properties": {
        "subject": _SUBJECT,
        "action": _ACTION,
        "resource": _ENTITY,
        "context": _CONTEXT,
    },
}
_DECISION = {
    "type": "object",
    "required": ["decision"],
    "properties": {
        "decision": {"type": "boolean"},
        "context": {
            "type": "object",
            "description": "rules, policy_version; on an allow acting_as, sender, "
            "redact_fields; on a deny reasons, missing, error",
        },
    },
}
_ERROR = {
    "type": "object",
    "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
}
_PAGE = {
    "type": "object",
    "properties": {"token": {"type": "string"}, "limit": {"type": "integer", "minimum": 0}},
}
_SEARCH_RESPONSE = {
    "type": "object",
    "required": ["results"],
    "properties": {
        "page": {"type": "object"},
        "results": {"type": "array", "items": {"type": "object"}},
    },
}


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


def _get(summary: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": {"description": "ok"}}}}


def openapi() -> dict[str, Any]:
    search = {**_EVALUATION, "properties": {**_EVALUATION["properties"], "page": _PAGE}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "suite-authz: OpenID AuthZEN Authorization API 1.0", "version": "1.0"},
        "paths": {
            "/access/v1/evaluation": _post(
                "One access evaluation", _EVALUATION, _DECISION, _EVALUATION_ERRORS
            ),
            "/access/v1/evaluations": _post(
                "Several evaluations; top-level subject/action/resource/context are defaults",
                {
                    "type": "object",
                    "properties": {
                        **_EVALUATION["properties"],
                        "evaluations": {"type": "array", "items": {"type": "object"}},
                        "options": {
                            "type": "object",
                            "properties": {
                                "evaluations_semantic": {
                                    "type": "string",
                                    "enum": [
                                        "execute_all",
                                        "deny_on_first_deny",
                                        "permit_on_first_permit",
                                    ],
                                }
                            },
                        },
                    },
                },
                {
                    "type": "object",
                    "properties": {"evaluations": {"type": "array", "items": _DECISION}},
                },
                _EVALUATION_ERRORS,
            ),
            "/access/v1/search/subject": _post(
                "Who may act on this record", search, _SEARCH_RESPONSE
            ),
            "/access/v1/search/resource": _post(
                "Which records of a type this user may act on", search, _SEARCH_RESPONSE
            ),
            "/access/v1/search/action": _post(
                "What this user may do to this record", search, _SEARCH_RESPONSE
            ),
            "/.well-known/authzen-configuration": _get("PDP metadata"),
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
