"""The prover's soundness holes, each as a test that fails until it is closed.

Each hole is one textual edit of a copy of the shipped set (policies/ without history/) whose
change Cedar confirms on a concrete org and request (`test_the_change_is_real`, which passes),
and which `authz diff --prove` misses today: it says "proven: no decision changes", or it
fails with a TypeError or a false EncodingMismatch. The soundness requirement
(`test_the_prover_sees_the_change`) is that the prover either refuses the edited set by name
(an AuthzError that names the policy, neither EncodingMismatch nor a Python error) or reports
the change, in the right direction; never "no decision changes" over a change Cedar makes.

H6 is a pair: BASE is itself one edit of the shipped set (the own-submission forbid
on `principal.crm_admin`), HEAD the same forbid on `resource.submitted_by.crm_admin`;
`H6-from-shipped` makes the second edit alone, against the shipped set. Under `--prove`,
`--fail-on` must still fail H3, H4, H5 and H6 (`test_under_prove_the_guard_still_fails`, slow:
each runs the enumeration, 15-30 s), as it does without `--prove`.

Each failed on 3b794ea (and on dfeb1a0, where they were written): the world gave every record
a title, every context every key, the principal a fixed id, role and email, and the other user
no attributes. A hole still open is `xfail(strict=True)`: closing it turns its test into an
XPASS, which fails the run until the marker is removed.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from suite_authz.engine.core import AuthzError, Engine, Request
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet, load_policies
from suite_authz.engine.review import proven_diff, semantic_diff, verify_theorems
from suite_authz.engine.review.symbolic.questions import EncodingMismatch
from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES

DEMO_ORG: dict[str, Any] = json.loads(DEMO.read_text(encoding="utf-8"))

# the start of books-integration-user's `when` (integration_users.cedar): H1 and two others
# put one conjunct in front of it
BOOKS_WHEN = '  context.channel == "crm" &&\n  principal has books &&\n  !principal.books.member &&'
OWN_SUBMISSION = "when { resource has submitted_by && resource.submitted_by == principal };"


def _permit(pid: str, rule: str, text: str) -> str:
    return f'\n@id("{pid}")\n@rule("{rule}")\n@reason("a prover hole: {pid}")\n{text}\n'


@dataclass(frozen=True)
class Hole:
    name: str
    policy: str  # the @id of the policy edited (or added)
    edit: tuple[str, str, str]  # (file, old, new); old "" appends new to the file
    request: Request
    was: str  # Cedar's decision on `request` before and after the edit
    now: str
    # the change the prover must report: (direction, action, record type); None: there is
    # none, and the prover must say so or refuse
    change: tuple[str, str, str] | None
    words: tuple[str, ...]  # a refusal names the policy and one of these (the construct)
    why: str  # what goes wrong today (the xfail reason)
    org: dict[str, Any] | None = None  # the demo org unless given
    base_edit: tuple[str, str, str] | None = None  # the shipped set unless given


# H7's org: the demo org with a second CRM admin who holds no seat, whom Olivia may enrol
ADMIN_PAT = copy.deepcopy(DEMO_ORG)
ADMIN_PAT["users"].append(
    {"id": "pat", "name": "Pat", "email": "pat@demo.example", "profile": "sales", "crm_admin": True}
)

HOLES = [
    Hole(
        "H1",
        "books-integration-user",
        ("integration_users.cedar", BOOKS_WHEN, "  resource has title &&\n" + BOOKS_WHEN),
        Request("asha", "create", "estimate"),
        "allow",
        "deny",
        ("narrowing", "create", "estimate"),
        ("title", "has"),
        "the world gives every record a title, with no presence guard: proven no change",
    ),
    Hole(
        "H2",
        "crm-admin-enrols",
        (
            "enrolment.cedar",
            'when { principal.crm_admin };\n\n@id("admin-actions',
            'when { context has product && principal.crm_admin };\n\n@id("admin-actions',
        ),
        Request("olivia", "run_migration", "org", "demo", context={"enrolments": 1}),
        "allow",
        "deny",
        ("narrowing", "run_migration", "org"),
        ("product", "has", "context"),
        "the symbolic context always has `product`: proven no change",
    ),
    Hole(
        "H3",
        "h3-clerk-deletes-estimates",
        (
            "member_roles.cedar",
            "",
            _permit(
                "h3-clerk-deletes-estimates",
                "D6",
                'permit (principal, action == Action::"delete", resource is Estimate)\n'
                'when { principal has books && principal.books.role == Role::"books-clerk" };',
            ),
        ),
        Request("chen", "delete", "estimate", "est-1"),
        "deny",
        "allow",
        ("widening", "delete", "estimate"),
        ("books-clerk", "Role", "role"),
        "the world's roles are `role.<product>`, never a named one: proven no change",
    ),
    Hole(
        "H4",
        "h4-asha-deletes-estimates",
        (
            "integration_users.cedar",
            "",
            _permit(
                "h4-asha-deletes-estimates",
                "D4",
                'permit (principal == User::"asha", action == Action::"delete", '
                'resource is Estimate) when { context.channel == "crm" };',
            ),
        ),
        Request("asha", "delete", "estimate", "est-1"),
        "deny",
        "allow",
        ("widening", "delete", "estimate"),
        ("asha", "User", "principal"),
        'the world fixes the principal to User::"u": proven no change',
    ),
    Hole(
        "H5",
        "h5-fay-deletes-estimates",
        (
            "identity.cedar",
            "",
            _permit(
                "h5-fay-deletes-estimates",
                "D6",
                'permit (principal, action == Action::"delete", resource is Estimate)\n'
                'when { principal.email == "fay@demo.example" };',
            ),
        ),
        Request("fay", "delete", "estimate", "est-1"),
        "deny",
        "allow",
        ("widening", "delete", "estimate"),
        ("email", "fay@demo.example"),
        "the world fixes the principal's email to u@proof.example: proven no change",
    ),
    Hole(
        # a pair: the forbid changed from `... && principal.crm_admin` (BASE, itself
        # one edit of the shipped set) to `... && resource.submitted_by.crm_admin` (HEAD)
        "H6",
        "approve-not-own-submission",
        (
            "approval.cedar",
            OWN_SUBMISSION,
            OWN_SUBMISSION.replace(
                "resource.submitted_by == principal", "resource.submitted_by.crm_admin"
            ),
        ),
        Request("olivia", "approve", "invoice", "inv-2"),
        "deny",
        "allow",
        ("widening", "approve", "invoice"),
        ("crm_admin", "submitted_by"),
        "the other user's crm_admin is not modelled, the principal's is used: proven no change",
        base_edit=(
            "approval.cedar",
            OWN_SUBMISSION,
            OWN_SUBMISSION.replace("resource.submitted_by == principal", "principal.crm_admin"),
        ),
    ),
    Hole(
        # the same edit against the shipped set: the same code, loudly
        "H6-from-shipped",
        "approve-not-own-submission",
        (
            "approval.cedar",
            OWN_SUBMISSION,
            OWN_SUBMISSION.replace(
                "resource.submitted_by == principal", "resource.submitted_by.crm_admin"
            ),
        ),
        Request("dana", "approve", "invoice", "inv-2"),
        "deny",
        "allow",
        ("widening", "approve", "invoice"),
        ("crm_admin", "submitted_by"),
        "the other user's crm_admin is not modelled, the principal's is used: a narrowing "
        "Cedar does not confirm, EncodingMismatch",
    ),
    Hole(
        "H7",
        "h7-no-admin-enrolled",
        (
            "enrolment.cedar",
            "",
            '\n@id("h7-no-admin-enrolled")\n@rule("D12")\n@reason("a prover hole: h7")\n'
            '@missing("a user who is not a CRM admin")\n'
            'forbid (principal, action == Action::"enrol_integration_user", resource)\n'
            "when { resource.crm_admin };\n",
        ),
        Request("olivia", "enrol_integration_user", "user", "pat", context={"product": "books"}),
        "allow",
        "deny",
        ("narrowing", "enrol_integration_user", "user"),
        ("crm_admin",),
        "the enrolled user's crm_admin is not modelled, the principal's is used: EncodingMismatch",
        org=ADMIN_PAT,
    ),
    Hole(
        "set-neq-crash",
        "books-integration-user",
        (
            "integration_users.cedar",
            BOOKS_WHEN,
            '  context.fields != ["invoice.notes"] &&\n' + BOOKS_WHEN,
        ),
        Request("asha", "edit", "invoice", "inv-1", fields=("notes",)),
        "allow",
        "deny",
        ("narrowing", "edit", "invoice"),
        ("!=", "Set", "set"),
        "`!=` between two sets: TypeError `== between Set and Set` (CLI: internal error)",
    ),
    Hole(
        "not-has-title",
        "books-integration-user",
        ("integration_users.cedar", BOOKS_WHEN, "  !(resource has title) &&\n" + BOOKS_WHEN),
        Request("asha", "create", "estimate"),
        "allow",
        "allow",
        None,
        ("title", "has"),
        "`has title` is true on every record: a narrowing Cedar does not confirm, reported as "
        "EncodingMismatch (exit 2)",
    ),
]


def _copy(target: Path) -> Path:
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("history"))
    return target


def _edit(target: Path, edit: tuple[str, str, str]) -> Path:
    file, old, new = edit
    path = target / file
    text = path.read_text(encoding="utf-8")
    if old:
        assert text.count(old) == 1, f"{file}: {old!r} found {text.count(old)} times"
        text = text.replace(old, new, 1)
    else:
        text += new
    path.write_text(text, encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy(tmp_path_factory.mktemp("base") / "policies")


@pytest.fixture(scope="module")
def shipped(shipped_copy: Path) -> PolicySet:
    return load_policies(shipped_copy)


def _dirs(hole: Hole, shipped_copy: Path, tmp_path: Path) -> tuple[Path, Path]:
    """BASE and HEAD of a hole, as directories."""
    base = shipped_copy
    if hole.base_edit is not None:
        base = _edit(_copy(tmp_path / "base"), hole.base_edit)
    return base, _edit(_copy(tmp_path / "head"), hole.edit)


def _decide(policies: PolicySet, org: dict[str, Any], request: Request) -> Any:
    engine = Engine(policies, load_org(org, policies.catalogue, "org"))
    engine.validate(request)
    return engine.decide(request)


@pytest.mark.parametrize("hole", HOLES, ids=[h.name for h in HOLES])
def test_the_change_is_real(hole: Hole, shipped_copy: Path, tmp_path: Path) -> None:
    """The edit validates, and Cedar decides the hole's request as `was` and `now` say."""
    base_dir, head_dir = _dirs(hole, shipped_copy, tmp_path)
    for directory in (head_dir,) if hole.base_edit is None else (base_dir, head_dir):
        code, out, err = run("validate", "--policies", str(directory))
        assert code == 0, out + err
    base, head = load_policies(base_dir), load_policies(head_dir)
    assert hole.policy in {info.id for info in head.policies.values()}
    org = hole.org or DEMO_ORG
    before, after = _decide(base, org, hole.request), _decide(head, org, hole.request)
    assert (before.decision, after.decision) == (hole.was, hole.now), (before, after)
    if hole.change is None:  # nothing changes over the demo org, obligations included
        assert before.policies == after.policies
        assert semantic_diff(base, head, [("demo", DEMO)]).groups == ()


