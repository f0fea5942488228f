"""The rule book's promises as theorems, proven over every org the model allows (`authz verify`).

Each theorem names the rule it proves and says, as a formula over the world, what a violation
is: an allowed request that breaks the promise. "Holds" means no org and no request of a
record action violate it; otherwise the counterexample is decoded and Cedar must allow it too
before it is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

from suite_authz.engine.core.decision import Decision
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.core.request import Request
from suite_authz.engine.review.symbolic.compile import allows, redactions, world_for
from suite_authz.engine.review.symbolic.questions import EncodingMismatch, decide_on
from suite_authz.engine.review.symbolic.values import all_of, any_of
from suite_authz.engine.review.symbolic.world import RecordWorld

# D4 and D10: all an integration user is ever granted, and only from the CRM
INTEGRATION_ACTIONS = ("view", "create", "edit")


@dataclass(frozen=True)
class Theorem:
    id: str
    rule: str
    statement: str
    violation: Callable[[RecordWorld], Any]
    on_records: bool = True  # a promise about record actions (not D12's admin actions)
    # what Cedar's answer on a counterexample must show besides the allow (an obligation)
    confirm: Callable[[dict[str, Any], Request, Decision], bool] | None = None


def _owned_by(w: RecordWorld, seat: dict[str, Any]) -> Any:
    """Under which the record's module belongs to a product where `seat` holds."""
    return any_of([all_of(w.module[m], seat[p]) for m in w.modules for p in w.module_products[m]])


def _p1(w: RecordWorld) -> Any:
    no_member = all_of([z3.Not(w.member[p]) for p in w.products])
    beyond = any_of(z3.Not(any_of([w.action[a] for a in INTEGRATION_ACTIONS])), w.channel["direct"])
    return all_of(no_member, beyond)


def _d2(w: RecordWorld) -> Any:
    return z3.Not(_owned_by(w, w.seat))


def _d5(w: RecordWorld) -> Any:
    return all_of(w.channel["direct"], z3.Not(_owned_by(w, w.member)))


def _d7(w: RecordWorld) -> Any:
    restricted = []
    for p in w.products:
        for f, touched in w.touched.items():
            if f in w.hidden[p]:
                module = f.split(".", 1)[0]
                reach = all_of(w.seat[p], w.module[module])
                restricted.append(all_of(touched, reach, any_of(w.hidden[p][f], w.readonly[p][f])))
    return all_of(w.action["edit"], any_of(restricted))


def _d7_view(w: RecordWorld) -> Any:
    shown = [
        all_of(w.module[m], w.seat[p], w.hidden[p][f], z3.Not(w.redacted[f]))
        for m in w.modules
        for f in w.fields[m]
        for p in w.module_products[m]
        if f in w.hidden[p]
    ]
    return all_of(w.action["view"], any_of(shown))


def _shows_a_hidden_field(org: dict[str, Any], request: Request, decision: Decision) -> bool:
    """Cedar's answer shows a field that a role of one of the user's seats hides."""
    user = next(u for u in org["users"] if u["id"] == request.subject)
    roles = {r["id"]: r for r in org["roles"]}
    module = request.resource_type
    hidden: set[str] = set()
    for seat in user.get("memberships", []):
        rules = roles[seat["role"]].get("fields", {}).get(module, {})
        hidden |= {f for f, access in rules.items() if access == "hidden"}
    for seat in user.get("enrolments", []):
        rules = org.get("integration_user_fields", {}).get(seat["product"], {}).get(module, {})
        hidden |= {f for f, access in rules.items() if access == "hidden"}
    return bool(hidden - set(decision.redact_fields))


def _d8(w: RecordWorld) -> Any:
    return all_of(w.action["approve"], w.submitted, w.submitted_by_self)


def _d11(w: RecordWorld) -> Any:
    return all_of(w.action["send_email"], w.sending, z3.Not(w.sender_is_own))


def _d1(w: RecordWorld) -> Any:
    return all_of(w.acting, z3.Not(w.acting_self))


def _d12(w: RecordWorld) -> Any:
    admin = any_of(w.action["enrol_integration_user"], w.action["run_migration"])
    return all_of(admin, z3.Not(w.crm_admin))


