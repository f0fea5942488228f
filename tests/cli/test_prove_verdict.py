"""`authz diff --prove` and `authz verify`: what they exit with and how they read.

- --prove is never weaker than the enumeration: the guards judge the union of the enumerated
  and the proven changes, and an enumerated change (a concrete org and request whose decision
  Cedar changes) that the proof says cannot happen is an encoding error, exit 3, named in one
  line; never a pass.
- Exit codes: 0 nothing to report, 1 a guard (or a theorem) failed, 2 bad input or a set the
  proof refuses, 3 an internal or encoding error.
- The text is rolled up by who, action and rules, one line per group only under --verbose;
  Polar's disagreement is said once; a counterexample names the org facts that decide it; the
  markdown (a pull-request comment) starts with the verdict and every reason it failed.

Most tests here compare on the demo org alone (the coverage org's enumeration takes ~10 s a
run); `test_prove_never_passes_what_the_enumeration_fails` runs the whole command.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from suite_authz.engine.review import DiffGroup, DiffReport, unexpected_changes
from suite_authz.engine.review.symbolic.compile import Unsupported
from suite_authz.engine.review.symbolic.questions import EncodingMismatch
from suite_authz.engine.review.symbolic.review import PROOF_ORGS, merged_report
from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES

HISTORY = POLICIES / "history" / "2025-05"
DIFF = importlib.import_module("suite_authz.cli.commands.diff")
VERIFY = importlib.import_module("suite_authz.cli.commands.verify")
# authz diff takes the prover from the review room's door when --prove asks for it (it is
# not loaded before): replaced there
REVIEW = importlib.import_module("suite_authz.engine.review")
NOTES = (
    "fields.cedar",
    "   context.fields.containsAny(principal.books.role.readonly_fields)) ||",
    "   context.fields.containsAny(principal.books.role.readonly_fields) &&\n"
    '   !context.fields.contains("invoice.notes")) ||',
)
# H4 (tests/unit/test_prover_holes.py): a permit keyed on a named user, which the prover of
# 3b794ea cannot see
ASHA_DELETES = (
    "integration_users.cedar",
    "};",
    '};\n\n@id("asha-deletes")\n@rule("D4")\n@reason("r")\n'
    'permit (principal == User::"asha", action == Action::"delete", resource is Estimate)\n'
    'when { context.channel == "crm" };',
)


def edited(tmp_path: Path, *edits: tuple[str, str, str]) -> Path:
    """A copy of the shipped set (without its history) with each (file, old, new) replaced
    once."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("history"))
    for file, old, new in edits:
        path = target / file
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{file}: {old!r} not found"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.fixture
def demo_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """`authz diff` compares on the demo org alone (4,464 requests, ~1 s)."""
    monkeypatch.setattr(DIFF, "default_orgs", lambda head, extra: [("demo", DEMO)])


def _no_proof(
    base: Any, head: Any, base_label: str, head_label: str
) -> tuple[DiffReport, list[Any]]:
    """A prover that misses everything: "proven: no decision changes"."""
    return DiffReport(base_label, head_label, 0, PROOF_ORGS, ()), []


def _group(who: str, action: str, type_: str, was: str, now: str, **kw: Any) -> DiffGroup:
    example = {
        "org": kw.pop("org", "demo"),
        "subject": kw.pop("subject", "asha"),
        "action": action,
        "resource_type": type_,
        "resource_id": None,
        "channel": "crm",
        "fields": [],
        "context": {},
    }
    return DiffGroup(who, action, type_, was, now, example=example, seats=who, **kw)


# -- item 3: the union, and the contradiction ---------------------------------------------------


