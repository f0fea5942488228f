"""authz diff: a semantic diff of policy sets, by decisions."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from suite_authz.cli.render_diff import render_markdown
from suite_authz.engine.core.policies import PolicySet, load_policies
from suite_authz.engine.review.diff import default_orgs, semantic_diff, unexpected_changes
from suite_authz.engine.sources.revisions import policy_dir
from tests.cli.runner import run
from tests.conftest import POLICIES

HISTORY = POLICIES / "history" / "2025-05"
D4_TYPES = {"sales_order", "invoice", "purchase_order"}


@pytest.fixture(scope="module")
def widening(policies: PolicySet) -> object:
    old = load_policies(HISTORY)
    return semantic_diff(old, policies, default_orgs(policies, []), "2025-05", "current")


def test_2025_05_to_now_is_exactly_the_d4_widening(widening: object) -> None:
    from suite_authz.engine.review.diff import DiffReport

    assert isinstance(widening, DiffReport)
    assert widening.groups and not widening.narrowings
    decided = [g for g in widening.groups if g.was == "deny"]
    # D1: where a Subscriptions member's role already allowed an invoice, the action now runs
    # in Books, the first product (catalogue order) whose grant applies: what it carries moved
    moved = [g for g in widening.groups if g.was != "deny"]
    assert {(g.who, g.action, g.type, g.was, g.now) for g in moved} == {
        (
            "integration user of Books and member of Subscriptions",
            a,
            "invoice",
            "allow, acting in subscriptions",
            "allow, acting in books",
        )
        for a in ("create", "edit")
    }
    assert all(g.widening for g in moved)
    for g in decided:
        assert "integration user of Books" in g.who, g.who
        assert (g.action, g.type, g.was, g.now) in {
            (a, t, "deny", "allow") for a in ("create", "edit") for t in D4_TYPES
        }
        # R3: an edit of a module with approval on names D8 beside D4 (approval-checked).
        assert g.policies - {"approval-checked", "union-of-enrolments"} == {
            "books-integration-user"
        }
        # Before, a deny nothing forbade named the seats' rules (R3): D10 for an integration
        # user of Subscriptions too, whose enrolment grants nothing on invoices.
        assert g.rules <= {"D4", "D8", "D9", "D10"}
    plain = {(g.action, g.type) for g in widening.groups if g.who == "integration user of Books"}
    assert plain == {(a, t) for a in ("create", "edit") for t in D4_TYPES}


def test_a_non_member_gain_fails_unless_declared(widening: object, tmp_path: Path) -> None:
    from suite_authz.engine.review.diff import DiffReport

    assert isinstance(widening, DiffReport)
    problems = unexpected_changes(widening, "non-member-gain", None)
    assert problems and all(p.startswith("undeclared: ") for p in problems)
    declared = [g.to_dict() for g in widening.groups]
    assert unexpected_changes(widening, "non-member-gain", declared) == []
    never = {
        "who": "member of Books",
        "action": "void",
        "type": "invoice",
        "was": "allow",
        "now": "deny",
    }
    assert unexpected_changes(widening, "non-member-gain", [*declared, never]) == [
        f"declared but did not happen: {never}"
    ]


def test_same_policies_change_nothing(policies: PolicySet) -> None:
    report = semantic_diff(policies, policies, default_orgs(policies, []))
    assert report.groups == () and report.compared > 10_000


def test_narrowing_is_reported_as_a_loss(policies: PolicySet) -> None:
    old = load_policies(HISTORY)
    report = semantic_diff(policies, old, default_orgs(policies, []))
    decided = [g for g in report.groups if g.now == "deny"]
    assert decided and not any(g.widening for g in decided)
    # what stays allowed moves back to Subscriptions (D1): another product's identity, which
    # `any-widening` fails on (a guard must see it), as the way there does
    moved = [g for g in report.groups if g.now != "deny"]
    assert {(g.action, g.was, g.now) for g in moved} == {
        (a, "allow, acting in books", "allow, acting in subscriptions") for a in ("create", "edit")
    }
    assert all(g.widening for g in moved) and report.widenings == tuple(moved)
    assert len(unexpected_changes(report, "any-widening", None)) == len(moved)
    assert unexpected_changes(report, "non-member-gain", None) == []
    assert unexpected_changes(report, None, []) != []  # an expectation file that declares nothing


def test_markdown_lists_widenings_first_in_a_table(widening: object) -> None:
    from suite_authz.engine.review.diff import DiffReport

    assert isinstance(widening, DiffReport)
    text = render_markdown(widening)
    assert text.startswith("### Policy diff: `2025-05` → `current`")
    assert "#### Widenings (someone gains)" in text and "Narrowings" not in text
    assert "| who | action | type | was | now |" in text


def test_git_revisions_of_policies_are_compared(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(POLICIES, repo / "policies", ignore=shutil.ignore_patterns("history"))

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "now")
    for f in HISTORY.glob("*.cedar"):
        shutil.copy(f, repo / "policies" / f.name)
    git("commit", "-qam", "back to 2025-05")
    old = policy_dir("HEAD", tmp_path / "work", repo)
    assert (old / "integration_users.cedar").read_text() == (
        HISTORY / "integration_users.cedar"
    ).read_text()
    assert (
        load_policies(policy_dir("HEAD~1", tmp_path / "work", repo)).version
        == load_policies(POLICIES).version
    )


def test_unknown_revision_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run("diff", "no-such-rev", str(POLICIES))
    assert code == 2 and "`no-such-rev` is neither a policy directory nor a git revision" in err


def test_cli_diff_json_and_fail_on(tmp_path: Path) -> None:
    code, out, err = run(
        "diff", str(HISTORY), str(POLICIES), "--format", "json", "--fail-on", "non-member-gain"
    )
    assert code == 1 and "undeclared: integration user of Books gains `create`" in err
    groups = json.loads(out)
    assert {"who", "action", "type", "was", "now", "rules", "example"} <= set(groups[0])
    expect = tmp_path / "expected.json"
    expect.write_text(json.dumps(groups))
    code, _, _ = run(
        "diff", str(HISTORY), str(POLICIES), "--fail-on", "non-member-gain", "--expect", str(expect)
    )
    assert code == 0


def test_a_redaction_dropped_from_one_product_is_a_widening_not_no_change(
    policies: PolicySet, tmp_path: Path
) -> None:
    # Two allows that stay allows, one now hiding less: the decisions alone would say "no
    # change"; the diff says who now sees what, and --fail-on any-widening fails on it.
    head = tmp_path / "policies"
    shutil.copytree(POLICIES, head, ignore=shutil.ignore_patterns("history", "legacy"))
    text = (head / "obligations.cedar").read_text()
    books = """(principal has books &&
   resource.module.products.contains(Product::"books") &&
   context.fields.containsAny(principal.books.role.hidden_fields)) ||"""
    assert text.count(books) == 1
    (head / "obligations.cedar").write_text(text.replace(books, "false ||"))
    report = semantic_diff(
        policies, load_policies(head), default_orgs(policies, []), "now", "weakened"
    )
    dropped = [g for g in report.groups if g.action == "view" and g.type == "item"]
    assert dropped and all(g.widening for g in dropped)
    assert {(g.was, g.now) for g in dropped} >= {
        ("allow, hiding cost_price", "allow, hiding nothing")
    }
    assert unexpected_changes(report, "any-widening", None)
