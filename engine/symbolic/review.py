"""`authz diff --prove`: the proven differences of two policy sets, as a diff report grouped
like the enumerated one (who, action, type, was, now), each group with its counterexample."""

from __future__ import annotations

from suite_authz.engine.diff import DiffReport, Group, who
from suite_authz.engine.model import load_org
from suite_authz.engine.policies import PolicySet
from suite_authz.engine.symbolic.questions import Counterexample, Proof, narrowings, widenings

PROOF_ORGS = ("every org the model allows",)


def proven_diff(
    base: PolicySet, head: PolicySet, base_label: str = "base", head_label: str = "head"
) -> tuple[DiffReport, list[Proof]]:
    proofs = [widenings(base, head), narrowings(base, head)]
    groups = [_group(e, head) for proof in proofs for e in proof.examples]
    groups.sort(key=lambda g: (not g.widening, g.who, g.action, g.type))
    report = DiffReport(base_label, head_label, 0, PROOF_ORGS, tuple(groups))
    return report, proofs


def judged(enumerated: DiffReport, proven: DiffReport) -> DiffReport:
    """What `--fail-on` and `--expect` judge under --prove: every proven group, and the
    enumerated ones the proof does not ask about (an allow that now carries less: a redaction
    dropped, another sender), which only the enumeration sees."""
    carried = [g for g in enumerated.groups if g.widens is not None]  # allow -> allow, less
    groups = (*proven.groups, *carried)
    return DiffReport(proven.base, proven.head, enumerated.compared, proven.orgs, groups)


def _group(example: Counterexample, head: PolicySet) -> Group:
    org = load_org(example.org, head.catalogue, "counterexample org")
    request = example.request
    kind, non_member = who(org, request.subject, request.action, head)
    group = Group(
        kind,
        request.action,
        request.resource_type,
        example.before.decision,
        example.after.decision,
        count=1,
        non_member=non_member,
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
