"""`authz diff --prove`: the proven differences of two policy sets, as a diff report grouped
like the enumerated one (who, action, type, was, now), each group with its counterexample;
and the union of the two reports, which is what --prove reports and judges."""

from __future__ import annotations

import dataclasses

from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.review.diff import (
    DiffGroup,
    DiffReport,
    carried_change,
    group_order,
    seat_words,
    who,
)
from suite_authz.engine.review.symbolic.compile import world_for
from suite_authz.engine.review.symbolic.questions import (
    Counterexample,
    Proof,
    carried_changes,
    narrowings,
    widenings,
)

PROOF_ORGS = ("every org the model allows",)


def proven_diff(
    base: PolicySet, head: PolicySet, base_label: str = "base", head_label: str = "head"
) -> tuple[DiffReport, list[Proof]]:
    world = world_for(head, base)  # one world: the three questions share what it compiles
    proofs = [
        widenings(base, head, world),
        narrowings(base, head, world),
        carried_changes(base, head, world),
    ]
    groups = [_group(e, head) for proof in proofs for e in proof.examples]
    groups.sort(key=group_order)
    report = DiffReport(base_label, head_label, 0, PROOF_ORGS, tuple(groups))
    return report, proofs


def merged_report(enumerated: DiffReport, proven: DiffReport) -> DiffReport:
    """What --prove reports, and what `--fail-on` and `--expect` judge: the union of the two
    reports, so that adding the proof never passes what the enumeration fails. Every
    enumerated change (`count` its requests) and every proven one (`proven`, with its
    counterexample); a group only the proof found has no enumerated request.

    An enumerated change is a concrete org and request whose decision Cedar changes, or whose
    allow carries otherwise (the fields hidden, the sender, the product it runs in). The proof
    groups its changes by the user's seats, action and record type, one counterexample each,
    over every org the model allows: an enumerated change whose group the proof does not have
    is one the proof says cannot happen. That is the encoding wrong, never a pass: each is one
    line in `contradictions` (the CLI exits 3)."""
    exact = {p.key(): p for p in proven.groups}
    covering: dict[tuple[str, ...], DiffGroup] = {}
    for p in proven.groups:
        covering.setdefault(_cover(p), p)
    merged: dict[tuple[str, ...], DiffGroup] = {}
    contradictions: list[str] = []
    for g in enumerated.groups:
        union = _copy(g)
        found = exact.get(g.key()) or covering.get(_cover(g))
        union.proven = found is not None
        if found is None:
            contradictions.append(_missed(g))
        else:
            union.counterexample = found.example
            if found.key() == g.key():
                union.rules |= found.rules
                union.policies |= found.policies
                union.orgs |= found.orgs
        merged[g.key()] = union
    for p in proven.groups:
        if p.key() not in merged:
            only = _copy(p)
            only.count, only.proven, only.counterexample = 0, True, only.example
            merged[p.key()] = only
    groups = tuple(sorted(merged.values(), key=group_order))
    orgs = (*enumerated.orgs, *proven.orgs)
    return DiffReport(
        enumerated.base,
        enumerated.head,
        enumerated.compared,
        orgs,
        groups,
        tuple(contradictions),
        asked=enumerated.asked,
    )


def _cover(g: DiffGroup) -> tuple[str, ...]:
    """What one proven group stands for: a kind of seats, an action, a type, and a direction
    (allow/deny) or "carried" (an allow that carries otherwise: which fields, sender or
    product is the example's, and differs from request to request)."""
    if g.was != g.now and g.was.startswith("allow") and g.now.startswith("allow"):
        return (g.seats or g.who, g.action, g.type, "carried")
    return (g.seats or g.who, g.action, g.type, g.was, g.now)


def _copy(g: DiffGroup) -> DiffGroup:
    return dataclasses.replace(g, rules=set(g.rules), policies=set(g.policies), orgs=set(g.orgs))


def _missed(g: DiffGroup) -> str:
    """One line: the request the proof missed, and what Cedar decides on it."""
    e = g.example
    res = e["resource_type"] + (f":{e['resource_id']}" if e.get("resource_id") else "")
    where = f"org {e['org']}, channel {e['channel']}"
    if e.get("fields"):
        where += f", fields {' '.join(e['fields'])}"
    where += "".join(f", {k} {v}" for k, v in sorted(e.get("context", {}).items()))
    return (
        f"the proof missed `{e['subject']} {e['action']} {res}` ({where}): Cedar decides "
        f"{g.was} -> {g.now} there, where the proof says no {g.seats or g.who} goes {g.was} -> "
        f"{g.now} on `{g.action}` {g.type} in any org; please report it with this request"
    )


def _group(example: Counterexample, head: PolicySet) -> DiffGroup:
    org = load_org(example.org, head.catalogue, "counterexample org")
    request = example.request
    kind, non_member = who(org, request.subject, request.action, head)
    was, now, widens = example.before.decision, example.after.decision, None
    carried = carried_change(org, request, example.before, example.after)
    if example.before.allowed and example.after.allowed and carried is not None:
        was, now, widens = carried  # an allow that carries other obligations
    group = DiffGroup(
        kind,
        request.action,
        request.resource_type,
        was,
        now,
        count=1,
        non_member=non_member,
        widens=widens,
        seats=seat_words(org, request.subject, head),
    )
    for decision in (example.after, example.before):
        group.rules.update(decision.rules)
        group.policies.update(decision.policies)
    group.orgs.add("counterexample")
    group.example = {"org": "counterexample", **request.to_dict(), "snapshot": example.org}
    if not example.polar_agrees and example.polar is not None:
        group.example["polar"] = {
            "before": example.polar[0].decision,
            "after": example.polar[1].decision,
        }
    return group
