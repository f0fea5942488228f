"""Properties of a migration (D12) over generated orgs and usage: apply grants nothing the
impact report did not list, never enrols a member, never passes the limit, is idempotent, and a
failure half-way leaves the org exactly as it was."""

from __future__ import annotations

import json
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from suite_authz.engine.core import Engine, Request
from suite_authz.engine.core.catalogue import RECORD_ACTIONS
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.migration.apply import apply_plan
from suite_authz.engine.migration.errors import MigrationError
from suite_authz.engine.migration.impact import rights_by_user
from suite_authz.engine.migration.run import load_legacy, plan_org
from suite_authz.engine.store.org_store import OrgStore
from tests.conftest import GENERATED, POLICIES
from tests.strategies import MODULES, PRODUCTS, orgs

POLICY_SET = load_policies(POLICIES)
LEGACY_SET = load_legacy(POLICY_SET)
WINDOW_START = date(2026, 10, 1)


def days(lo: int, hi: int) -> st.SearchStrategy[date]:
    return st.integers(lo, hi).map(lambda n: WINDOW_START + timedelta(days=n))


@st.composite
def migrating_orgs(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]], date]:
    org = draw(orgs(min_users=1, max_users=6))
    # Reached by the rollout and not new: the orgs a migration is for.
    org["data_centre"] = draw(st.sampled_from(("EU", "IN")))
    already = sum(
        1 for u in org["users"] for e in u.get("enrolments", []) if e["source"] == "migration"
    )
    org["migration"] = {
        "window_start": str(WINDOW_START),
        "limit": draw(st.integers(already, already + 4)),
    }
    # The integration owner's seats vary too: what the old model lent is then less than
    # everything, and a user's own role can grant what the owner's did not (a gain).
    owner = next(u for u in org["users"] if u["id"] == "owner")
    owner["memberships"] = [
        {"product": p, "role": role}
        for p in PRODUCTS
        if (
            role := draw(
                st.sampled_from([None, *(r["id"] for r in org["roles"] if r["product"] == p)])
            )
        )
    ]
    # Most users used most products, mostly inside the window: plans with enrolments, and
    # with limits to reach, are the interesting ones.
    usage = [
        {
            "user": u["id"],
            "product": product,
            "module": draw(st.sampled_from([m for m, ps in MODULES.items() if product in ps])),
            "events": draw(st.integers(0, 40)),
            "last_used": str(draw(days(-30, 100))),
        }
        for u in org["users"]
        for product in PRODUCTS
        if draw(st.integers(0, 3))
    ]
    return org, usage, draw(days(10, 150))


def _store(folder: str, org: dict[str, Any]) -> OrgStore:
    store = OrgStore(Path(folder) / "orgs.sqlite3")
    store.import_snapshot(json.dumps(org), POLICY_SET.catalogue)
    return store