def test_the_guards_judge_the_union_and_a_missed_change_is_a_contradiction() -> None:
    gain = _group("integration user of Books", "delete", "estimate", "deny", "allow", count=3)
    both = _group("member of Books", "edit", "invoice", "deny", "allow", count=5)
    carried = _group(
        "member of Books", "view", "item", "allow, hiding cost_price", "allow, hiding nothing"
    )
    carried.count, carried.widens = 2, True
    enumerated = DiffReport("base", "head", 100, ("demo",), (gain, both, carried))
    proven_both = _group("member of Books", "edit", "invoice", "deny", "allow", count=1)
    proven_both.example.update(org="counterexample", subject="u")
    only = _group("member of Subscriptions", "edit", "invoice", "deny", "allow", count=1)
    only.example.update(org="counterexample", subject="u")
    # the proof's example of the same kind of user, action and type carrying otherwise, in
    # other words (other fields): it covers the enumerated one
    proven_carried = _group(
        "member of Books", "view", "item", "allow, hiding cost_price, price", "allow, hiding price"
    )
    proven_carried.example.update(org="counterexample", subject="u")
    proven = DiffReport("base", "head", 0, PROOF_ORGS, (proven_both, only, proven_carried))

    union = merged_report(enumerated, proven)
    by_key = {g.key(): g for g in union.groups}
    assert set(by_key) == {g.key() for g in (gain, both, carried, only, proven_carried)}
    assert by_key[gain.key()].proven is False and by_key[gain.key()].count == 3
    assert by_key[both.key()].proven is True and by_key[both.key()].count == 5
    assert by_key[both.key()].counterexample == proven_both.example
    assert by_key[only.key()].proven is True and by_key[only.key()].count == 0
    assert by_key[carried.key()].proven is True
    assert by_key[carried.key()].counterexample == proven_carried.example
    # the one enumerated allow/deny change the proof has no group for: named by its request
    [missed] = union.contradictions
    assert missed.startswith("the proof missed `asha delete estimate` (org demo, channel crm)")
    problems = unexpected_changes(union, "any-widening", None)
    assert any("gains `delete` on estimate" in p for p in problems)  # enumerated only
    assert any("member of Subscriptions gains `edit`" in p for p in problems)  # proven only
    assert any("`view` on item" in p for p in problems)  # a redaction dropped


def test_an_enumerated_change_of_what_an_allow_carries_is_judged_against_the_proof() -> None:
    """The proof asks what an allow carries too (fields hidden, sender, the product it runs
    in): an enumerated such change with no proven group of its seats, action and type is a
    contradiction; the proof's group of another action does not cover it."""
    carried = _group(
        "member of Books", "view", "item", "allow, hiding cost_price", "allow, hiding nothing"
    )
    carried.count, carried.widens = 2, True
    elsewhere = _group(
        "member of Books", "view", "invoice", "allow, hiding cost_price", "allow, hiding nothing"
    )
    elsewhere.example.update(org="counterexample", subject="u")
    union = merged_report(
        DiffReport("base", "head", 10, ("demo",), (carried,)),
        DiffReport("base", "head", 0, PROOF_ORGS, (elsewhere,)),
    )
    [missed] = union.contradictions
    assert "asha view item" in missed and "allow, hiding cost_price -> allow" in missed
    assert {g.key(): g.proven for g in union.groups}[carried.key()] is False


def test_a_crm_admin_s_change_is_covered_by_the_proof_of_their_seats() -> None:
    """The proof groups by seats; `who` adds "CRM admin, " for the admin actions: a change an
    admin makes is covered by the proven group of the same seats, whatever its admin flag."""
    admin = _group("CRM admin, member of Books", "run_migration", "org", "deny", "allow", count=1)
    admin.seats = "member of Books"
    enumerated = DiffReport("base", "head", 10, ("demo",), (admin,))
    proven = DiffReport(
        "base",
        "head",
        0,
        PROOF_ORGS,
        (_group("member of Books", "run_migration", "org", "deny", "allow", count=1),),
    )
    union = merged_report(enumerated, proven)
    assert union.contradictions == ()
    assert all(g.proven for g in union.groups)


