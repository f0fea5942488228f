"""The question a caller asks: may SUBJECT take ACTION on RESOURCE, through CHANNEL?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from suite_authz.engine.core.catalogue import ADMIN_ACTIONS, CHANNELS, RECORD_ACTIONS, Catalogue
from suite_authz.engine.core.errors import InvalidRequest
from suite_authz.engine.core.suggestions import did_you_mean

# Context keys a caller may send, and their types. Anything else is refused by name.
CONTEXT_KEYS: dict[str, type] = {
    "acting_as": str,  # D1: the identity the caller wants the action to run under
    "sender": str,  # D11: the address the caller wants a mail to leave from
    "product": str,  # D12: the product an enrolment is for
    "enrolments": int,  # D12: how many users a migration would enrol
}
_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Request:
    subject: str
    action: str
    resource_type: str
    resource_id: str | None = None
    channel: str = "crm"
    fields: tuple[str, ...] = ()
    context: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    @property
    def resource(self) -> str:
        return (
            self.resource_type
            if self.resource_id is None
            else (f"{self.resource_type}:{self.resource_id}")
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "action": self.action,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "channel": self.channel,
            "fields": list(self.fields),
            "context": dict(sorted(self.context.items())),
        }


# The id a request over AuthZEN gives "a new record of this type" (AuthZEN requires
# resource.id). No record can have it: org ids may not start with `#` (engine/core/model.py `Id`).
NEW_RECORD_ID = "#new"


def parse_resource(text: str) -> tuple[str, str | None]:
    """`estimate:est-1` -> ("estimate", "est-1"); `estimate` and `estimate:#new` -> ("estimate",
    None), a new record, as the sidecar's `"id": "#new"` is."""
    kind, sep, rid = text.partition(":")
    return kind, (rid if sep and rid != NEW_RECORD_ID else None)


def check_request(request: Request, catalogue: Catalogue) -> None:
    """Raise InvalidRequest naming the first thing wrong; the engine turns it into a deny."""
    for name in ("subject", "action", "resource_type", "channel"):
        value = getattr(request, name)
        if not isinstance(value, str) or not value:
            raise InvalidRequest(f"{name}: must be a non-empty string")
    if request.resource_id is not None and (
        not isinstance(request.resource_id, str) or not request.resource_id
    ):
        raise InvalidRequest("resource_id: must be a non-empty string when given")
    if request.channel not in CHANNELS:
        channel = request.channel
        raise InvalidRequest(
            f"channel: `{channel}` is not one of {', '.join(CHANNELS)}"
            f"{did_you_mean(channel, CHANNELS)}"
        )
    action, kind = request.action, request.resource_type
    if action in RECORD_ACTIONS:
        if kind not in catalogue.modules:
            raise InvalidRequest(
                f"resource_type: `{kind}` is not a finance record type"
                f"{did_you_mean(kind, catalogue.modules)} ({', '.join(catalogue.modules)}), "
                f"so `{action}` does not apply"
            )
    elif action in ADMIN_ACTIONS:
        if kind != ADMIN_ACTIONS[action]:
            raise InvalidRequest(
                f"resource_type: `{action}` applies to `{ADMIN_ACTIONS[action]}`, not `{kind}`"
            )
    else:
        known = (*RECORD_ACTIONS, *ADMIN_ACTIONS)
        raise InvalidRequest(
            f"action: `{action}` is not one of {', '.join(known)}{did_you_mean(action, known)}"
        )
    if request.fields:
        if action != "edit":
            raise InvalidRequest(f"fields: only an `edit` touches fields, not `{action}`")
        module = catalogue.modules[kind]
        for f in request.fields:
            if not isinstance(f, str):
                raise InvalidRequest(f"fields: `{f}` is not a field name")
            problem = module.field_problem(f)  # R4: exact names only, never a guess
            if problem is not None:
                raise InvalidRequest(f"fields: {problem}")
    for key, value in request.context.items():
        expected = CONTEXT_KEYS.get(key)
        if expected is None:
            raise _unknown_key(key)
        if type(value) is not expected:
            raise InvalidRequest(f"context.{key}: must be {expected.__name__}")
    if action == "enrol_integration_user":
        product = request.context.get("product")
        if product not in catalogue.products:
            raise InvalidRequest(
                f"context.product: `enrol_integration_user` needs one of "
                f"{', '.join(catalogue.products)}, got `{product}`"
                f"{did_you_mean(product, catalogue.products)}"
            )
    elif "product" in request.context:
        raise InvalidRequest(
            f"context.product: applies to `enrol_integration_user`, not `{action}`"
        )
    if "enrolments" in request.context:
        if action != "run_migration":
            raise InvalidRequest(f"context.enrolments: applies to `run_migration`, not `{action}`")
        count = request.context["enrolments"]
        if not isinstance(count, int) or count < 0:
            raise InvalidRequest("context.enrolments: must be a whole number, 0 or more")
    if action in ADMIN_ACTIONS and kind == "user" and request.resource_id is None:
        raise InvalidRequest("resource_id: `enrol_integration_user` needs the user to enrol")


def context_value(key: str, text: str) -> object:
    """Turn a CLI `KEY=VALUE` value into the type the context key takes."""
    expected = CONTEXT_KEYS.get(key)
    if expected is None:
        raise _unknown_key(key)
    if expected is int:
        try:
            return int(text)
        except ValueError:
            raise InvalidRequest(f"context.{key}: `{text}` is not a whole number") from None
    return text


def _unknown_key(key: str) -> InvalidRequest:
    known = sorted(CONTEXT_KEYS)
    return InvalidRequest(
        f"context.{key}: unknown key{did_you_mean(key, known)} (known: {', '.join(known)})"
    )
