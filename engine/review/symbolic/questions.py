"""Questions over every request of every org the model allows, each answered
"holds" or with counterexamples that the real engines have confirmed.

A counterexample is an org snapshot and a request (world.decode). Before it is reported, Cedar
(and the Polar encoding, where the set has one) answers it: a counterexample they do not
confirm means the encoding is wrong, which is an error (`EncodingMismatch`), never a finding
and never a "holds".
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import z3

from suite_authz.engine.core.decide import Engine
from suite_authz.engine.core.decision import Decision
from suite_authz.engine.core.errors import AuthzError
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.core.request import Request
from suite_authz.engine.review.symbolic.compile import (
    acting_products,
    allows,
    redactions,
    same_obligations,
    same_permits,
    senders,
    world_for,
)
from suite_authz.engine.review.symbolic.values import all_of, any_of
from suite_authz.engine.review.symbolic.world import RecordWorld

# (action, record type, the user's seats) groups: 81 x 9 today; a bound, not a sample
MAX_GROUPS = 1000


class EncodingMismatch(AuthzError):
    """The symbolic encoding and the engines disagree on a request: a bug to report."""

    exit_code, http_status = 3, 500  # an internal error, not bad input


@dataclass(frozen=True)
class Counterexample:
    org: dict[str, Any]
    request: Request
    before: Decision
    after: Decision
    # Polar's answers before and after, where both sets have a Polar encoding; Polar answering
    # otherwise than Cedar is a finding about the set (authz crosscheck), not about the proof
    polar: tuple[Decision, Decision] | None = None

    @property
    def polar_agrees(self) -> bool:
        return self.polar is None or (
            self.polar[0].allowed == self.before.allowed
            and self.polar[1].allowed == self.after.allowed
        )

    def to_dict(self) -> dict[str, Any]:
        r = self.request
        return {
            "request": {
                "subject": r.subject,
                "action": r.action,
                "resource_type": r.resource_type,
                "resource_id": r.resource_id,
                "channel": r.channel,
                "fields": list(r.fields),
                "context": dict(r.context),
            },
            "before": self.before.decision,
            "after": self.after.decision,
            "rules_after": list(self.after.rules),
            "policies_after": list(self.after.policies),
            "polar": None
            if self.polar is None
            else {"before": self.polar[0].decision, "after": self.polar[1].decision},
            "org": self.org,
        }


@dataclass
class Proof:
    """What a question found: `examples` empty means it holds, for every request and org."""

    question: str
    examples: list[Counterexample] = field(default_factory=list)
    seconds: float = 0.0
    solver_calls: int = 0

    @property
    def holds(self) -> bool:
        return not self.examples


def widenings(base: PolicySet, head: PolicySet, world: RecordWorld | None = None) -> Proof:
    """Everything `head` allows that `base` denies, one confirmed example per action, record
    type and kind of user (their seats): a proof that nothing else widens. `world`: one already
    made for both sets (world_for), so that questions about them share what it compiled."""
    return _differences(base, head, "widening", world=world)


def narrowings(base: PolicySet, head: PolicySet, world: RecordWorld | None = None) -> Proof:
    return _differences(head, base, "narrowing", swap=True, world=world)


def _differences(
    base: PolicySet,
    head: PolicySet,
    name: str,
    swap: bool = False,
    world: RecordWorld | None = None,
) -> Proof:
    _same_catalogue(base, head)
    started = time.perf_counter()
    world = world or world_for(head, base)
    question = all_of(allows(head, world), z3.Not(allows(base, world)))
    proof = Proof(name)
    for model in _models(world, question, proof):
        org, request = world.decode(model)
        before, after = _confirm(base, head, org, request)
        polar = _polar(base, head, org, request)
        if swap:
            before, after = after, before
            polar = None if polar is None else (polar[1], polar[0])
        proof.examples.append(Counterexample(org, request, before, after, polar))
    proof.seconds = time.perf_counter() - started
    return proof


def carried_changes(base: PolicySet, head: PolicySet, world: RecordWorld | None = None) -> Proof:
    """Every request both sets allow where what the allow carries differs: the fields a view
    hides (D7), the product the action runs in (D1's `acting_as`), the address a mail leaves
    from (D11); one confirmed example per action, record type and kind of user."""
    _same_catalogue(base, head)
    started = time.perf_counter()
    proof = Proof("carried")
    world = world or world_for(head, base)
    differs = []
    if not same_obligations(base, head, "redact"):
        before_hidden, after_hidden = redactions(base, world), redactions(head, world)
        differs.append(
            all_of(
                world.action["view"],
                any_of(
                    [
                        all_of(world.module[m], before_hidden[f] != after_hidden[f])
                        for m in world.modules
                        for f in world.fields[m]
                    ]
                ),
            )
        )
    if not same_permits(base, head):
        before_acts, after_acts = acting_products(base, world), acting_products(head, world)
        no = z3.BoolVal(False)
        differs += [
            before_acts.get(p, no) != after_acts.get(p, no) for p in {*before_acts, *after_acts}
        ]
    if not same_obligations(base, head, "sender"):
        listed, before_sends, _ = senders(base, world)
        after_sends = senders(head, world)[1]
        differs.append(
            all_of(
                world.action["send_email"],
                any_of(
                    [
                        all_of(d, b, z3.Not(a))
                        for d, b, a in zip(listed, before_sends, after_sends, strict=True)
                    ]
                ),
            )
        )
    if not differs:  # the same formulas: nothing to ask
        proof.seconds = time.perf_counter() - started
        return proof
    question = all_of(allows(head, world), allows(base, world), any_of(differs))
    for model in _models(world, question, proof):
        org, request = world.decode(model)
        before = decide_on(base, org, request, "cedar")
        after = decide_on(head, org, request, "cedar")
        if not (before.allowed and after.allowed) or _carried(before) == _carried(after):
            raise EncodingMismatch(
                f"the symbolic encoding found an allow that carries otherwise, which Cedar does "
                f"not confirm (before: {_carries(before)}; after: {_carries(after)}) for "
                f"{request}: an encoding bug; please report it with this request"
            )
        proof.examples.append(Counterexample(org, request, before, after))
    proof.seconds = time.perf_counter() - started
    return proof


def _carried(d: Decision) -> tuple[Any, ...]:
    return (d.redact_fields, d.sender, d.acting_as.product if d.acting_as else None)


def _carries(d: Decision) -> str:
    if not d.allowed:
        return d.decision
    hidden, sender, product = _carried(d)
    return f"allow in {product}, hiding {list(hidden)}, sender {sender}"


def _models(world: RecordWorld, question: Any, proof: Proof) -> Iterator[Any]:
    """A model per action, record type and seats where the question can hold: each with as few
    grants, fields and settings as the question needs, so that a person can read it.

    Two passes: a plain solver finds the groups (each check blocks the group found), then a
    MaxSAT call restricted to each group finds its smallest model. One MaxSAT call over all the
    groups left, blocking each as it is found, gives the same models and cost 7x as much on a
    change that touches 342 groups (docs/benchmarks.md)."""
    group = world.group()
    finder = z3.Solver()
    finder.add(world.constraints)
    finder.add(question)
    keys: list[list[Any]] = []
    while True:
        proof.solver_calls += 1
        if finder.check() != z3.sat:
            break
        if len(keys) == MAX_GROUPS:
            raise AuthzError(
                f"more than {MAX_GROUPS} groups of differences: the world grew unexpectedly"
            )
        model = finder.model()
        key = [model.eval(v, model_completion=True) for v in group]
        keys.append(key)
        finder.add(z3.Not(all_of([v == k for v, k in zip(group, key, strict=True)])))
    if not keys:
        return
    smallest = z3.Optimize()
    smallest.set("maxsat_engine", "wmax")  # models as small as the default's, ~4x sooner here
    smallest.add(world.constraints)
    smallest.add(question)
    for soft in world.minimal():
        smallest.add_soft(z3.Not(soft))
    for key in keys:
        proof.solver_calls += 1
        smallest.push()
        smallest.add(all_of([v == k for v, k in zip(group, key, strict=True)]))
        if smallest.check() != z3.sat:  # it held in this group a moment ago
            raise EncodingMismatch(f"the solver lost a group of the {proof.question} it found")
        model = smallest.model()
        smallest.pop()
        yield model


def _confirm(
    base: PolicySet, head: PolicySet, org: dict[str, Any], request: Request
) -> tuple[Decision, Decision]:
    """Cedar's answers, which must be the difference the encoding of Cedar's policies found."""
    before = decide_on(base, org, request, "cedar")
    after = decide_on(head, org, request, "cedar")
    if before.allowed or not after.allowed:
        raise EncodingMismatch(_mismatch("Cedar", request, before, after))
    return before, after


def _polar(
    base: PolicySet, head: PolicySet, org: dict[str, Any], request: Request
) -> tuple[Decision, Decision] | None:
    if not (_has_polar(base) and _has_polar(head)):
        return None
    return decide_on(base, org, request, "polar"), decide_on(head, org, request, "polar")


def _has_polar(policies: PolicySet) -> bool:
    return bool(policies.source is not None and policies.source.polar)


def decide_on(
    policies: PolicySet, org: dict[str, Any], request: Request, backend: str = "cedar"
) -> Decision:
    """What the real engine decides on a counterexample."""
    engine = Engine(policies, load_org(org, policies.catalogue, "counterexample org"), backend)
    engine.validate(request)
    return engine.decide(request)


def _mismatch(engine: str, request: Request, before: Decision, after: Decision) -> str:
    return (
        f"the symbolic encoding found a difference that {engine} does not confirm "
        f"(before: {before.decision}, after: {after.decision}) for {request}: "
        "an encoding bug; please report it with this request"
    )


def _same_catalogue(base: PolicySet, head: PolicySet) -> None:
    if base.catalogue != head.catalogue:
        raise AuthzError(
            "the two sets have different module catalogues (modules.json): a proof compares "
            "sets over one catalogue; compare them with the enumerated diff"
        )
