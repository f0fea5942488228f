"""AuthZEN 1.0 JSON <-> the engine's Request and Decision. Errors name the bad field.

Mapping: subject {type: "user", id}; action {name}; resource {type, id, properties.fields?}
(id "#new": a record not created yet, the one extension);
context {channel?, acting_as?, sender?, product?, enrolments?, org?, explain?}. Unknown fields
are ignored, as the spec asks of receivers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from suite_authz.engine.core import NEW_RECORD_ID, Decision, Request
from suite_authz.server.wire import Action, Evaluation, problem

ENGINE_CONTEXT = ("acting_as", "sender", "product", "enrolments")


class BadRequest(Exception):
    """A payload that is not an AuthZEN request: HTTP 400, never a decision."""


class HttpError(Exception):
    """An answer other than 200 or 400, with its status (401, 403, 409, 413, 503)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def parse_evaluation(
    body: dict[str, Any], where: str = "", *, shape: type[BaseModel] = Evaluation
) -> tuple[Request, dict[str, Any]]:
    """One evaluation: the engine's Request, and the AuthZEN context it came with. `shape`:
    the model it must match (server/wire.py; a search's leaves out what it searches for)."""
    try:
        parsed: Any = shape.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(problem(exc, where)) from None
    resource = parsed.resource
    rid = resource.id
    fields = resource.properties.fields if resource.properties is not None else []
    context: dict[str, Any] = body.get("context") or {}
    given = parsed.context
    extra = {}
    channel = "crm"
    if given is not None:
        channel = given.channel
        extra = {k: context[k] for k in ENGINE_CONTEXT if context.get(k) is not None}
    subject_id = parsed.subject.id or "?"
    action = parsed.action.name if isinstance(parsed.action, Action) else "view"
    request = Request(
        subject_id,
        action,
        resource.type,
        None if rid in (None, NEW_RECORD_ID) else rid,
        channel,
        tuple(fields),
        extra,
    )
    return request, context


def merged(defaults: dict[str, Any], item: Any, n: int) -> dict[str, Any]:
    """An item of `evaluations`, with the top-level defaults for what it leaves out."""
    if not isinstance(item, dict):
        raise BadRequest(f"evaluations[{n}]: must be an object")
    out: dict[str, Any] = {
        k: defaults[k] for k in ("subject", "action", "resource", "context") if k in defaults
    }
    out.update({k: v for k, v in item.items() if k in ("subject", "action", "resource", "context")})
    return out


def decision_body(decision: Decision, explain: bool) -> dict[str, Any]:
    """AuthZEN Decision: the engine's explanation in `context`, short unless asked for."""
    if explain:
        context: dict[str, Any] = decision.to_dict()
        del context["decision"]
    else:
        context = {"rules": list(decision.rules), "policy_version": decision.policy_version}
        if decision.allowed:
            context["acting_as"] = decision.acting_as.to_dict() if decision.acting_as else None
            if decision.sender:
                context["sender"] = decision.sender
            if decision.redact_fields:
                context["redact_fields"] = list(decision.redact_fields)
        else:
            context["reasons"] = list(decision.reasons)
            if decision.missing:
                context["missing"] = list(decision.missing)
            if decision.errors:
                # requests are validated before they are decided: an error left on a
                # decision is the server's (a backend that failed), answered closed
                context["error"] = {"status": 500, "message": decision.errors[0]}
    return {"decision": decision.allowed, "context": context}
