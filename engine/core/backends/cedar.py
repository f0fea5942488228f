"""The Cedar backend: pre-parsed policy set, schema and entities; one Cedar evaluation a
request, and one more for an allow's obligations (cedar_obligations.py), each through
cedar_eval.py (the request's policy slice, and Cedar's answer per request class)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from suite_authz.engine.core.backends import GrantRef, RawAnswer
from suite_authz.engine.core.backends.cedar_classes import Verdict
from suite_authz.engine.core.backends.cedar_eval import CedarEvaluator, ClassCacheStatus
from suite_authz.engine.core.backends.cedar_obligations import CedarObligations
from suite_authz.engine.core.entities import NEW_RECORD_ENTITY_ID, OrgIndex, uid
from suite_authz.engine.core.policies import PolicyInfo, PolicySet
from suite_authz.engine.core.request import Request

RAW_ANSWERS_KEPT = 4096


class CedarBackend:
    name = "cedar"

    def __init__(self, policies: PolicySet, index: OrgIndex, class_cache: int = 0) -> None:
        """`class_cache`: keep Cedar's answers for up to that many request classes; 0 keeps
        none."""
        self._infos: dict[str, PolicyInfo] = policies.policies
        self._org_id = index.org.id
        self._entity_type = {m: info.entity for m, info in policies.catalogue.modules.items()}
        self.evaluator = CedarEvaluator(policies, index, self.cedar_request, class_cache)
        # Cedar's verdicts repeat (a few per class): each one's RawAnswer is worked out once.
        self._raws: dict[Verdict, RawAnswer] = {}
        self._obligations = CedarObligations(policies, index, self.cedar_request, self.evaluator)

    def class_cache(self) -> ClassCacheStatus:
        return self.evaluator.status()

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
        raw = self._batch([request], "deciding")[0]
        return self._obligations.complete([request], [raw])[0] if raw.allowed else raw

    def answer_many(self, requests: Sequence[Request]) -> list[RawAnswer]:
        return self._obligations.complete(requests, self._batch(requests, "deciding"))

    def grants_many(self, requests: Sequence[Request]) -> list[RawAnswer]:
        return self._batch(requests, "grants")

    def _batch(self, requests: Sequence[Request], kind: str) -> list[RawAnswer]:
        if not requests:
            return []
        verdicts = self.evaluator.evaluate(kind, [self.cedar_request(r) for r in requests])
        raws = self._raws
        out = []
        for verdict in verdicts:
            raw = raws.get(verdict)
            if raw is None:
                raw = self._raw(verdict)
                if not verdict.errors and len(raws) < RAW_ANSWERS_KEPT:
                    raws[verdict] = raw
            out.append(raw)
        return out

    def redacted(self, request: Request) -> tuple[str, ...]:
        """The fields a view of `request.resource_type` hides from its subject on its channel,
        whatever the record: the obligations ask it of the module as a whole (a query plan
        carries it for every record it admits). An error is raised, never an empty list."""
        done = self._obligations.complete([request], [RawAnswer(allowed=True)])[0]
        if done.errors or done.obligations is None:
            raise RuntimeError(f"redactions could not be worked out: {done.errors}")
        return done.obligations.redact

    def record_classes(self, template: Request) -> Callable[[str], Hashable] | None:
        """Records by their class key part (cedar_classes.py), where the class cache is on."""
        keys = self.evaluator.keys
        if keys is None or template.resource_type not in self._entity_type:
            return None
        return keys.record_classes(self.cedar_request(template))

    def seat_rules(self) -> dict[tuple[str, str], tuple[str, ...]]:
        out: dict[tuple[str, str], tuple[str, ...]] = {}
        for info in self._infos.values():
            if info.effect == "permit" and info.product and info.seat:
                key = (info.product, info.seat)
                out[key] = tuple(sorted({*out.get(key, ()), *info.rules}))
        return out

    def _raw(self, verdict: Verdict) -> RawAnswer:
        errors = verdict.errors
        determining = verdict.reasons
        infos = [self._infos[p] for p in determining if p in self._infos]
        # Fail closed: an evaluation error anywhere (a forbid that could not be evaluated is a
        # forbid that did not fire) makes the answer a deny.
        return RawAnswer(
            allowed=verdict.allowed and not errors,
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
