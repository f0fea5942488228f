"""The rulings R1-R4 (docs/rules.md), each in both encodings: Cedar and Polar both hold them."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from suite_authz.engine.core import Decision, Engine, Request
from suite_authz.engine.core.errors import InvalidOrg
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.review.crosscheck import request_space
from tests.conftest import DEMO, user

BACKENDS = ("cedar", "polar")
Change = Callable[[dict[str, Any]], None]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def org_with(policies: PolicySet, backend: str) -> Callable[[Change], Engine]:
    raw = json.loads(DEMO.read_text(encoding="utf-8"))

    def make(change: Change) -> Engine:
        data = copy.deepcopy(raw)
        change(data)
        return Engine(policies, load_org(data, policies.catalogue), backend)

    return make


def ask(engine: Engine, subject: str, action: str, resource: str, **kw: Any) -> Decision:
    kind, _, rid = resource.partition(":")
    return engine.decide(Request(subject, action, kind, rid or None, **kw))


def enrol(engine: Engine, target: str, product: str) -> Decision:
    return ask(
        engine, "olivia", "enrol_integration_user", f"user:{target}", context={"product": product}
    )


def add_user(data: dict[str, Any], uid: str, **extra: Any) -> None:
    data["users"].append({"id": uid, "email": f"{uid}@demo.example", "profile": "sales", **extra})


# R1 the limit counts every enrolment ------------------------------------------------------------


def at_limit(data: dict[str, Any]) -> None:
    # asha, eli and gil are integration users of the demo org, enrolled by an admin and by the
    # migration alike; eli is enrolled in both products and counts once.
    data["migration"]["limit"] = 3


def test_r1_an_admin_enrolment_past_the_limit_is_denied_naming_d12(
    org_with: Callable[[Change], Engine],
) -> None:
    engine = org_with(at_limit)
    d = enrol(engine, "ben", "books")
    assert not d.allowed and d.rules == ("D12",)
    if engine.backend.name == "cedar":  # Polar names rules; the words are Cedar's annotations
        assert d.policies == ("enrolment-limit",)
        assert any("vendor's support" in m for m in d.missing), d.missing


def test_r1_under_the_limit_an_admin_may_enrol(org_with: Callable[[Change], Engine]) -> None:
    engine = org_with(lambda d: d["migration"].update(limit=4))
    assert enrol(engine, "ben", "books").allowed


def test_r1_a_user_enrolled_in_both_products_counts_once(
    org_with: Callable[[Change], Engine],
) -> None:
    # At the limit, enrolling an integration user of Books into Subscriptions adds nobody.
    engine = org_with(at_limit)
    assert engine.org.integration_users == 3
    assert enrol(engine, "asha", "subscriptions").allowed
    assert not enrol(engine, "ben", "subscriptions").allowed


def test_r1_the_migration_counts_every_integration_user(
    org_with: Callable[[Change], Engine],
) -> None:
    engine = org_with(at_limit)  # three integration users, only one enrolled by the migration
    d = ask(engine, "olivia", "run_migration", "org:demo", context={"enrolments": 1})
    assert not d.allowed and d.rules == ("D12",)
    assert ask(engine, "olivia", "run_migration", "org:demo", context={"enrolments": 0}).allowed


def test_r1_the_limit_never_makes_another_users_rights_matter(
    org_with: Callable[[Change], Engine],
) -> None:
    # D1 still holds: at the limit, every record decision is what it was below it.
    below, at = org_with(lambda d: None), org_with(at_limit)
    for subject in ("asha", "ben", "chen", "eli", "gil"):
        for action in ("view", "create", "edit", "delete"):
            for resource in ("estimate:est-1", "invoice:inv-1", "subscription:sub-1"):
                a, b = ask(below, subject, action, resource), ask(at, subject, action, resource)
                assert (a.allowed, a.rules) == (b.allowed, b.rules)


# R2 approval follows the product that switched it on --------------------------------------------


def subscriptions_approver(data: dict[str, Any]) -> None:
    # sam: a member of Subscriptions only, whose admin role grants approve on invoices.
    add_user(data, "sam", memberships=[{"product": "subscriptions", "role": "subscriptions-admin"}])


def test_r2_approval_off_in_a_product_means_no_approving_through_it(
    org_with: Callable[[Change], Engine],
) -> None:
    engine = org_with(subscriptions_approver)  # demo: only Books has approval on for invoices
    d = ask(engine, "sam", "approve", "invoice:inv-2")
    assert not d.allowed and "D8" in d.rules
    if engine.backend.name == "cedar":
        assert "approve-through-approving-product" in d.policies


def test_r2_approval_on_in_the_product_lets_its_approver_approve(
    org_with: Callable[[Change], Engine],
) -> None:
    def change(data: dict[str, Any]) -> None:
        subscriptions_approver(data)
        data["approval"]["subscriptions"] = ["invoice"]

    d = ask(org_with(change), "sam", "approve", "invoice:inv-2")
    assert d.allowed and d.acting_as is not None and d.acting_as.product == "subscriptions"


def test_r2_a_member_of_both_approves_as_the_approving_product(
    org_with: Callable[[Change], Engine],
) -> None:
    engine = org_with(lambda d: None)
    d = ask(engine, "olivia", "approve", "invoice:inv-2")  # admin of both; Books has approval on
    assert d.allowed and d.acting_as is not None and d.acting_as.product == "books"


def test_r2_only_an_approver_through_the_approving_product_edits_a_pending_record(
    org_with: Callable[[Change], Engine],
) -> None:
    engine = org_with(subscriptions_approver)
    d = ask(engine, "sam", "edit", "invoice:inv-2")
    assert not d.allowed and "D8" in d.rules
    assert ask(engine, "dana", "edit", "invoice:inv-2").allowed  # Books approver


def test_r2_a_record_under_any_products_approval_is_not_sent_before_approval(
    org_with: Callable[[Change], Engine],
) -> None:
    def change(data: dict[str, Any]) -> None:
        subscriptions_approver(data)
        data["records"].append({"id": "inv-3", "type": "invoice", "status": "draft"})

    d = ask(org_with(change), "sam", "send_email", "invoice:inv-3")
    assert not d.allowed and "D8" in d.rules


# R4 field names are the module's own ------------------------------------------------------------


FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) for c in "discount")  # "discount", full width


@pytest.mark.parametrize("name", ["Discount", "DISCOUNT", FULL_WIDTH, "discount_", "price"])
def test_r4_another_spelling_of_a_restricted_field_is_refused_not_allowed(
    org_with: Callable[[Change], Engine], name: str
) -> None:
    engine = org_with(lambda d: None)
    assert not ask(engine, "asha", "edit", "invoice:inv-1", fields=("discount",)).allowed
    d = ask(engine, "asha", "edit", "invoice:inv-1", fields=(name,))
    assert not d.allowed and d.invalid
    assert f"`{name}` is not a field of invoices" in d.errors[0]


def test_r4_a_known_free_field_is_still_allowed(org_with: Callable[[Change], Engine]) -> None:
    engine = org_with(lambda d: None)
    assert ask(engine, "asha", "edit", "invoice:inv-1", fields=("notes",)).allowed


def test_r4_a_near_miss_is_named_with_the_field_it_resembles(
    org_with: Callable[[Change], Engine],
) -> None:
    d = ask(org_with(lambda d: None), "asha", "edit", "invoice:inv-1", fields=("Discount",))
    assert "did you mean `discount`" in d.errors[0]


def test_r4_an_org_whose_field_rules_name_an_unknown_field_is_refused_whole(
    policies: PolicySet,
) -> None:
    data = json.loads(DEMO.read_text(encoding="utf-8"))
    data["integration_user_fields"]["books"]["invoice"]["Discount"] = "hidden"
    user(data, "chen")  # untouched: the org is refused whole, not in part
    next(r for r in data["roles"] if r["id"] == "books-clerk")["fields"]["item"]["costprice"] = (
        "hidden"
    )
    with pytest.raises(InvalidOrg) as caught:
        load_org(data, policies.catalogue)
    problems = caught.value.problems
    assert any(p.startswith("integration_user_fields.books.invoice.Discount:") for p in problems)
    assert any("roles[1].fields.item.costprice:" in p for p in problems), problems


# R3 a decision names every rule that shaped it --------------------------------------------------


def test_r3_the_rules_are_the_same_with_or_without_the_full_explanation(
    org_with: Callable[[Change], Engine],
) -> None:
    engine = org_with(lambda d: None)
    space = list(request_space(engine.org, engine.policies))
    for request in space[:: 3 if engine.backend.name == "polar" else 1]:
        full, plain = engine.decide(request, probe=True), engine.decide(request, probe=False)
        assert (full.allowed, full.rules) == (plain.allowed, plain.rules), request


@pytest.mark.parametrize(
    ("subject", "action", "resource", "rules"),
    [
        ("olivia", "approve", "invoice:inv-2", ("D6", "D8")),  # D8 checked and held
        ("olivia", "view", "report:rep-mrr", ("D6", "D10")),  # the Subscriptions folder
        ("olivia", "view", "report:rep-pipeline", ("D6",)),  # another folder: no D10
        ("eli", "view", "dashboard:dash-overview", ("D9", "D10")),  # the union, and D10
        ("asha", "view", "dashboard:dash-overview", ("D1", "D2", "D10")),  # blocked by D2, D10
        ("chen", "view", "item:item-1", ("D6", "D7")),  # a redaction names D7
        ("fay", "send_email", "estimate:est-2", ("D6", "D8", "D11")),  # sender and approval
        ("asha", "delete", "estimate:est-1", ("D4",)),  # not granted: the seat's rule
    ],
)
def test_r3_each_decision_names_the_rules_that_shaped_it(
    org_with: Callable[[Change], Engine],
    subject: str,
    action: str,
    resource: str,
    rules: tuple[str, ...],
) -> None:
    engine = org_with(lambda d: None)
    for probe in (True, False):
        kind, _, rid = resource.partition(":")
        d = engine.decide(Request(subject, action, kind, rid or None), probe=probe)
        assert d.rules == rules, (probe, d)
