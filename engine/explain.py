"""From a backend's raw answer to a Decision a person can read.

Everything here is read from policy annotations (loaded once) and org data; nothing decides.
The rules a decision itself applies are added where it applies them: D11 when it names a
sender, D7 when it redacts, D9 when the allow comes from the union of several enrolments.
"""

from __future__ import annotations

from engine.backends import Backend, RawAnswer
from engine.catalogue import RECORD_ACTIONS
from engine.decision import ActingAs, Decision, sorted_rules
from engine.entities import OrgIndex, Seat
from engine.policies import PolicyInfo, PolicySet
from engine.request import Request


def _words(action: str) -> str:
    return action.replace("_", " ")


def _series(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


PROBE_CACHE_SIZE = 65_536


class Explainer:
    def __init__(self, policies: PolicySet, index: OrgIndex, backend: Backend) -> None:
        self._infos = policies.policies
        self._catalogue = policies.catalogue
        self._version = policies.version
        self._index = index
        self._backend = backend
        self._product_order = {p: n for n, p in enumerate(policies.catalogue.products)}
        self._probe_cache: dict[tuple[object, ...], tuple[tuple[str, str], ...]] = {}

    # -- the three ends of a request that never reached a backend ------------------------------

    def invalid(self, message: str) -> Decision:
        return Decision(
            allowed=False,
            rules=(),
            policies=(),
            reasons=(f"invalid request: {message}",),
            missing=(),
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

    # -- a backend's answer ----------------------------------------------------------------------

    def explain(self, request: Request, raw: RawAnswer) -> Decision:
        if raw.errors:
            return Decision(
                allowed=False,
                rules=(),
                policies=(),
                reasons=("the request could not be evaluated, so it is denied",),
                missing=(),
                policy_version=self._version,
                errors=raw.errors,
            )
        infos = [self._infos[p] for p in raw.determining if p in self._infos]
        if raw.allowed:
            return self._allow(request, infos, raw)
        if infos:
            return self._forbidden(request, infos)
        return self._not_granted(request)

    def _allow(self, request: Request, infos: list[PolicyInfo], raw: RawAnswer) -> Decision:
        rules = {r for info in infos for r in info.rules}
        granting = [i for i in infos if i.product is not None] or infos
        best = min(
            granting,
            key=lambda i: (self._product_order.get(i.product or "", 99), i.seat != "member", i.id),
        )
        sender = None
        redact: tuple[str, ...] = ()
        user = request.subject
        if request.action == "send_email":
            sender = self._index.users[user].email
            rules.add("D11")
        if request.action == "view" and request.resource_type in self._catalogue.modules:
            redact = self._fields(user, request.resource_type, self._index.hidden)
            if redact:
                rules.add("D7")
        if request.action in RECORD_ACTIONS and len(self._index.integration_products(user)) > 1:
            rules.add("D9")
        return Decision(
            allowed=True,
            rules=sorted_rules(rules),
            policies=raw.determining,
            reasons=tuple(i.reason for i in infos),
            acting_as=ActingAs(user=user, product=best.product or "crm"),
            sender=sender,
            redact_fields=redact,
            policy_version=self._version,
        )

    def _forbidden(self, request: Request, infos: list[PolicyInfo]) -> Decision:
        missing = []
        for info in infos:
            text = info.missing or info.reason
            named = self._detail(info.detail, request)
            missing.append(f"{text}: {named}" if named else text)
        return Decision(
            allowed=False,
            rules=sorted_rules([r for i in infos for r in i.rules]),
            policies=tuple(i.id for i in infos),
            reasons=tuple(i.reason for i in infos),
            missing=tuple(missing),
            policy_version=self._version,
        )

    def _not_granted(self, request: Request) -> Decision:
        """Nothing permitted and nothing forbade: name the user's grant and where it ends."""
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
        granted: dict[str, tuple[PolicyInfo, list[str]]] = {}
        for pid, allowed in self._could_do(request):
            info = self._infos[pid]
            if allowed != action:
                granted.setdefault(info.who or info.id, (info, []))[1].append(allowed)
        missing: list[str] = []
        rules: set[str] = set()
        for _, (info, actions) in sorted(granted.items()):
            rules.update(info.rules)
            missing.append(
                f"{self._who(info, request.subject)} may {_series([_words(a) for a in actions])} "
                f"{module.plural}, not {_words(action)} them ({', '.join(info.rules)})"
            )
        if not missing:
            for info in self._grants_for(request.subject, kind):
                rules.update(info.rules)
                missing.append(
                    f"{self._who(info, request.subject)} get no grant on {module.plural} "
                    f"from the CRM ({', '.join(info.rules)})"
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

    def _could_do(self, request: Request) -> tuple[tuple[str, str], ...]:
        """(granting permit, action) for every record action a grant of the user's covers on
        this record, restrictions aside: the grant as it is written, and where it ends.

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
        out: list[tuple[str, str]] = []
        for probe, answer in zip(probes, self._backend.grants_many(probes), strict=True):
            if answer.allowed:
                permit = next(
                    (
                        p
                        for p in answer.determining
                        if p in self._infos and self._infos[p].effect == "permit"
                    ),
                    None,
                )
                if permit is not None:
                    out.append((permit, probe.action))
        if len(self._probe_cache) >= PROBE_CACHE_SIZE:
            self._probe_cache.pop(next(iter(self._probe_cache)))
        result = self._probe_cache[key] = tuple(out)
        return result

    def _detail(self, detail: str | None, request: Request) -> str:
        """Name the culprit from org data, as a forbid's @detail annotation asks."""
        if detail in ("hidden_fields", "readonly_fields"):
            table = self._index.hidden if detail == "hidden_fields" else self._index.readonly
            named = set(self._fields(request.subject, request.resource_type, table))
            return ", ".join(f"`{f}`" for f in request.fields if f in named)
        if detail == "profile":
            module = self._catalogue.modules.get(request.resource_type)
            profile = self._index.users[request.subject].profile
            plural = module.plural if module else request.resource_type
            return f"profile `{profile}` does not allow `{request.action}` on {plural}"
        return ""

    # -- helpers -----------------------------------------------------------------------------------

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

    def _grants_for(self, user: str, kind: str) -> list[PolicyInfo]:
        seats = {
            (s.product, "member" if s.member else "integration")
            for s in self._relevant_seats(user, kind)
        }
        return sorted(
            (
                i
                for i in self._infos.values()
                if i.effect == "permit" and (i.product, i.seat) in seats
            ),
            key=lambda i: i.id,
        )

    def _who(self, info: PolicyInfo, user: str) -> str:
        role = next(
            (
                s.role
                for s in self._index.seats.get(user, ())
                if s.product == info.product and s.member
            ),
            "",
        )
        return (info.who or f"holders of `{info.id}`").replace("{role}", role)

    def _what(self, request: Request) -> str:
        module = self._catalogue.modules.get(request.resource_type)
        noun = module.singular if module else request.resource_type
        if request.resource_id is None:
            return f"{'a new' if request.action == 'create' else 'any'} {noun}"
        return f"{noun} `{request.resource_id}`"
