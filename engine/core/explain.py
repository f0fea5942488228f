"""From a backend's raw answer to a Decision a person can read.

Nothing here decides, and nothing here adds to what a decision is: the allow or deny, the rules
it names, acting_as, the sender and the fields to redact all come from the backend's answer
(its grants, restrictions and obligations). This module words them, from policy annotations
(loaded once) and org data. A deny that nothing forbade names the rules of the user's seats
that reach the record, with or without the full explanation (R3); only the wording of what was
missing asks the backend more.
"""

from __future__ import annotations

from typing import Any

from suite_authz.engine.core.backends import Backend, GrantRef, RawAnswer
from suite_authz.engine.core.catalogue import RECORD_ACTIONS, RULE_TITLES
from suite_authz.engine.core.decision import ActingAs, Decision, sorted_rules
from suite_authz.engine.core.entities import OrgIndex, Seat
from suite_authz.engine.core.policies import PolicyInfo, PolicySet
from suite_authz.engine.core.request import Request

PROBE_CACHE_SIZE = 65_536


def _words(action: str) -> str:
    return action.replace("_", " ")


def _series(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _by_rule(
    policies: PolicySet,
) -> tuple[
    dict[tuple[str, str, str | None], PolicyInfo],
    dict[str, PolicyInfo],
    dict[frozenset[str], PolicyInfo],
]:
    """The policy that alone stands for a grant (rule, product, resource type), an obligation
    rule, or a set of restriction rules: what a rule-naming backend's answer is worded by."""
    grants: dict[tuple[str, str, str | None], list[PolicyInfo]] = {}
    held: dict[str, list[PolicyInfo]] = {}
    forbids: dict[frozenset[str], list[PolicyInfo]] = {}
    for info in policies.policies.values():
        if info.effect == "forbid":
            forbids.setdefault(frozenset(info.rules), []).append(info)
            continue
        for rule in info.rules:
            if info.obligation is not None:
                held.setdefault(rule, []).append(info)
            else:
                key = (rule, info.product or "crm", info.resource_type)
                grants.setdefault(key, []).append(info)

    def alone(found: dict[Any, list[PolicyInfo]]) -> dict[Any, PolicyInfo]:
        return {k: v[0] for k, v in found.items() if len(v) == 1}

    return alone(grants), alone(held), alone(forbids)


def _titled(rule: str) -> str:
    return f"{rule}: {RULE_TITLES.get(rule, 'a rule of docs/rules.md')}"


class Explainer:
    def __init__(self, policies: PolicySet, index: OrgIndex, backend: Backend) -> None:
        self._infos = policies.policies
        self._grant_info, self._obligation_info, self._forbid_info = _by_rule(policies)
        self._forbid_keys = sorted(self._forbid_info, key=lambda k: (-len(k), sorted(k)))
        self._catalogue = policies.catalogue
        self._version = policies.version
        self._index = index
        self._backend = backend
        self._product_order = {p: n for n, p in enumerate(policies.catalogue.products)}
        self._seat_rules = backend.seat_rules()  # static per backend: asked once
        self._probe_cache: dict[tuple[object, ...], tuple[tuple[GrantRef, str], ...]] = {}

    # -- the ends of a request that never reached a backend ------------------------------------

    def invalid(self, message: str) -> Decision:
        return Decision(
            allowed=False,
            rules=(),
            policies=(),
            reasons=(f"invalid request: {message}",),
            policy_version=self._version,
            errors=(message,),
            invalid=True,
        )

    def unknown(self, message: str, needed: str) -> Decision:
        return Decision(
            allowed=False,
            rules=(),
            policies=(),
            reasons=(message,),
            missing=(needed,),
            policy_version=self._version,
        )

    # -- a backend's answer --------------------------------------------------------------------

    def explain(self, request: Request, raw: RawAnswer, *, probe: bool = True) -> Decision:
        if raw.errors:
            return Decision(
                allowed=False,
                rules=(),
                policies=(),
                reasons=("the request could not be evaluated, so it is denied",),
                policy_version=self._version,
                errors=raw.errors,
            )
        if raw.allowed:
            return self._allow(request, raw)
        if raw.determining or raw.restrictions:
            return self._forbidden(request, raw)
        return self._not_granted(request, probe)

    def _allow(self, request: Request, raw: RawAnswer) -> Decision:
        carried = raw.obligations
        if carried is None:  # a backend must say what an allow carries: fail closed
            return self.explain(request, _failed(raw, "the backend gave no obligations"))
        # The policies that granted it first, then those of the rules that held (R3).
        policies = raw.determining + tuple(p for p in carried.policies if p not in raw.determining)
        infos = [self._infos[p] for p in policies if p in self._infos]
        rules = sorted_rules({*(g.rule for g in raw.grants), *carried.rules})
        reasons = tuple(i.reason for i in infos) or self._words_for(
            request, raw.grants, carried.rules
        )
        return Decision(
            allowed=True,
            rules=rules,
            policies=policies,
            reasons=reasons,
            acting_as=ActingAs(user=request.subject, product=carried.product),
            sender=carried.sender,
            redact_fields=carried.redact,
            policy_version=self._version,
        )

    def _forbidden(self, request: Request, raw: RawAnswer) -> Decision:
        infos = [self._infos[p] for p in raw.determining if p in self._infos]
        named_by_policy = bool(infos)
        left: tuple[str, ...] = ()
        if not infos:  # a backend that names rules, not policies: worded as Cedar's forbids
            infos, left = self._restriction_infos(raw.restrictions)
        missing = []
        for info in infos:
            named = self._detail(info.detail, request)
            text = info.missing or info.reason
            missing.append(f"{text}: {named}" if named else text)
        for rule in left:
            named = self._detail(_RULE_DETAIL.get(rule), request)
            missing.append(f"what {_titled(rule)} requires" + (f": {named}" if named else ""))
        return Decision(
            allowed=False,
            rules=sorted_rules(raw.restrictions),
            policies=tuple(i.id for i in infos) if named_by_policy else (),
            reasons=(*(i.reason for i in infos), *(_titled(r) for r in left)),
            missing=tuple(missing),
            policy_version=self._version,
        )

    def _words_for(
        self, request: Request, grants: tuple[GrantRef, ...], held: tuple[str, ...]
    ) -> tuple[str, ...]:
        """For a backend that names rules, not policies (Polar): the reasons the Cedar policies
        of the same grants and rules give, so both encodings word a decision the same way.
        A rule no single policy stands for keeps its title."""
        module = self._catalogue.modules.get(request.resource_type)
        entity = module.entity if module is not None else None
        granted: list[PolicyInfo] = []
        titles: list[str] = []
        for grant in grants:
            info = self._grant_info.get((grant.rule, grant.product, entity))
            info = info or self._grant_info.get((grant.rule, grant.product, None))
            if info is None:
                titles.append(_titled(grant.rule))
            else:
                granted.append(info)
        carried: list[PolicyInfo] = []
        for rule in sorted_rules(held):
            info = self._obligation_info.get(rule)
            if info is None:
                titles.append(_titled(rule))
            else:
                carried.append(info)
        # in Cedar's order: the granting policies, then the obligations, each by id
        ordered = sorted(granted, key=lambda i: i.id) + sorted(carried, key=lambda i: i.id)
        out = [i.reason for i in ordered] + titles
        return tuple(dict.fromkeys(out))

    def _restriction_infos(
        self, restrictions: tuple[str, ...]
    ) -> tuple[list[PolicyInfo], tuple[str, ...]]:
        """The forbids that alone stand for these rules, widest first (no-finance-identity
        covers D2 and D1 together), and the rules left over (D8: several forbids, which the
        rule alone cannot tell apart)."""
        left = set(restrictions)
        out = []
        for key in self._forbid_keys:
            if key <= left:
                out.append(self._forbid_info[key])
                left -= key
        return sorted(out, key=lambda i: i.id), sorted_rules(left)

    def _not_granted(self, request: Request, probe: bool) -> Decision:
        """Nothing permitted and nothing forbade: the rules are those of the user's seats that
        reach the record (R3: the same with or without `probe`); with `probe`, name the user's
        grants there and where they end."""
        kind, action = request.resource_type, request.action
        module = self._catalogue.modules.get(kind)
        what = self._what(request)
        reason = f"no policy permits `{action}` on {what} for `{request.subject}`"
        if module is None:
            return Decision(
                allowed=False,
                rules=(),
                policies=(),
                reasons=(reason,),
                missing=(f"a grant of `{action}` on {what}",),
                policy_version=self._version,
            )
        seats = self._relevant_seats(request.subject, kind)
        rules: set[str] = set()
        for seat in seats:
            rules.update(self._seat_rules.get((seat.product, _kind(seat)), ()))
        if not probe:
            return Decision(
                allowed=False,
                rules=sorted_rules(rules),
                policies=(),
                reasons=(reason,),
                policy_version=self._version,
            )
        granted: dict[str, tuple[str, list[str]]] = {}
        for grant, allowed in self._could_do(request):
            if allowed != action:
                who = self._who(grant.product, request.subject)
                granted.setdefault(who, (grant.rule, []))[1].append(allowed)
        missing: list[str] = []
        for who, (rule, actions) in sorted(granted.items()):
            missing.append(
                f"{who} may {_series([_words(a) for a in actions])} "
                f"{module.plural}, not {_words(action)} them ({rule})"
            )
        if not missing:
            for seat in seats:
                seat_rules = self._seat_rules.get((seat.product, _kind(seat)), ())
                missing.append(
                    f"{self._who(seat.product, request.subject)} get no grant on "
                    f"{module.plural} from the CRM ({', '.join(seat_rules)})"
                )
        if not missing:
            missing.append(f"a grant of `{action}` on {module.plural}")
        return Decision(
            allowed=False,
            rules=sorted_rules(rules),
            policies=(),
            reasons=(reason,),
            missing=tuple(dict.fromkeys(missing)),
            policy_version=self._version,
        )

    def _could_do(self, request: Request) -> tuple[tuple[GrantRef, str], ...]:
        """(grant, action) for every record action a grant of the user's covers on this
        record, restrictions aside: the grant as it is written, and where it ends.

        Asks the backend once, in one batch; cached per (user, record, channel, identity asked
        for), which is sound because an Explainer's org and policies never change (a reload
        builds a new Engine).
        """
        acting_as = request.context.get("acting_as")
        key = (
            request.subject,
            request.resource_type,
            request.resource_id,
            request.channel,
            acting_as,
        )
        found = self._probe_cache.get(key)
        if found is not None:
            return found
        context = {} if acting_as is None else {"acting_as": acting_as}
        probes = [
            Request(
                request.subject,
                a,
                request.resource_type,
                request.resource_id,
                request.channel,
                (),
                context,
            )
            for a in RECORD_ACTIONS
        ]
        out: list[tuple[GrantRef, str]] = []
        for probe, answer in zip(probes, self._backend.grants_many(probes), strict=True):
            if answer.grants:
                best = min(answer.grants, key=lambda g: self._product_order.get(g.product, 99))
                out.append((best, probe.action))
        if len(self._probe_cache) >= PROBE_CACHE_SIZE:
            self._probe_cache.pop(next(iter(self._probe_cache)))
        result = self._probe_cache[key] = tuple(out)
        return result

    def _detail(self, detail: str | None, request: Request) -> str:
        """Name the culprit from org data, as a forbid's @detail annotation asks."""
        if detail in ("hidden_fields", "readonly_fields", "fields"):
            named: set[str] = set()
            if detail in ("hidden_fields", "fields"):
                named.update(
                    self._fields(request.subject, request.resource_type, self._index.hidden)
                )
            if detail in ("readonly_fields", "fields"):
                named.update(
                    self._fields(request.subject, request.resource_type, self._index.readonly)
                )
            return ", ".join(f"`{f}`" for f in request.fields if f in named)
        if detail == "profile":
            module = self._catalogue.modules.get(request.resource_type)
            profile = self._index.users[request.subject].profile
            plural = module.plural if module else request.resource_type
            return f"profile `{profile}` does not allow `{request.action}` on {plural}"
        return ""

    # -- helpers -------------------------------------------------------------------------------

    def _relevant_seats(self, user: str, kind: str) -> list[Seat]:
        module = self._catalogue.modules[kind]
        return [s for s in self._index.seats.get(user, ()) if s.product in module.products]

    def _fields(
        self, user: str, kind: str, table: dict[tuple[str, str], tuple[str, ...]]
    ) -> tuple[str, ...]:
        """D7 and D9: a field restricted by any seat that reaches the record is restricted."""
        if kind not in self._catalogue.modules:
            return ()
        found: set[str] = set()
        for seat in self._relevant_seats(user, kind):
            found.update(table.get((self._index.seat_role(seat), kind), ()))
        return tuple(sorted(found))

    def _who(self, product: str, user: str) -> str:
        """Whom a grant in `product` is for, in words, as this user holds it."""
        if product not in self._catalogue.products:
            return "CRM admins"
        label = self._catalogue.label(product)
        seat = next((s for s in self._index.seats.get(user, ()) if s.product == product), None)
        if seat is not None and seat.member:
            return f"members of {label} with role `{seat.role}`"
        return f"integration users of {label}"

    def _what(self, request: Request) -> str:
        module = self._catalogue.modules.get(request.resource_type)
        noun = module.singular if module else request.resource_type
        if request.resource_id is None:
            return f"{'a new' if request.action == 'create' else 'any'} {noun}"
        return f"{noun} `{request.resource_id}`"


def _kind(seat: Seat) -> str:
    return "member" if seat.member else "integration"


# Which org data names the culprit of a restriction, for backends that name rules only.
_RULE_DETAIL = {"D3": "profile", "D7": "fields"}


def _failed(raw: RawAnswer, message: str) -> RawAnswer:
    return RawAnswer(allowed=False, determining=raw.determining, errors=(message,))