def test_an_enumerated_change_the_proof_misses_exits_3_and_names_the_request(
    demo_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(REVIEW, "proven_diff", _no_proof)
    base, head = str(HISTORY), str(POLICIES)
    code, out, err = run("diff", base, head, "--prove", "--fail-on", "non-member-gain")
    assert code == 3, out + err
    assert "proven: no decision changes" in out
    assert "ENCODING ERROR (exit 3): the proof missed `asha create invoice` (org demo" in out
    assert "proof and enumeration agree" not in out
    assert "authz diff: encoding error: the proof missed `asha create invoice`" in err
    # the enumerated changes are merged_report all the same
    assert "authz diff: undeclared: integration user of Books gains `create` on invoice" in err
    code, out, _ = run("diff", base, head, "--prove", "--format", "markdown")
    assert code == 3
    verdict = out.split("\n\n")[1]
    assert verdict.startswith("**Encoding error** (exit 3)")
    code, out, _ = run("diff", base, head, "--prove", "--json")
    doc = json.loads(out)
    assert code == 3 and doc["exit"] == 3 and not doc["agree"]
    assert doc["contradictions"] and doc["proven"] == [] and doc["enumerated"]


def test_when_proof_and_enumeration_agree_the_text_says_so_in_one_line(demo_only: None) -> None:
    code, out, err = run("diff", str(HISTORY), str(POLICIES), "--prove")
    assert code == 0, out + err
    agree = [line for line in out.splitlines() if line.startswith("proof and enumeration")]
    assert agree == [
        "proof and enumeration agree: each of the 12 changes enumerated is proven; "
        "8 more proven in orgs the enumeration does not hold"
    ]


@pytest.mark.slow
def test_prove_never_passes_what_the_enumeration_fails(tmp_path: Path) -> None:
    """H4: Asha, a member of no product, may now delete an estimate. The
    enumeration finds it on the demo org; --fail-on non-member-gain fails it, with --prove or
    without (exit 0 under --prove on 3b794ea). While the prover cannot see a permit keyed on a
    named user, the change is a contradiction, exit 3; once it can, a proven widening, exit 1."""
    head = str(edited(tmp_path, ASHA_DELETES))
    code, _, err = run("diff", str(POLICIES), head, "--fail-on", "non-member-gain")
    assert code == 1 and "gains `delete` on estimate" in err
    code, out, err = run("diff", str(POLICIES), head, "--prove", "--fail-on", "non-member-gain")
    assert code != 0, out + err
    assert "undeclared: integration user of Books gains `delete` on estimate" in err
    if "proven: no decision changes" in out:
        assert code == 3, out + err
        missed = "the proof missed `asha delete estimate` (org demo, channel crm)"
        assert f"ENCODING ERROR (exit 3): {missed}" in out
        assert f"authz diff: encoding error: {missed}" in err
    else:
        assert code == 1, out + err
        assert "proof and enumeration agree" in out


# -- item 6: exit codes -----------------------------------------------------------------------


def _raises(error: Exception) -> Any:
    def prove(*_: object, **__: object) -> Any:
        raise error

    return prove


def test_encoding_mismatch_is_an_internal_error() -> None:
    assert (EncodingMismatch.exit_code, EncodingMismatch.http_status) == (3, 500)
    assert (Unsupported.exit_code, Unsupported.http_status) == (2, 400)


def test_diff_exit_codes(demo_only: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """0 nothing to report, 1 a guard failed, 2 bad input or refused, 3 internal or encoding
    error; each in one line on stderr."""
    old, new = str(HISTORY), str(POLICIES)
    assert run("diff", old, new)[0] == 0  # changes, and no guard to fail
    assert run("diff", old, new, "--fail-on", "any-widening")[0] == 1
    assert run("diff", new, old, "--fail-on", "any-widening")[0] == 0  # a narrowing
    assert run("diff", "no-such-rev", new)[0] == 2
    refused = Unsupported("policy `mail-domain`: the operator `like` is outside the encoding")
    mismatch = EncodingMismatch("the symbolic encoding found a difference Cedar does not confirm")
    for error, code in ((refused, 2), (mismatch, 3), (RuntimeError("z3 broke"), 3)):
        monkeypatch.setattr(REVIEW, "proven_diff", _raises(error))
        got, out, err = run("diff", old, new, "--prove", "--fail-on", "any-widening")
        assert got == code, (error, got, out, err)
        assert len(err.strip().splitlines()) == 1 and str(error) in err


def test_verify_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("verify", "--shipped")[0] == 0
    broken = edited(
        tmp_path,
        ("identity.cedar", "context.acting_as != principal", "context.acting_as == principal"),
    )
    assert run("verify", "--policies", str(broken))[0] == 1
    refused = Unsupported("policy `mail-domain`: the operator `like` is outside the encoding")
    mismatch = EncodingMismatch("theorem D1: the encoding allows a request and Cedar does not")
    for error, code in ((refused, 2), (mismatch, 3), (RuntimeError("z3 broke"), 3)):
        monkeypatch.setattr(VERIFY, "verify_theorems", _raises(error))
        got, out, err = run("verify", "--shipped")
        assert got == code, (error, got, out, err)
        assert len(err.strip().splitlines()) == 1 and str(error) in err


# -- item 6: readability ----------------------------------------------------------------------


def test_the_text_is_rolled_up_by_who_action_and_rules(demo_only: None) -> None:
    code, out, _ = run("diff", str(HISTORY), str(POLICIES))
    assert code == 0
    lines = out.splitlines()
    changes = [line for line in lines if line.startswith("WIDENED")]
    # 12 groups (who x action x type) in 7 lines (who x action x rules), one example each
    assert (
        "WIDENED  integration user of Books · create · invoice (3), purchase_order (2), "
        "sales_order (2): deny -> allow (7 requests; rules D4; policies books-integration-user)"
    ) in changes
    assert len(changes) == 7 and len(lines) == 1 + 2 * 7
    code, verbose, _ = run("diff", str(HISTORY), str(POLICIES), "--verbose")
    groups = [line.strip() for line in verbose.splitlines() if line.startswith("         · ")]
    assert len(groups) == 12
    assert "· invoice: 3 requests; rules D4; e.g. asha create invoice (org demo, channel crm)" in (
        groups
    )


def test_a_counterexample_names_its_org_facts_and_polar_is_said_once(
    demo_only: None, tmp_path: Path
) -> None:
    head = str(edited(tmp_path, NOTES))
    code, out, err = run("diff", str(POLICIES), head, "--prove", "--fail-on", "any-widening")
    assert code == 1, out + err
    # six proven groups, one counterexample each; Polar (not edited) disagrees on all six
    assert out.count("Polar answers") == 1
    assert (
        "Polar answers 6 of the 6 counterexamples otherwise than Cedar (e.g. u edit invoice: "
        "Cedar deny -> allow, Polar deny -> deny)"
    ) in out
    # what decides the Books integration user's edit: the integration users' read-only notes,
    # and the CRM profile's allow (whatever the world names the user, role and profile)
    assert re.search(
        r"\n {9}where \S+ <[^>]+> is an integration user of books \(integration users: "
        r"invoice\.notes read-only\); CRM profile `[^`]+` allows invoice: edit; record "
        r"invoice:\S+ is ",
        out,
    ), out
    # and a member's: their role's grant and its read-only notes
    assert re.search(
        r"is a member of books as `[^`]+` \(grants invoice: edit; invoice\.notes read-only\)", out
    ), out
    code, md, _ = run(
        "diff", str(POLICIES), head, "--prove", "--fail-on", "any-widening", "--format", "markdown"
    )
    assert code == 1
    title, verdict, reasons, *_ = md.split("\n\n")
    assert title.startswith("### Policy diff:")
    assert verdict == "**Fails** (`--fail-on any-widening`, exit 1): 6 reasons"
    assert len(reasons.splitlines()) == 6 and reasons.startswith("- undeclared: ")
    assert "| invoice (proof only) |" in md and "(integration users: invoice.notes read-only)" in md
    assert md.count("Polar answers") == 1
    code, js, _ = run("diff", str(POLICIES), head, "--prove", "--fail-on", "any-widening", "--json")
    doc = json.loads(js)
    assert code == 1 and doc["exit"] == 1 and doc["agree"] and len(doc["problems"]) == 6
    assert all(g["example"]["facts"] for g in doc["proven"])
    assert {g["proven"] for g in doc["changes"]} == {True}


def test_a_passing_guard_is_the_markdown_s_first_line(demo_only: None) -> None:
    code, md, _ = run(
        "diff", str(POLICIES), str(HISTORY), "--fail-on", "non-member-gain", "--format", "markdown"
    )
    assert code == 0
    assert md.split("\n\n")[1] == "**Passes** (`--fail-on non-member-gain`): nothing to report"


def test_verify_names_the_org_facts_of_a_counterexample(tmp_path: Path) -> None:
    broken = edited(
        tmp_path,
        ("identity.cedar", "context.acting_as != principal", "context.acting_as == principal"),
    )
    code, out, _ = run("verify", "--policies", str(broken))
    assert code == 1
    where = [line.strip() for line in out.splitlines() if line.startswith("      where ")]
    assert len(where) == 1 and re.match(r"where \S+ <[^>]+> is ", where[0]), where
    assert re.search(r"; CRM profile `[^`]+` allows ", where[0]), where
    code, js, _ = run("verify", "--policies", str(broken), "--json")
    failed = [t for t in json.loads(js)["theorems"] if not t["holds"]]
    assert failed and all(t["counterexample"]["facts"] for t in failed)
