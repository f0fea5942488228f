"""AuthZEN 1.0 JSON <-> the engine's Request and Decision. Errors name the bad field.

Mapping: subject {type: "user", id}; action {name}; resource {type, id, properties.fields?}
(id "#new": a record not created yet, the one extension);
context {channel?, acting_as?, sender?, product?, enrolments?, org?, explain?}. Unknown fields
are ignored, as the spec asks of receivers.
"""

from __future__ import annotations

from typing import Any

from engine import Decision, Request
from engine.request import NEW_RECORD_ID

ENGINE_CONTEXT = ("acting_as", "sender", "product", "enrolments")


class BadRequest(Exception):
    """A payload that is not an AuthZEN request: HTTP 400, never a decision."""


class HttpError(Exception):
    """An answer other than 200 or 400, with its status (401, 403, 409, 413, 503)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# Field paths in messages are put together only when something is wrong: a batch parses every
# item, and the messages are never needed on the way to a decision.


def _object(value: Any, p: str, name: str, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(
            f"{p}{name}: must be an object" if value is not None else f"{p}{name}: required"
        )
    return value


def _string(obj: dict[str, Any], key: str, p: str, name: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(
            f"{p}{name}.{key}: " + ("required" if value is None else "must be a non-empty string")
        )
    return value


def parse_evaluation(
    body: dict[str, Any], where: str = "", *, resource_search: bool = False
) -> tuple[Request, dict[str, Any]]:
    """One evaluation: the engine's Request, and the AuthZEN context it came with.
    `resource_search`: the resource's id is what is searched for, so it is not asked for."""
    p = f"{where}." if where else ""
    subject = _object(body.get("subject"), p, "subject")
    if subject.get("type") != "user":
        raise BadRequest(f'{p}subject.type: must be "user"')
    sid = _string(subject, "id", p, "subject")
    action = _object(body.get("action"), p, "action")
    name = _string(action, "name", p, "action")
    resource = _object(body.get("resource"), p, "resource")
    kind = _string(resource, "type", p, "resource")
    rid = _string(resource, "id", p, "resource", required=False)
    if rid is None and not resource_search:
        raise BadRequest(
            f'{p}resource.id: required; to ask about a new record of the type, send "id": '
            f'"{NEW_RECORD_ID}"'
        )
    if rid == NEW_RECORD_ID:
        rid = None
    props = _object(resource.get("properties"), p, "resource.properties", required=False)
    fields = props.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise BadRequest(f"{p}resource.properties.fields: must be a list of strings")
    context = _object(body.get("context"), p, "context", required=False)
    channel = context.get("channel", "crm")
    if not isinstance(channel, str):
        raise BadRequest(f"{p}context.channel: must be a string")
    extra = {k: context[k] for k in ENGINE_CONTEXT if k in context}
    if "explain" in context and not isinstance(context["explain"], bool):
        raise BadRequest(f"{p}context.explain: must be true or false")
    assert sid is not None and name is not None and kind is not None
    return Request(sid, name, kind, rid, channel, tuple(fields), extra), context


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
                context["error"] = {
                    "status": 400 if decision.invalid else 500,
                    "message": decision.errors[0],
                }
    return {"decision": decision.allowed, "context": context}
