"""What an allowed Cedar decision carries, from Cedar's own answers (policies/obligations.cedar).

After an allow, one batch of questions goes to the set's @obligation policies, never to the
deciding ones:
- the request itself: each `held` policy that applies names its rule (R3);
- a `send_email`: the request once per candidate address (the acting user's, the integration
  owner's, the one the caller claimed); the address a `sender` policy permits is the sender
  (D11). None, or more than one, is an error, and the decision becomes a deny;
- a `view`: a view of the module with `context.fields` holding one field at a time, for each
  field of the module that some field rule of the org names (hidden or read-only, R4's names);
  each field a `redact` policy permits is hidden (D7). A field no rule names is visible by
  construction: the org's field rules are the only data D7 reads, so asking about it would
  only cost time. These ask about the module as a whole (its new record), so their answer
  depends only on the user, the module and the channel, and is kept per (user, module,
  channel).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from suite_authz.engine.core.backends import Obligations, RawAnswer, acting_product
from suite_authz.engine.core.backends.cedar_eval import CedarEvaluator
from suite_authz.engine.core.decision import sorted_rules
from suite_authz.engine.core.entities import OrgIndex
from suite_authz.engine.core.policies import PolicyInfo, PolicySet
from suite_authz.engine.core.request import Request

REDACTION_CACHE_SIZE = 65_536

# (which answer, kind of question, candidate) for each question of a batch
_Question = tuple[int, str, str]


class CedarObligations:
    def __init__(
        self,
        policies: PolicySet,
        index: OrgIndex,
        cedar_request: Callable[[Request], dict[str, Any]],
        evaluator: CedarEvaluator,
    ) -> None:
        self._evaluator = evaluator
        self._infos: dict[str, PolicyInfo] = policies.policies
        self._modules = policies.catalogue.modules
        self._order = tuple(policies.catalogue.products)
        self._index = index
        self._cedar_request = cedar_request
        owner = index.org.integration_owner
        self._owner_email = index.users[owner].email if owner in index.users else None
        self._redactions: dict[tuple[str, str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._candidates = _restricted_fields(index, policies)

    def complete(self, requests: Sequence[Request], answers: list[RawAnswer]) -> list[RawAnswer]:
        """The answers, each allow given its obligations; one Cedar batch for all of them."""
        questions: list[_Question] = []
        payloads: list[dict[str, Any]] = []
        for n, (request, answer) in enumerate(zip(requests, answers, strict=True)):
            if not answer.allowed:
                continue
            questions.append((n, "held", ""))
            payloads.append(self._cedar_request(request))
            if request.action == "send_email":
                for address in self._senders(request):
                    questions.append((n, "sender", address))
                    payloads.append(self._cedar_request(_with(request, sender=address)))
            if request.action == "view" and request.resource_type in self._modules:
                key = (request.subject, request.resource_type, request.channel)
                if key not in self._redactions:
                    for field in self._candidates.get(request.resource_type, ()):
                        questions.append((n, "redact", field))
                        payloads.append(self._cedar_request(_field_question(request, field)))
        if not questions:
            return answers
        results = self._evaluator.evaluate("obligations", payloads)
        found: dict[int, dict[str, Any]] = {}
        for (n, kind, candidate), result in zip(questions, results, strict=True):
            into = found.setdefault(n, {"held": set(), "sender": [], "redact": [], "ids": set()})
            if result.errors:
                into.setdefault("errors", []).extend(result.errors)
                continue
            applied = [
                self._infos[p]
                for p in result.reasons
                if p in self._infos and self._infos[p].obligation == kind
            ]
            if not applied:
                continue
            into["ids"].update(i.id for i in applied)
            if kind == "held":
                into["held"].update(r for i in applied for r in i.rules)
            else:
                into[kind].append((candidate, applied))
        out = list(answers)
        for n, answer in enumerate(answers):
            if answer.allowed:
                out[n] = self._finish(requests[n], answer, found.get(n, {}))
        return out

    def _finish(self, request: Request, answer: RawAnswer, found: dict[str, Any]) -> RawAnswer:
        if found.get("errors"):
            return _failed(answer, "obligations could not be evaluated: " + found["errors"][0])
        rules: set[str] = set(found.get("held", ()))
        ids: set[str] = set(found.get("ids", ()))
        sender = None
        if request.action == "send_email":
            senders = found.get("sender", [])
            if len(senders) != 1:
                listed = ", ".join(f"`{a}`" for a, _ in senders) or "none"
                return _failed(
                    answer,
                    f"the policy set must name one sender for this mail (D11), named {listed}",
                )
            sender = senders[0][0]
            rules.update(r for i in senders[0][1] for r in i.rules)
        redact: tuple[str, ...] = ()
        if request.action == "view" and request.resource_type in self._modules:
            key = (request.subject, request.resource_type, request.channel)
            cached = self._redactions.get(key)
            if cached is None:
                hidden = found.get("redact", [])
                fields = tuple(sorted(f for f, _ in hidden))
                named = tuple(sorted({i.id for _, infos in hidden for i in infos}))
                cached = self._keep(key, (fields, named))
            redact, named_ids = cached
            if redact:
                ids.update(named_ids)
                rules.update(r for pid in named_ids for r in self._infos[pid].rules)
        return replace(
            answer,
            obligations=Obligations(
                product=acting_product(answer.grants, self._order),
                rules=sorted_rules(rules),
                policies=tuple(sorted(ids)),
                sender=sender,
                redact=redact,
            ),
        )

    def _senders(self, request: Request) -> list[str]:
        """The addresses a mail could leave from: the policies pick one."""
        candidates = [self._index.users[request.subject].email, self._owner_email]
        claimed = request.context.get("sender")
        candidates.append(claimed if isinstance(claimed, str) else None)
        return list(dict.fromkeys(a for a in candidates if a))

    def _keep(
        self, key: tuple[str, str, str], value: tuple[tuple[str, ...], tuple[str, ...]]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if len(self._redactions) >= REDACTION_CACHE_SIZE:
            self._redactions.pop(next(iter(self._redactions)))
        self._redactions[key] = value
        return value


def _restricted_fields(index: OrgIndex, policies: PolicySet) -> dict[str, tuple[str, ...]]:
    """module -> the fields of it some field rule of the org names, in catalogue order."""
    named: dict[str, set[str]] = {}
    for table in (index.hidden, index.readonly):
        for (_, module), fields in table.items():
            named.setdefault(module, set()).update(fields)
    return {
        m: tuple(f for f in info.fields if f in named.get(m, ()))
        for m, info in policies.catalogue.modules.items()
    }


def _with(request: Request, **context: object) -> Request:
    return replace(request, context={**request.context, **context})


def _field_question(request: Request, field: str) -> Request:
    """A view of the module as a whole, touching one field: is it hidden from this user?"""
    return Request(
        request.subject, "view", request.resource_type, None, request.channel, (field,), {}
    )


def _failed(answer: RawAnswer, message: str) -> RawAnswer:
    """Fail closed: an allow whose obligations cannot be worked out is a deny that says why."""
    return RawAnswer(allowed=False, determining=answer.determining, errors=(message,))
