"""One behaviour per test, for every rule D1-D12, with allows and denies beside each other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from suite_authz.engine.core import Decision, Engine, Request
from tests.conftest import user

DemoWith = Callable[[Callable[[dict[str, Any]], None]], Engine]


def ask(engine: Engine, subject: str, action: str, resource: str, **kw: Any) -> Decision:
    kind, _, rid = resource.partition(":")
    return engine.decide(Request(subject, action, kind, rid or None, **kw))


# D1 own identity ----------------------------------------------------------------------------------


def test_allow_names_the_acting_user_and_product(demo: Engine) -> None:
    d = ask(demo, "asha", "edit", "estimate:est-1")
    assert d.allowed and d.acting_as is not None
    assert (d.acting_as.user, d.acting_as.product) == ("asha", "books")


def test_request_to_act_as_the_integration_owner_is_denied(demo: Engine) -> None:
    d = ask(demo, "asha", "view", "estimate:est-1", context={"acting_as": "olivia"})
    assert not d.allowed and d.policies == ("own-identity-only",) and d.rules == ("D1",)


def test_request_to_act_as_oneself_is_allowed(demo: Engine) -> None:
    assert ask(demo, "asha", "view", "estimate:est-1", context={"acting_as": "asha"}).allowed


def test_integration_owner_rights_never_reach_a_user_without_a_seat(demo: Engine) -> None:
    for action in ("view", "create", "edit", "delete", "approve", "void"):
        d = ask(demo, "ben", action, "invoice:inv-1")
        assert not d.allowed and "D1" in d.rules and "D2" in d.rules


# D2 no membership, no access ----------------------------------------------------------------------


def test_user_without_seat_is_denied_even_with_an_admin_profile(demo_with: DemoWith) -> None:
    engine = demo_with(lambda o: user(o, "ben").update(profile="administrator", crm_admin=True))
    d = ask(engine, "ben", "view", "estimate:est-1")
    assert not d.allowed and "no-finance-identity" in d.policies


def test_subscriptions_integration_user_has_no_access_to_books_only_records(demo: Engine) -> None:
    d = ask(demo, "gil", "view", "estimate:est-1")
    assert not d.allowed and d.rules == ("D1", "D2")


def test_shared_module_opens_to_a_seat_in_either_product(demo_with: DemoWith) -> None:
    # Subscriptions admins may view invoices: invoices are shared with Books (D9).
    engine = demo_with(
        lambda o: user(o, "ben").update(
            memberships=[{"product": "subscriptions", "role": "subscriptions-admin"}]
        )
    )
    d = ask(engine, "ben", "view", "invoice:inv-1")
    assert d.allowed and d.acting_as is not None and d.acting_as.product == "subscriptions"


# D3 CRM profile gate ------------------------------------------------------------------------------


def test_profile_hiding_a_module_denies_from_the_crm(demo: Engine) -> None:
    d = ask(demo, "gil", "create", "subscription")
    assert not d.allowed and d.policies == ("crm-profile-gate",)
    assert (
        "profile `sales-no-subscriptions` does not allow `create` on subscriptions"
        in (d.missing[0])
    )


def test_profile_gate_applies_to_members_too(demo_with: DemoWith) -> None:
    engine = demo_with(lambda o: user(o, "olivia").update(profile="sales-no-subscriptions"))
    assert not ask(engine, "olivia", "view", "subscription:sub-1").allowed
    assert ask(engine, "olivia", "view", "subscription:sub-1", channel="direct").allowed


# D4 integration users of Books --------------------------------------------------------------------


@pytest.mark.parametrize("module", ["estimate", "sales_order", "invoice", "purchase_order"])
@pytest.mark.parametrize("action", ["view", "create", "edit"])
def test_books_integration_user_views_creates_edits_finance_modules(
    demo: Engine, module: str, action: str
) -> None:
    d = ask(demo, "asha", action, module)
    # R3: an edit where the demo org has approval on (estimates, invoices) names D8 as well.
    held = ("D8",) if action == "edit" and module in ("estimate", "invoice") else ()
    assert d.allowed and d.rules == ("D4", *held)
    assert d.policies == ("books-integration-user", *(["approval-checked"] * bool(held)))


@pytest.mark.parametrize("action", ["delete", "approve", "void", "submit", "convert"])
def test_books_integration_user_gets_nothing_beyond_view_create_edit(
    demo: Engine, action: str
) -> None:
    d = ask(demo, "asha", action, "estimate:est-1")
    assert not d.allowed
    # approving or converting a draft is also forbidden by D8; the rest is simply not granted.
    assert d.rules == (("D8",) if action in ("approve", "convert") else ("D4",))


def test_books_integration_user_cannot_touch_items_or_customers(demo: Engine) -> None:
    for resource in ("item:item-1", "customer:cust-1"):
        d = ask(demo, "asha", "view", resource)
        assert not d.allowed and d.rules == ("D4",)
        assert "get no grant on" in d.missing[0]


def test_missing_names_the_integration_grant_where_it_ends(demo: Engine) -> None:
    d = ask(demo, "asha", "delete", "estimate:est-1")
    assert d.missing == (
        "integration users of Books may view, create and edit estimates, not delete them (D4)",
    )


# D5 no direct access for integration users --------------------------------------------------------


def test_integration_user_is_denied_in_the_product_itself(demo: Engine) -> None:
    for action in ("view", "create", "edit"):
        d = ask(demo, "asha", action, "estimate:est-1", channel="direct")
        assert not d.allowed and d.policies == ("integration-users-crm-only",)


def test_member_may_act_directly_in_the_product(demo: Engine) -> None:
    d = ask(demo, "chen", "view", "invoice:inv-1", channel="direct")
    assert d.allowed and d.acting_as is not None and d.acting_as.product == "books"


# D6 unified permissions for members ---------------------------------------------------------------


def test_member_role_decides_in_the_crm(demo: Engine) -> None:
    assert ask(demo, "chen", "view", "invoice:inv-1").allowed
    d = ask(demo, "chen", "edit", "invoice:inv-1")
    assert not d.allowed and d.rules == ("D6",)
    assert d.missing == (
        "members of Books with role `books-clerk` may view invoices, not edit them (D6)",
    )


def test_member_is_not_given_the_integration_grant(demo: Engine) -> None:
    # Fay's role has no purchase orders; being a member, she gets no D4 grant either.
    d = ask(demo, "fay", "view", "purchase_order:po-1")
    assert not d.allowed and d.rules == ("D6",)


def test_admin_role_grants_delete_to_its_member(demo: Engine) -> None:
    assert ask(demo, "olivia", "delete", "estimate:est-1").allowed


# D7 field-level permissions -----------------------------------------------------------------------


def test_view_lists_hidden_fields_to_redact(demo: Engine) -> None:
    d = ask(demo, "chen", "view", "item:item-1")
    assert d.allowed and d.redact_fields == ("cost_price",) and "D7" in d.rules


def test_view_without_hidden_fields_redacts_nothing(demo: Engine) -> None:
    d = ask(demo, "olivia", "view", "item:item-1")
    assert d.allowed and d.redact_fields == () and "D7" not in d.rules


def test_edit_touching_a_hidden_field_is_denied_naming_it(demo: Engine) -> None:
    d = ask(demo, "chen", "edit", "item:item-1", fields=("name", "cost_price"))
    assert not d.allowed and d.policies == ("hidden-field-edit",)
    assert d.missing[0].endswith(": `cost_price`")


def test_edit_touching_a_read_only_field_is_denied_naming_it(demo: Engine) -> None:
    d = ask(demo, "asha", "edit", "invoice:inv-1", fields=("discount",))
    assert not d.allowed and d.policies == ("readonly-field-edit",)
    assert "`discount`" in d.missing[0]


def test_edit_of_visible_writable_fields_is_allowed(demo: Engine) -> None:
    assert ask(demo, "chen", "edit", "item:item-1", fields=("name",)).allowed


# D8 approval process ------------------------------------------------------------------------------


def test_approver_cannot_approve_own_submission(demo: Engine) -> None:
    d = ask(demo, "dana", "approve", "invoice:inv-2")
    assert not d.allowed and d.policies == ("approve-not-own-submission",)


def test_another_approver_may_approve_a_pending_record(demo: Engine) -> None:
    assert ask(demo, "olivia", "approve", "invoice:inv-2").allowed


def test_approve_needs_a_role_that_grants_it(demo: Engine) -> None:
    d = ask(demo, "chen", "approve", "invoice:inv-2")
    assert not d.allowed and d.rules == ("D8",)
    assert d.policies == ("approve-through-approving-product",)


def test_record_not_pending_cannot_be_approved(demo: Engine) -> None:
    d = ask(demo, "olivia", "approve", "invoice:inv-1")
    assert not d.allowed and d.policies == ("approve-pending-only",)


def test_pending_record_cannot_be_sent_or_converted(demo: Engine) -> None:
    for action in ("send_email", "convert"):
        d = ask(demo, "olivia", action, "invoice:inv-2")
        assert not d.allowed and "send-convert-after-approval" in d.policies


def test_draft_in_a_module_with_approval_cannot_be_sent(demo: Engine) -> None:
    d = ask(demo, "fay", "send_email", "estimate:est-1")
    assert not d.allowed and d.rules == ("D8",)


def test_only_an_approver_may_edit_a_pending_record(demo: Engine) -> None:
    d = ask(demo, "asha", "edit", "invoice:inv-2")
    assert not d.allowed and d.policies == ("pending-edit-approvers-only",)
    assert ask(demo, "olivia", "edit", "invoice:inv-2").allowed


def test_only_drafts_can_be_submitted(demo: Engine) -> None:
    assert ask(demo, "fay", "submit", "estimate:est-1").allowed
    d = ask(demo, "fay", "submit", "estimate:est-2")
    assert not d.allowed and d.policies == ("submit-drafts-only",)


def test_without_approval_a_draft_may_be_sent(demo_with: DemoWith) -> None:
    engine = demo_with(lambda o: o.update(approval={"books": ["invoice"]}))
    assert ask(engine, "fay", "send_email", "estimate:est-1").allowed


# D9 union across products -------------------------------------------------------------------------


def test_union_opens_books_and_subscriptions_modules(demo: Engine) -> None:
    books = ask(demo, "eli", "create", "estimate")
    subs = ask(demo, "eli", "create", "subscription")
    assert books.allowed and subs.allowed
    assert books.acting_as is not None and books.acting_as.product == "books"
    assert subs.acting_as is not None and subs.acting_as.product == "subscriptions"
    assert "D9" in books.rules and "D9" in subs.rules


def test_union_does_not_cross_the_channel_rule(demo: Engine) -> None:
    d = ask(demo, "eli", "view", "subscription:sub-1", channel="direct")
    assert not d.allowed and d.rules == ("D5",)


def test_union_does_not_cross_a_field_restriction(demo: Engine) -> None:
    d = ask(demo, "eli", "edit", "invoice:inv-1", fields=("discount",))
    assert not d.allowed and d.rules == ("D7",)


# D10 Subscriptions in the CRM ---------------------------------------------------------------------


def test_subscriptions_integration_user_views_reports_in_the_subscriptions_folder(
    demo: Engine,
) -> None:
    assert ask(demo, "eli", "view", "report:rep-mrr").allowed
    d = ask(demo, "eli", "view", "report:rep-pipeline")
    assert not d.allowed and d.rules == ("D10",)


def test_subscriptions_integration_user_views_both_dashboards(demo: Engine) -> None:
    for dash in ("dash-overview", "dash-insights"):
        d = ask(demo, "eli", "view", f"dashboard:{dash}")
        assert d.allowed and "D10" in d.rules


def test_subscriptions_integration_user_cannot_edit_subscriptions(demo: Engine) -> None:
    d = ask(demo, "eli", "edit", "subscription:sub-1")
    assert not d.allowed and d.rules == ("D10",)


def test_subscriptions_need_a_subscriptions_seat_not_the_admins(demo: Engine) -> None:
    d = ask(demo, "asha", "view", "dashboard:dash-insights")
    assert not d.allowed and "D2" in d.rules


# D11 email under one's own name -------------------------------------------------------------------


def test_send_email_names_the_users_own_address(demo: Engine) -> None:
    d = ask(demo, "fay", "send_email", "estimate:est-2")
    assert d.allowed and d.sender == "fay@demo.example" and "D11" in d.rules


def test_send_email_from_the_owners_address_is_denied(demo: Engine) -> None:
    d = ask(demo, "fay", "send_email", "estimate:est-2", context={"sender": "olivia@demo.example"})
    assert not d.allowed and d.policies == ("sender-own-address",)


def test_non_mail_actions_name_no_sender(demo: Engine) -> None:
    assert ask(demo, "fay", "view", "estimate:est-2").sender is None


# D12 enrolment and migration ----------------------------------------------------------------------


def test_crm_admin_may_enrol_a_user_without_a_seat(demo: Engine) -> None:
    d = ask(demo, "olivia", "enrol_integration_user", "user:ben", context={"product": "books"})
    assert d.allowed and d.rules == ("D12",)


def test_non_admin_cannot_enrol(demo: Engine) -> None:
    d = ask(demo, "asha", "enrol_integration_user", "user:ben", context={"product": "books"})
    assert not d.allowed and d.policies == ("admin-actions-crm-admins-only",)


def test_member_cannot_be_enrolled_as_integration_user_of_the_same_product(demo: Engine) -> None:
    d = ask(demo, "olivia", "enrol_integration_user", "user:chen", context={"product": "books"})
    assert not d.allowed and d.policies == ("enrol-not-a-member",)
    # ...but may be enrolled into the product they are not a member of.
    ok = ask(
        demo, "olivia", "enrol_integration_user", "user:chen", context={"product": "subscriptions"}
    )
    assert ok.allowed


def test_user_is_enrolled_once_per_product(demo: Engine) -> None:
    d = ask(demo, "olivia", "enrol_integration_user", "user:asha", context={"product": "books"})
    assert not d.allowed and d.policies == ("enrol-once-per-product",)


def test_migration_within_the_limit_is_allowed(demo: Engine) -> None:
    # R1: asha, eli and gil are integration users already: 3 + 997 = 1000.
    d = ask(demo, "olivia", "run_migration", "org:demo", context={"enrolments": 997})
    assert d.allowed


def test_migration_over_the_limit_is_denied(demo: Engine) -> None:
    # R1: every integration user counts, however enrolled: 3 + 998 > 1000.
    d = ask(demo, "olivia", "run_migration", "org:demo", context={"enrolments": 998})
    assert not d.allowed and d.policies == ("migration-limit",)


def test_migration_limit_is_an_org_setting(demo_with: DemoWith) -> None:
    engine = demo_with(lambda o: o["migration"].update(limit=5000))
    assert ask(engine, "olivia", "run_migration", "org:demo", context={"enrolments": 1000}).allowed


def test_non_admin_cannot_run_the_migration(demo: Engine) -> None:
    d = ask(demo, "fay", "run_migration", "org")
    assert not d.allowed and d.rules == ("D12",)


def test_new_org_has_nothing_to_migrate(demo_with: DemoWith) -> None:
    engine = demo_with(lambda o: o.update(new_org=True))
    d = ask(engine, "olivia", "run_migration", "org:demo")
    assert not d.allowed and d.policies == ("migration-not-for-new-orgs",)


@pytest.mark.parametrize("edition", ["enterprise", "ultimate"])
def test_us_enterprise_org_still_runs_the_old_model_and_says_so(
    demo_with: DemoWith, edition: str
) -> None:
    engine = demo_with(lambda o: o.update(data_centre="US", edition=edition))
    for subject, action, resource in [
        ("asha", "create", "estimate"),
        ("olivia", "delete", "estimate:est-1"),
    ]:
        d = ask(engine, subject, action, resource)
        assert not d.allowed and "rollout-not-reached" in d.policies
        assert "old admin-borrowed model" in d.reasons[d.policies.index("rollout-not-reached")]


@pytest.mark.parametrize(
    ("centre", "edition"),
    [("US", "professional"), ("US", "free"), ("EU", "ultimate"), ("IN", "enterprise")],
)
def test_rollout_reaches_other_centres_and_us_editions_below_enterprise(
    demo_with: DemoWith, centre: str, edition: str
) -> None:
    engine = demo_with(lambda o: o.update(data_centre=centre, edition=edition))
    assert ask(engine, "asha", "create", "estimate").allowed