def _r1(w: RecordWorld) -> Any:
    """Past the limit: an enrolment that adds an integration user, or a migration that would."""

    def integration(seat: dict[str, Any], member: dict[str, Any]) -> Any:
        return any_of([all_of(seat[p], z3.Not(member[p])) for p in w.products])

    target_counted = z3.If(
        w.target_self, integration(w.seat, w.member), integration(w.other_seat, w.other_member)
    )
    enrol = all_of(
        w.action["enrol_integration_user"],
        w.integration_users >= w.limit,
        z3.Not(target_counted),
    )
    migrate = all_of(
        w.action["run_migration"], w.enrolments > 0, w.integration_users + w.enrolments > w.limit
    )
    return any_of(enrol, migrate)


def _d3(w: RecordWorld) -> Any:
    profile = any_of([all_of(w.module[m], w.action[a], f) for (m, a), f in w.allows.items()])
    return all_of(w.channel["crm"], z3.Not(profile))


THEOREMS = (
    Theorem(
        "P1",
        "D1,D2,D4,D10",
        "a user who is a member of no product is allowed nothing beyond the integration "
        "grants (view, create, edit) and nothing outside the CRM: no right derived from an "
        "admin's",
        _p1,
    ),
    Theorem("D1", "D1", "no allow acts as another user (acting_as names the user)", _d1),
    Theorem("D2", "D2", "no allow without a seat in a product that owns the record", _d2),
    Theorem("D3", "D3", "no allow from the CRM that the user's CRM profile does not allow", _d3),
    Theorem(
        "D5",
        "D5",
        "no allow outside the CRM without a membership in a product that owns the record",
        _d5,
    ),
    Theorem(
        "D7",
        "D7",
        "no allowed edit touches a field that a role of the user hides or makes read-only, in a "
        "product that owns the record",
        _d7,
    ),
    Theorem(
        "D7v",
        "D7",
        "no allowed view shows a field that a role of the user hides, in a product that owns "
        "the record (the view's redaction)",
        _d7_view,
        confirm=_shows_a_hidden_field,
    ),
    Theorem("D8", "D8", "no one approves their own submission", _d8),
    Theorem("D11", "D11", "no mail is allowed from an address other than the user's own", _d11),
    Theorem(
        "D12",
        "D12",
        "only a CRM admin enrols integration users or runs a migration",
        _d12,
        on_records=False,
    ),
    Theorem(
        "R1",
        "D12,R1",
        "no enrolment or migration takes the org past its limit of integration users, counted "
        "once each however enrolled",
        _r1,
        on_records=False,
    ),
)


@dataclass(frozen=True)
class Verdict:
    theorem: Theorem
    seconds: float
    counterexample: tuple[dict[str, Any], Request, Decision] | None = None

    @property
    def holds(self) -> bool:
        return self.counterexample is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "theorem": self.theorem.id,
            "rule": self.theorem.rule,
            "statement": self.theorem.statement,
            "holds": self.holds,
            "seconds": round(self.seconds, 3),
        }
        if self.counterexample is not None:
            org, request, decision = self.counterexample
            out["counterexample"] = {
                "request": request.to_dict(),
                "decision": decision.decision,
                "policies": list(decision.policies),
                "org": org,
            }
        return out


def verify_theorems(policies: PolicySet, theorems: tuple[Theorem, ...] = THEOREMS) -> list[Verdict]:
    world = world_for(policies)
    allowed = allows(policies, world)
    world.redacted = redactions(policies, world)
    out = []
    for theorem in theorems:
        started = time.perf_counter()
        solver = z3.Optimize()
        solver.set("maxsat_engine", "wmax")
        solver.add(world.constraints)
        solver.add(allowed, theorem.violation(world))
        if theorem.on_records:
            solver.add(world.on_record)
        for soft in world.minimal():
            solver.add_soft(z3.Not(soft))
        found = None
        if solver.check() == z3.sat:
            org, request = world.decode(solver.model())
            decision = decide_on(policies, org, request)
            shown = theorem.confirm is None or theorem.confirm(org, request, decision)
            if not decision.allowed or not shown:
                raise EncodingMismatch(
                    f"theorem {theorem.id}: the encoding allows {request} and Cedar does not: "
                    "an encoding bug; please report it with this request"
                )
            found = (org, request, decision)
        out.append(Verdict(theorem, time.perf_counter() - started, found))
    return out
