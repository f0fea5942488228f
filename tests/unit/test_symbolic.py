"""Proofs over every org the model allows: `authz diff --prove` finds what the
enumerated diff cannot, proves equivalence where nothing changed, and a mutation suite shows
each kind of edit found with a counterexample Cedar confirms, and each theorem of
`authz verify` failing on the edit that breaks it."""

from __future__ import annotations

import shutil
from pathlib import Path

import cedarpy
import pytest

from suite_authz.engine.core import Engine
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet, load_policies
from suite_authz.engine.review import default_orgs, proven_diff, semantic_diff, verify_theorems
from suite_authz.engine.review.symbolic.compile import Unsupported, world_for
from suite_authz.engine.review.symbolic.questions import carried_changes, narrowings, widenings
from tests.cli.runner import run
from tests.conftest import POLICIES

SHIPPED = load_policies(POLICIES)
HISTORY = POLICIES / "history" / "2025-05"
NOTES = (
    "fields.cedar",
    "   context.fields.containsAny(principal.books.role.readonly_fields)) ||",
    "   context.fields.containsAny(principal.books.role.readonly_fields) &&\n"
    '   !context.fields.contains("invoice.notes")) ||',
)


def edited(tmp_path: Path, *edits: tuple[str, str, str]) -> Path:
    """A copy of the shipped set with each (file, old, new) replaced once."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("history", "examples"))
    for file, old, new in edits:
        path = target / file
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{file}: {old!r} not found"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def test_the_widening_the_enumeration_misses_is_proven(tmp_path: Path) -> None:
    head = load_policies(edited(tmp_path, NOTES))
    enumerated = semantic_diff(SHIPPED, head, default_orgs(head, []))
    assert enumerated.groups == ()  # "no change": the request space holds no two-field edit
    report, proofs = proven_diff(SHIPPED, head)
    assert report.widenings and not report.narrowings
    assert {(g.action, g.type) for g in report.groups} == {("edit", "invoice")}
    for group in report.groups:
        example = group.example
        org = load_org(example["snapshot"], head.catalogue)
        request = next(
            e.request for p in proofs for e in p.examples if e.org == example["snapshot"]
        )
        assert "notes" in request.fields
        assert Engine(head, org).decide(request).allowed
        assert not Engine(SHIPPED, org).decide(request).allowed


def test_the_cli_fails_the_widening_on_proven_results(tmp_path: Path) -> None:
    head = edited(tmp_path, NOTES)
    code, out, err = run("diff", str(POLICIES), str(head), "--fail-on", "any-widening")
    assert code == 0 and out.startswith("no change in any decision")
    code, out, err = run("diff", str(POLICIES), str(head), "--prove", "--fail-on", "any-widening")
    assert code == 1, out + err
    assert "proven over every org the model allows: 6 widenings" in out
    assert "undeclared: integration user of Books gains `edit` on invoice" in err


def test_a_set_is_equivalent_to_itself_and_to_its_formatted_copy(tmp_path: Path) -> None:
    copy = edited(tmp_path)
    for path in copy.glob("*.cedar"):
        text = path.read_text(encoding="utf-8")
        path.write_text(cedarpy.format_policies(text, line_width=60), encoding="utf-8")
    formatted = load_policies(copy)
    assert formatted.texts != SHIPPED.texts
    for base, head in ((SHIPPED, SHIPPED), (SHIPPED, formatted), (formatted, SHIPPED)):
        report, _ = proven_diff(base, head)
        assert report.groups == ()


def test_the_history_shows_exactly_the_d4_widening() -> None:
    report, _ = proven_diff(load_policies(HISTORY), SHIPPED)
    assert report.groups and not report.narrowings
    assert {g.action for g in report.groups} == {"create", "edit"}
    assert {g.type for g in report.groups} == {"invoice", "sales_order", "purchase_order"}
    assert all("D4" in g.rules and "integration user of Books" in g.who for g in report.groups)


def test_a_construct_outside_the_encoding_is_refused_by_name(tmp_path: Path) -> None:
    extra = (
        '@id("mail-domain")\n@rule("D11")\n@reason("r")\n@missing("m")\n'
        'forbid (principal, action == Action::"send_email", resource)\n'
        'when { context has sender && context.sender like "*@evil.example" };\n'
    )
    target = edited(tmp_path)
    (target / "extra.cedar").write_text(extra, encoding="utf-8")
    with pytest.raises(Unsupported, match=r"policy `mail-domain`: the operator `like`"):
        widenings(SHIPPED, load_policies(target))


def _set(tmp_path: Path, *edits: tuple[str, str, str]) -> PolicySet:
    return load_policies(edited(tmp_path, *edits))


# (name, edits, a change proven in this direction, the theorem the edit breaks or None)
MUTATIONS = [
    ("drop the own-submission forbid", [("approval.cedar",
        "when { resource has submitted_by && resource.submitted_by == principal };",
        "when { false };")], "widening", "D8"),
    ("widen D4's action list", [("integration_users.cedar",
        'action in [Action::"view", Action::"create", Action::"edit"],',
        'action in [Action::"view", Action::"create", Action::"edit", Action::"delete"],')],
        "widening", "P1"),
    ("let integration users act directly", [
        ("channel.cedar", 'when { context.channel != "crm" }', "when { false }"),
        ("integration_users.cedar", '  context.channel == "crm" &&\n', "")], "widening", "D5"),
    ("add a field exception to D7", [NOTES], "widening", "D7"),
    ("open a module to integration users", [("integration_users.cedar",
        'Module::"purchase_order"].contains',
        'Module::"purchase_order", Module::"item"].contains')], "widening", None),
    ("switch the CRM profile gate off", [("profile.cedar",
        'when { context.channel == "crm" }', "when { false }")], "widening", "D3"),
    ("negate the sender check", [("identity.cedar",
        "context.sender != principal.email", "context.sender == principal.email")],
        "widening", "D11"),
    ("negate the identity check", [("identity.cedar",
        "context.acting_as != principal", "context.acting_as == principal")], "widening", "D1"),
    ("grant D4 without a Books seat", [
        ("membership.cedar", "unless { principal in resource.module.products };",
         "unless { true };"),
        ("integration_users.cedar", "  principal has books &&\n  !principal.books.member &&",
         "  !(principal has books && principal.books.member) &&")], "widening", "D2"),
    ("send before approval", [("approval.cedar",
        'when { resource.module.approval && resource.status != "approved" };',
        'when { resource.module.approval && resource.status == "void" };')], "widening", None),
    ("take a dashboard from D10", [("subscriptions.cedar",
        '["Subscriptions Overview", "Subscriptions Insights"].contains(resource.title)',
        '["Subscriptions Overview"].contains(resource.title)')], "narrowing", None),
    ("roll out to US enterprise orgs", [("rollout.cedar",
        '["free", "standard", "professional"]',
        '["free", "standard", "professional", "enterprise"]')], "widening", None),
    ("let any user run the admin actions", [
        ("enrolment.cedar", "when { principal.crm_admin };", "when { true };"),
        ("enrolment.cedar", "unless { principal.crm_admin };", "unless { true };")],
        "widening", "D12"),
    ("let an enrolment reach past the limit", [("enrolment.cedar",
        "principal.org.integration_users >= principal.org.integration_user_limit &&",
        "principal.org.integration_users > principal.org.integration_user_limit &&")],
        "widening", "R1"),
    ("drop a member role's grant check", [("member_roles.cedar",
        "principal.books.role.grants.contains({ module: resource.module, action: action }) &&",
        "true &&")], "widening", None),
]  # fmt: skip


# The two widest changes (300 to 700 groups of differences, 40-55 s a proof on a busy CI
# machine): their proofs run in `make prove`; in `make test` the theorems they break (D1, D3)
# still catch them in seconds (test_the_widest_mutations_break_their_theorems).
WIDEST = ("negate the identity check", "switch the CRM profile gate off")


@pytest.mark.parametrize(
    ("name", "edits", "direction", "theorem"),
    [pytest.param(*m, marks=pytest.mark.prove) if m[0] in WIDEST else m for m in MUTATIONS],
    ids=[m[0] for m in MUTATIONS],
)
def test_each_mutation_is_proven_with_a_confirmed_counterexample(
    tmp_path: Path,
    name: str,
    edits: list[tuple[str, str, str]],
    direction: str,
    theorem: str | None,
) -> None:
    head = _set(tmp_path, *edits)
    # the direction the mutation is known to change, and what allows carry (cheap); proven_diff
    # asks all three, and on the widest mutations the other direction alone takes a minute
    world = world_for(head, SHIPPED)
    question = widenings if direction == "widening" else narrowings
    proofs = [question(SHIPPED, head, world), carried_changes(SHIPPED, head, world)]
    assert proofs[0].examples, f"{name}: no {direction} proven"
    for proof in proofs:  # each example was confirmed by Cedar as it was found; again here
        for e in proof.examples:
            org = load_org(e.org, head.catalogue)
            assert Engine(head, org).decide(e.request).allowed == e.after.allowed
            assert Engine(SHIPPED, org).decide(e.request).allowed == e.before.allowed
            if proof.question == "carried":  # both allow, and carry otherwise
                assert e.before.allowed and e.after.allowed
                assert (e.before.redact_fields, e.before.sender, e.before.acting_as) != (
                    e.after.redact_fields,
                    e.after.sender,
                    e.after.acting_as,
                )
            else:
                assert e.before.allowed != e.after.allowed
    verdicts = verify_theorems(head)
    if theorem is not None:
        assert theorem in {v.theorem.id for v in verdicts if not v.holds}, (
            f"{name}: {theorem} holds"
        )
    for verdict in verdicts:
        if verdict.counterexample is not None:
            org, request, _ = verdict.counterexample
            assert Engine(head, load_org(org, head.catalogue)).decide(request).allowed


@pytest.mark.parametrize("name", WIDEST)
def test_the_widest_mutations_break_their_theorems(tmp_path: Path, name: str) -> None:
    _, edits, _, theorem = next(m for m in MUTATIONS if m[0] == name)
    head = _set(tmp_path, *edits)
    broken = [v for v in verify_theorems(head) if not v.holds]
    assert theorem in {v.theorem.id for v in broken}, f"{name}: {theorem} holds"
    for verdict in broken:
        if verdict.counterexample is not None:  # confirmed by the engine, not only the solver
            org, request, _ = verdict.counterexample
            assert Engine(head, load_org(org, head.catalogue)).decide(request).allowed


def test_the_shipped_theorems_hold() -> None:
    verdicts = verify_theorems(SHIPPED)
    assert [v.theorem.id for v in verdicts] == [
        "P1", "D1", "D2", "D3", "D5", "D7", "D7v", "D8", "D11", "D12", "R1"
    ]  # fmt: skip
    assert all(v.holds for v in verdicts)


def test_authz_verify_prints_the_theorems_and_fails_on_a_broken_one(tmp_path: Path) -> None:
    code, out, _ = run("verify", "--shipped")
    assert code == 0 and "11 theorems, 11 hold" in out
    broken = edited(
        tmp_path,
        ("identity.cedar", "context.acting_as != principal", "context.acting_as == principal"),
    )
    code, out, _ = run("verify", "--policies", str(broken))
    assert code == 1
    assert (
        "D1   FAILS" in out
        and "counterexample: u " in out
        and ("acting_as v" in out or "acting_as w" in out)
    )


def test_under_prove_the_guards_still_judge_what_only_the_enumeration_sees(tmp_path: Path) -> None:
    """A redaction dropped (an allow that now hides less) is no allow/deny change; the proof
    asks about it too (what a view hides), and --fail-on fails on it with --prove."""
    books = """(principal has books &&
   resource.module.products.contains(Product::"books") &&
   context.fields.containsAny(principal.books.role.hidden_fields)) ||"""
    head = edited(tmp_path, ("obligations.cedar", books, "false ||"))
    code, out, err = run("diff", str(POLICIES), str(head), "--prove", "--fail-on", "any-widening")
    assert code == 1, out + err
    assert "proven: no decision changes" not in out
    assert "hiding nothing" in out, out  # the proven group: an allow that now hides less
    assert "undeclared: " in err and "`view` on item" in err