def _refused_by_name(hole: Hole, exc: AuthzError) -> None:
    """A refusal is sound when it says which policy and which construct it cannot read."""
    message = str(exc)
    assert not isinstance(exc, EncodingMismatch), f"false encoding bug: {message}"
    assert hole.policy in message, f"the refusal does not name `{hole.policy}`: {message}"
    assert any(w in message for w in hole.words), f"nor the construct {hole.words}: {message}"


def _proven(hole: Hole, base: PolicySet, head: PolicySet) -> Any:
    try:
        return proven_diff(base, head)[0]
    except EncodingMismatch as exc:
        pytest.fail(f"EncodingMismatch over a sound edit: {exc}")
    except AuthzError as exc:
        _refused_by_name(hole, exc)
        return None
    except Exception as exc:  # a Python error is neither a proof nor a refusal
        pytest.fail(f"the prover crashed: {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("hole", HOLES, ids=[h.name for h in HOLES])
def test_the_prover_sees_the_change(
    hole: Hole, shipped: PolicySet, shipped_copy: Path, tmp_path: Path
) -> None:
    base_dir, head_dir = _dirs(hole, shipped_copy, tmp_path)
    base = shipped if hole.base_edit is None else load_policies(base_dir)
    report = _proven(hole, base, load_policies(head_dir))
    if report is None:  # refused by name
        return
    seen = [(g.was, g.now, g.action, g.type) for g in report.groups]
    if hole.change is None:
        assert report.groups == (), f"a change Cedar does not make: {seen}"
        return
    direction, action, kind = hole.change
    found = report.widenings if direction == "widening" else report.narrowings
    assert found, (
        f"proven: no {direction} (groups: {seen}); Cedar: {hole.request} {hole.was} -> {hole.now}"
    )
    assert (action, kind) in {(g.action, g.type) for g in found}, seen


HOLE = {h.name: h for h in HOLES}
H4 = HOLE["H4"]


def test_h4_verify_does_not_say_p1_holds(shipped_copy: Path, tmp_path: Path) -> None:
    head = load_policies(_dirs(H4, shipped_copy, tmp_path)[1])
    try:
        verdicts = verify_theorems(head)
    except EncodingMismatch as exc:
        pytest.fail(f"EncodingMismatch: {exc}")
    except AuthzError as exc:
        _refused_by_name(H4, exc)
        return
    p1 = next(v for v in verdicts if v.theorem.id == "P1")
    assert not p1.holds, "P1 holds, yet Cedar lets Asha, a member of no product, delete an estimate"


# -- the redaction a change drops, on an org the coverage org does not model ----------------

SUBSCRIPTIONS_REDACTION = """ ||
  (principal has subscriptions &&
   resource.module.products.contains(Product::"subscriptions") &&
   context.fields.containsAny(principal.subscriptions.role.hidden_fields))
};"""
REDACTION = ("obligations.cedar", SUBSCRIPTIONS_REDACTION, "\n};")
# a Subscriptions member whose role hides the subscription's price
PRICE_HIDDEN: dict[str, Any] = {
    "id": "redact",
    "name": "A Subscriptions role that hides the price",
    "data_centre": "EU",
    "edition": "enterprise",
    "new_org": False,
    "profiles": [{"id": "sales", "name": "Sales", "allows": {"subscription": ["view"]}}],
    "roles": [
        {
            "id": "subscriptions-viewer",
            "product": "subscriptions",
            "name": "Viewer",
            "grants": {"subscription": ["view"]},
            "fields": {"subscription": {"price": "hidden"}},
        }
    ],
    "users": [
        {
            "id": "sam",
            "name": "Sam",
            "email": "sam@redact.example",
            "profile": "sales",
            "memberships": [{"product": "subscriptions", "role": "subscriptions-viewer"}],
        }
    ],
    "records": [{"id": "sub-1", "type": "subscription"}],
}
VIEW_SUBSCRIPTION = Request("sam", "view", "subscription", "sub-1")
REDACTION_HOLE = Hole(
    "redaction",
    "redact-hidden-fields",
    REDACTION,
    VIEW_SUBSCRIPTION,
    "allow",  # and hides the price
    "allow",  # and hides nothing
    ("widening", "view", "subscription"),
    ("redact", "obligation"),
    "the proof compares allow/deny only, not obligations",
    org=PRICE_HIDDEN,
)


def test_the_dropped_redaction_is_real(shipped: PolicySet, tmp_path: Path) -> None:
    head_dir = _edit(_copy(tmp_path / "head"), REDACTION_HOLE.edit)
    code, out, err = run("validate", "--policies", str(head_dir))
    assert code == 0, out + err
    head = load_policies(head_dir)
    before = _decide(shipped, PRICE_HIDDEN, VIEW_SUBSCRIPTION)
    after = _decide(head, PRICE_HIDDEN, VIEW_SUBSCRIPTION)
    assert before.allowed and after.allowed
    assert before.redact_fields == ("price",) and after.redact_fields == ()


def test_the_prover_sees_the_dropped_redaction(shipped: PolicySet, tmp_path: Path) -> None:
    head = load_policies(_edit(_copy(tmp_path / "head"), REDACTION_HOLE.edit))
    report = _proven(REDACTION_HOLE, shipped, head)
    if report is None:
        return
    assert report.widenings, "proven: no decision changes; Cedar no longer hides subscription.price"
    assert ("view", "subscription") in {(g.action, g.type) for g in report.widenings}


# -- the CLI: --prove must never pass what the enumeration fails ----------------------------

# (hole, the guard the enumeration fails it on): the four that widen
CLI_HOLES = [
    (HOLE["H3"], "any-widening"),
    (HOLE["H4"], "non-member-gain"),
    (HOLE["H5"], "any-widening"),
    (HOLE["H6"], "any-widening"),
]


def _diff(base: Path, head: Path, *extra: str) -> tuple[int, str, str]:
    return run("diff", str(base), str(head), "--format", "text", *extra)


@pytest.mark.slow
def test_without_prove_the_guard_fails_h4(shipped_copy: Path, tmp_path: Path) -> None:
    base, head = _dirs(H4, shipped_copy, tmp_path)
    code, out, err = _diff(base, head, "--fail-on", "non-member-gain")
    assert code == 1, out + err
    assert "gains `delete` on estimate" in err


@pytest.mark.slow
@pytest.mark.parametrize(
    ("hole", "guard"),
    [pytest.param(h, g, id=f"{h.name} --fail-on {g}") for h, g in CLI_HOLES],
)
def test_under_prove_the_guard_still_fails(
    hole: Hole, guard: str, shipped_copy: Path, tmp_path: Path
) -> None:
    base, head = _dirs(hole, shipped_copy, tmp_path)
    code, out, err = _diff(base, head, "--prove", "--fail-on", guard)
    assert code in (1, 2), f"exit {code}\n{out}{err}"  # never 0, never 3 (a proof that missed)
    assert "proven: no decision changes" not in out, out
    if code == 1:  # the guard failed, on the change
        _, action, kind = hole.change or ("", "", "")
        assert f"gains `{action}` on {kind}" in err, err
    else:  # a refusal by name, not an encoding bug (which exits 2 today too)
        assert hole.policy in err and "encoding bug" not in err, err


def test_a_counterexample_with_filler_users_and_a_named_profile_is_a_valid_org(
    shipped: PolicySet, tmp_path: Path
) -> None:
    """The org a counterexample decodes into loads: its filler integration users hold a
    profile the org has, also when the acting user's is one a policy names (fails on
    bc199a2 with InvalidOrg: the fillers named a profile the org did not have)."""
    grant = (
        '\n@id("named-profile-deletes")\n@rule("D6")\n@reason("a mutant")\n'
        'permit (principal, action == Action::"delete", resource is Estimate)\n'
        'when { principal.profile == Profile::"sales" && principal.org.integration_users > 2 };\n'
    )
    head = load_policies(_edit(_copy(tmp_path / "head"), ("enrolment.cedar", "", grant)))
    report, _ = proven_diff(shipped, head)
    assert any(g.action == "delete" and g.widening for g in report.groups), report


def test_the_prover_sees_a_sender_policy_that_turns_mails_into_denies(
    shipped: PolicySet, tmp_path: Path
) -> None:
    """An allowed mail becomes a deny when the @obligation policies name no sender for it
    (D11: exactly one candidate address): the proof asks what the engine decides, obligations
    included (on a016d59, "no decision changes"; found by the mutant test)."""
    edit = (
        "obligations.cedar",
        "when { context has sender && context.sender == principal.email };",
        "when { context has sender && context.sender == principal.email && "
        "resource.module.approval };",
    )
    head = load_policies(_edit(_copy(tmp_path / "head"), edit))
    report, _ = proven_diff(shipped, head)  # each group confirmed by Cedar, or it raises
    lost = [g for g in report.groups if g.action == "send_email" and g.now == "deny"]
    assert lost, report