@given(migrating_orgs())
def test_m1_apply_grants_only_what_the_impact_listed_and_keeps_d12(
    case: tuple[dict[str, Any], list[dict[str, Any]], date],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        check_m1_apply(_store(folder, case[0]), *case)


def check_m1_apply(
    store: OrgStore, org: dict[str, Any], usage: list[dict[str, Any]], as_of: date
) -> None:
    """`store` holds `org` as generated."""
    GENERATED["M1 migration apply"] += 1
    try:
        plan = plan_org(store, POLICY_SET, org["id"], usage, as_of, with_impact=True)
    except MigrationError as exc:
        assert "nothing left to migrate" in str(exc)
        event("nothing left to migrate")
        return
    event(
        f"applied: {len(plan['enrolments'])} enrolments, over limit "
        f"{plan['counts']['over_limit']}, completes {plan['completes']}"
    )
    before = load_org(org, POLICY_SET.catalogue)
    apply_plan(store, POLICY_SET, plan, "owner")
    after = store.load(org["id"], POLICY_SET.catalogue)

    # No user gained a right the impact report did not list.
    old = rights_by_user(Engine(LEGACY_SET, before), borrowed_from="owner")
    new = rights_by_user(Engine(POLICY_SET, after))
    gained = {u["user"]: set(u["gain"]) for u in plan["impact"]["users"]}
    for uid, rights in new.items():
        assert {f"{m}.{a}" for m, a in rights - old[uid]} <= gained[uid], uid

    # No member of a product became its integration user; the limit holds.
    for user in after.users:
        members = {m.product for m in user.memberships}
        assert not members & {e.product for e in user.enrolments}, user.id
    # R1: the limit caps every integration user, however enrolled (unless the org was
    # already past it before the plan, when the plan enrols nobody new).
    assert after.integration_users <= max(after.migration.limit, before.integration_users)
    # Only the plan's enrolments were added, each once.
    added = {
        (u.id, e.product)
        for u in after.users
        for e in u.enrolments
        if e.source == "migration" and str(e.enrolled_on) == plan["as_of"]
    }
    assert added == {(e["user"], e["product"]) for e in plan["enrolments"]}

    # Idempotent: the same plan again changes nothing.
    text, version = store.export(org["id"]), store.version(org["id"])
    assert not apply_plan(store, POLICY_SET, plan, "owner").changed
    assert (store.export(org["id"]), store.version(org["id"])) == (text, version)


@given(migrating_orgs(), st.sampled_from(("replace_snapshot", "append_audit")))
def test_m2_a_failure_half_way_leaves_the_org_exactly_as_it_was(
    case: tuple[dict[str, Any], list[dict[str, Any]], date], where: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        check_m2_failure(_store(folder, case[0]), *case, where)


def check_m2_failure(
    store: OrgStore, org: dict[str, Any], usage: list[dict[str, Any]], as_of: date, where: str
) -> None:
    """`store` holds `org` as generated, and holds it so after (the property)."""
    GENERATED["M2 migration failure"] += 1
    try:
        plan = plan_org(store, POLICY_SET, org["id"], usage, as_of)
    except MigrationError:
        return
    before = (store.export(org["id"]), store.version(org["id"]), store.audit(org["id"]))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("injected")

    setattr(store, where, broken)
    try:
        apply_plan(store, POLICY_SET, plan, "owner")
    except OSError:
        pass
    else:
        raise AssertionError("the injected failure did not happen")
    delattr(store, where)
    assert (store.export(org["id"]), store.version(org["id"]), store.audit(org["id"])) == before


@given(migrating_orgs(), st.integers(0, 99))
def test_m3_the_old_model_s_two_encodings_agree(
    case: tuple[dict[str, Any], list[dict[str, Any]], date], pick: int
) -> None:
    """What the impact report calls "before" is the same in Cedar and in Polar, whatever
    seats the integration owner holds."""
    check_m3_legacy(case[0], pick)


def check_m3_legacy(org: dict[str, Any], pick: int) -> None:
    """Every right (module x action, from the CRM, as the owner) of one user of the org, drawn
    by `pick`, as the old model's two encodings give it. One user an org, like the record
    properties' one subject: over thousands of orgs every kind of user is drawn, and Polar's
    ~0.4 ms an answer keeps asking every user of every org out of `make prove`'s hour."""
    GENERATED["M3 legacy cedar/polar"] += 1
    model = load_org(org, POLICY_SET.catalogue)
    cedar = Engine(LEGACY_SET, model, "cedar")
    polar = Engine(LEGACY_SET, model, "polar", index=cedar.index)
    user = model.users[pick % len(model.users)].id
    asked = [
        Request(user, action, module, context={"acting_as": "owner"})
        for module in POLICY_SET.catalogue.modules
        for action in RECORD_ACTIONS
    ]
    for request, a, b in zip(
        asked,
        cedar.decide_many(asked, probe=False),
        polar.decide_many(asked, probe=False),
        strict=True,
    ):
        assert (a.allowed, a.rules, a.sender) == (b.allowed, b.rules, b.sender), request
