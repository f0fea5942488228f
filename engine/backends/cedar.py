"""The Cedar backend: pre-parsed policy set, schema and entities; one cedarpy call a request,
and one more for an allow's obligations (cedar_obligations.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cedarpy

from suite_authz.engine.backends import GrantRef, RawAnswer
from suite_authz.engine.backends.cedar_entities import cedar_entities
from suite_authz.engine.backends.cedar_obligations import CedarObligations
from suite_authz.engine.entities import NEW_RECORD_ENTITY_ID, OrgIndex, uid
from suite_authz.engine.policies import PolicyInfo, PolicySet
from suite_authz.engine.request import Request


class CedarBackend:
    name = "cedar"

    def __init__(self, policies: PolicySet, index: OrgIndex) -> None:
        self._policies = policies.handle
        self._grants = policies.grants_handle
        self._infos: dict[str, PolicyInfo] = policies.policies
        self._schema = policies.schema
        self._entities = cedar_entities(index, policies)
        self._org_id = index.org.id
        self._entity_type = {m: info.entity for m, info in policies.catalogue.modules.items()}
        self._obligations = CedarObligations(policies, index, self.cedar_request)

    def cedar_request(self, request: Request) -> dict[str, Any]:
        """The request as Cedar sees it: typed uids and a typed context, no text pasted."""
        kind = request.resource_type
        context: dict[str, Any] = {"channel": request.channel}
        if kind == "user":
            resource = {"type": "User", "id": request.resource_id or ""}
            context["product"] = uid("Product", str(request.context["product"]))
        elif kind == "org":
            resource = {"type": "Org", "id": request.resource_id or self._org_id}
            context["enrolments"] = request.context.get("enrolments", 0)
        else:
            resource = {
                "type": self._entity_type[kind],
                "id": request.resource_id or NEW_RECORD_ENTITY_ID,
            }
            context["fields"] = [f"{kind}.{f}" for f in request.fields]
            if "sender" in request.context:
                context["sender"] = request.context["sender"]
        if "acting_as" in request.context:
            context["acting_as"] = uid("User", str(request.context["acting_as"]))
        return {
            "principal": {"type": "User", "id": request.subject},
            "action": {"type": "Action", "id": request.action},
            "resource": resource,
            "context": context,
        }

    def answer(self, request: Request) -> RawAnswer:
        result = cedarpy.is_authorized(
            self.cedar_request(request), self._policies, self._entities, self._schema
        )
        raw = self._raw(result)
        return self._obligations.complete([request], [raw])[0] if raw.allowed else raw

    def answer_many(self, requests: Sequence[Request]) -> list[RawAnswer]:
        return self._obligations.complete(requests, self._batch(requests, self._policies))

    def grants_many(self, requests: Sequence[Request]) -> list[RawAnswer]:
        return self._batch(requests, self._grants)

    def _batch(self, requests: Sequence[Request], policies: Any) -> list[RawAnswer]:
        if not requests:
            return []
        results = cedarpy.is_authorized_batch(
            [self.cedar_request(r) for r in requests], policies, self._entities, self._schema
        )
        return [self._raw(r) for r in results]

    def seat_rules(self) -> dict[tuple[str, str], tuple[str, ...]]:
        out: dict[tuple[str, str], tuple[str, ...]] = {}
        for info in self._infos.values():
            if info.effect == "permit" and info.product and info.seat:
                key = (info.product, info.seat)
                out[key] = tuple(sorted({*out.get(key, ()), *info.rules}))
        return out

    def _raw(self, result: Any) -> RawAnswer:
        diagnostics = result.diagnostics
        errors = tuple(diagnostics.errors)
        determining = tuple(sorted(diagnostics.reasons))
        infos = [self._infos[p] for p in determining if p in self._infos]
        # Fail closed: an evaluation error anywhere (a forbid that could not be evaluated is a
        # forbid that did not fire) makes the answer a deny.
        return RawAnswer(
            allowed=result.allowed and not errors,
            determining=determining,
            grants=tuple(
                GrantRef(rule, info.product or "crm")
                for info in infos
                if info.effect == "permit"
                for rule in info.rules
            ),
            restrictions=tuple(
                sorted({r for info in infos if info.effect == "forbid" for r in info.rules})
            ),
            errors=errors,
        )
