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


def _post(summary: str, request: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    errors = {
        str(code): {"description": text, "content": {"application/json": {"schema": _ERROR}}}
        for code, text in (
            (400, "malformed JSON or a wrong shape"),
            (401, "missing or wrong bearer token"),
            (413, "body larger than 1 MiB"),
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
            "/access/v1/evaluation": _post("One access evaluation", _EVALUATION, _DECISION),
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
        },
    }
