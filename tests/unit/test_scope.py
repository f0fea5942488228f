"""The enumerated diff asks both sets only the requests a differing policy's scope can match
(engine/review/scope.py). That pruning must be exact: outside every differing scope, both sets
answer
alike, in the decision and in what an allow carries. Checked here against Cedar itself, on
random mutants of the shipped set (tests/mutants.py) and on hand-made edits of each kind of
scope, over requests wider than the crosscheck's (tests/mutants.py `requests_for`)."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from suite_authz.engine.core import Engine
from suite_authz.engine.core.decision import Decision
from suite_authz.engine.core.model import Org, load_org
from suite_authz.engine.core.policies import PolicySet, load_policies
from suite_authz.engine.core.request import Request
from suite_authz.engine.review import semantic_diff as diff
from suite_authz.engine.review.scope import Changed, Scope
from tests.conftest import DEMO, POLICIES
from tests.mutants import Mutator, PolicyFiles, Vocabulary, build, example_orgs, requests_for

HISTORY = POLICIES / "history" / "2025-05"
MUTANTS = 12


@cache
def shipped() -> PolicySet:
    return load_policies(POLICIES)


@cache
def demo() -> tuple[Org, tuple[Request, ...]]:
    org = load_org(DEMO, shipped().catalogue)
    return org, tuple(requests_for(org, shipped()))


def _answer(d: Decision) -> tuple[Any, ...]:
    return (d.allowed, d.acting_as, d.sender, d.redact_fields)


def _outside_differs(base: PolicySet, head: PolicySet) -> tuple[list[str], int]:
    """The requests the pruning would skip whose answers differ (must be none), and how many
    it skipped."""
    org, requests = demo()
    touched = Changed(base, head)
    skipped = [r for r in requests if not touched.may_change(r)]
    before = Engine(base, org).decide_many(skipped, probe=False)
    after = Engine(head, org).decide_many(skipped, probe=False)
    wrong = [
        f"{r.subject} {r.action} {r.resource}: {_answer(b)} -> {_answer(a)}"
        for r, b, a in zip(skipped, before, after, strict=True)
        if _answer(b) != _answer(a)
    ]
    return wrong, len(skipped)


def test_the_pruned_diff_is_the_full_one() -> None:
    """2025-05 -> shipped over the demo and coverage orgs: the same groups, counts and
    examples as asking every request, with fewer asked."""
    base = load_policies(HISTORY)
    orgs: list[tuple[str, Any]] = [("demo", DEMO)]
    pruned = diff(base, shipped(), orgs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Changed, "may_change", lambda self, request: True)
        full = diff(base, shipped(), orgs)
    assert full.asked == full.compared
    assert 0 < pruned.asked < pruned.compared == full.compared
    assert [g.to_dict() for g in pruned.groups] == [g.to_dict() for g in full.groups]


def test_random_mutants_change_nothing_outside_their_scopes(tmp_path: Path) -> None:
    vocabulary = Vocabulary.of(example_orgs(), shipped().catalogue)
    files = PolicyFiles.read(POLICIES)
    made = Mutator(files, vocabulary, 7).mutants()
    checked = skipped = 0
    failures = []
    while checked < MUTANTS:
        built = build(next(made), tmp_path / "sets", files, shipped())
        if isinstance(built, str):
            continue
        checked += 1
        wrong, n = _outside_differs(built.base, built.head)
        skipped += n
        if wrong:
            failures.append(f"{built.mutant.label()}: {wrong[0]} (and {len(wrong) - 1} more)")
    assert not failures, "\n".join(failures)
    assert skipped > MUTANTS * 100  # the pruning skipped something to be checked


def _edited(tmp_path: Path, file: str, old: str, new: str) -> PolicySet:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("history"))
    path = target / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return load_policies(target)


@pytest.mark.parametrize(
    ("file", "old", "new", "request_"),
    [
        # an @obligation edited (the sender of a mail): only its scope, send_email, is asked,
        # and an edit of it does change what a mail carries
        (
            "obligations.cedar",
            "when { context has sender && context.sender == principal.email };",
            "when { context has sender };",
            Request("fay", "send_email", "estimate", "est-2"),
        ),
        # a redaction obligation: the view of an item is asked
        (
            "obligations.cedar",
            "context.fields.containsAny(principal.books.role.hidden_fields)) ||",
            "context.fields.containsAny(principal.books.role.hidden_fields) && false) ||",
            Request("chen", "view", "item", "item-1"),
        ),
    ],
)
def test_an_obligation_s_scope_is_asked(
    tmp_path: Path, file: str, old: str, new: str, request_: Request
) -> None:
    head = _edited(tmp_path, file, old, new)
    touched = Changed(shipped(), head)
    assert touched.may_change(request_)
    wrong, _ = _outside_differs(shipped(), head)
    assert not wrong


def test_each_kind_of_scope_reads_as_cedar_matches() -> None:
    est = {
        "principal": {"op": "==", "entity": {"type": "User", "id": "asha"}},
        "action": {"op": "in", "entities": [{"type": "Action", "id": "delete"}]},
        "resource": {"op": "is", "entity_type": "Estimate", "in": {"entity": {}}},
        "conditions": [],
    }
    scope = Scope.of(est)
    assert scope.matches(Request("asha", "delete", "estimate", "est-1"), "Estimate")
    assert not scope.matches(Request("ben", "delete", "estimate", "est-1"), "Estimate")
    assert not scope.matches(Request("asha", "view", "estimate", "est-1"), "Estimate")
    assert not scope.matches(Request("asha", "delete", "invoice", "inv-1"), "Invoice")
    group = Scope.of(
        {
            **est,
            "principal": {"op": "All"},
            "action": {"op": "in", "entity": {"type": "Action", "id": "record_action"}},
            "resource": {"op": "==", "entity": {"type": "Invoice", "id": "inv-1"}},
        }
    )
    assert group.matches(Request("ben", "approve", "invoice", "inv-1"), "Invoice")
    assert not group.matches(Request("ben", "approve", "invoice", "inv-2"), "Invoice")
    assert not group.matches(Request("ben", "enrol_integration_user", "user", "ben"), "User")


def test_sets_that_differ_beyond_their_policies_are_asked_everything(tmp_path: Path) -> None:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("history"))
    schema = target / "schema.cedarschema"
    schema.write_text(schema.read_text(encoding="utf-8") + "\n// a comment\n", encoding="utf-8")
    head = load_policies(target)
    touched = Changed(shipped(), head)
    assert touched.everything
    assert touched.may_change(Request("asha", "view", "estimate", "est-1"))
    assert not Changed(shipped(), shipped()).may_change(
        Request("asha", "view", "estimate", "est-1")
    )


def test_a_request_of_a_type_the_catalogue_lacks_is_asked() -> None:
    touched = Changed(shipped(), shipped())
    assert touched.may_change(Request("asha", "view", "nothing-like-it", "x"))
