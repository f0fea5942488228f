"""The differential check: ask two backends every request an org can ask, compare answers.

Two encodings of the rule book (Cedar and Polar), written independently, must agree on every
request. A disagreement is a bug in one of them, or in the rule book's reading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from suite_authz.engine.core.catalogue import CHANNELS, RECORD_ACTIONS
from suite_authz.engine.core.decide import Engine
from suite_authz.engine.core.decision import Decision
from suite_authz.engine.core.model import Org
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.core.request import Request


@dataclass(frozen=True, slots=True)
class Disagreement:
    request: Request
    first: Decision
    second: Decision


@dataclass(frozen=True, slots=True)
class Report:
    compared: int
    disagreements: tuple[Disagreement, ...]
    backends: tuple[str, str]


def request_space(org: Org, policies: PolicySet) -> Iterator[Request]:
    """Every subject x action x resource type (new) and x record, x channel, plus edits with
    each restricted field, identity and sender claims, and the admin actions of D12."""
    modules = policies.catalogue.modules
    restricted: dict[str, set[str]] = {m: set() for m in modules}
    for role in org.roles:
        for module, fields in role.fields.items():
            restricted[module].update(fields)
    for rules in org.integration_user_fields.values():
        for module, fields in rules.items():
            restricted[module].update(fields)
    # Always tried on an edit, beside the fields the org restricts: one field nobody restricts.
    for name, info in modules.items():
        free = next((f for f in info.fields if f not in restricted[name]), None)
        if free is not None:
            restricted[name].add(free)
    # An enrolment's answer depends on the target only through the target's seats (D12), so
    # one target per kind of seat holding stands for all of them.
    kinds: dict[tuple[tuple[str, bool], ...], str] = {}
    for target in org.users:
        holding = tuple(
            sorted(
                [(m.product, True) for m in target.memberships]
                + [(e.product, False) for e in target.enrolments]
            )
        )
        kinds.setdefault(holding, target.id)
    enrol_targets = sorted(kinds.values())
    targets: list[tuple[str, str | None]] = [(m, None) for m in modules]
    targets += [(r.type, r.id) for r in org.records]
    others = [u.id for u in org.users]
    for user in org.users:
        for kind, rid in targets:
            for channel in CHANNELS:
                for action in RECORD_ACTIONS:
                    yield Request(user.id, action, kind, rid, channel)
                for field in sorted(restricted[kind]):
                    yield Request(user.id, "edit", kind, rid, channel, (field,))
            # D1 and D11: claims about identity and sender, the owner's among them.
            other = others[(others.index(user.id) + 1) % len(others)]
            yield Request(user.id, "view", kind, rid, context={"acting_as": other})
            yield Request(user.id, "view", kind, rid, context={"acting_as": user.id})
            yield Request(
                user.id, "send_email", kind, rid, context={"sender": f"{other}@elsewhere.example"}
            )
            yield Request(user.id, "send_email", kind, rid, context={"sender": user.email})
        for target_id in enrol_targets:
            for product in policies.catalogue.products:
                yield Request(
                    user.id,
                    "enrol_integration_user",
                    "user",
                    target_id,
                    context={"product": product},
                )
        for count in (0, 1, org.migration.limit, org.migration.limit + 1):
            yield Request(user.id, "run_migration", "org", org.id, context={"enrolments": count})


def space_size(org: Org, policies: PolicySet) -> int:
    return sum(1 for _ in request_space(org, policies))


def same(a: Decision, b: Decision) -> bool:
    """Backends agree when they give the same answer for the same rules, as the same
    identity, from the same address, hiding the same fields. Their words may differ: Cedar
    names policies, Polar names rules."""
    return (
        a.allowed == b.allowed
        and a.rules == b.rules
        and a.acting_as == b.acting_as
        and a.sender == b.sender
        and a.redact_fields == b.redact_fields
        and a.invalid == b.invalid
    )


def run_crosscheck(
    first: Engine,
    second: Engine,
    progress: Callable[[int], None] | None = None,
) -> Report:
    compared = 0
    found: list[Disagreement] = []
    for request in request_space(first.org, first.policies):
        a, b = first.decide(request), second.decide(request)
        compared += 1
        if not same(a, b):
            found.append(Disagreement(request, a, b))
        if progress is not None and compared % 500 == 0:
            progress(compared)
    return Report(compared, tuple(found), (first.backend.name, second.backend.name))
