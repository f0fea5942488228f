"""Hypothesis strategies: random orgs (users, profiles, roles, enrolments, records, approval
settings, field restrictions) and requests over them."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from suite_authz.engine.core.catalogue import RECORD_ACTIONS
from suite_authz.engine.core.request import Request

PRODUCTS = ("books", "subscriptions")
MODULES: dict[str, tuple[str, ...]] = {
    "estimate": ("books",),
    "sales_order": ("books",),
    "invoice": ("books", "subscriptions"),
    "purchase_order": ("books",),
    "item": ("books",),
    "customer": ("books", "subscriptions"),
    "subscription": ("subscriptions",),
    "report": ("subscriptions",),
    "dashboard": ("subscriptions",),
}
TRANSACTIONS = ("estimate", "sales_order", "invoice", "purchase_order")
# Per module, the fields generated orgs restrict and generated edits touch: a few of each
# module's own (R4), so that restrictions and edits meet often.
FIELDS: dict[str, tuple[str, ...]] = {
    "estimate": ("discount", "notes", "total"),
    "sales_order": ("discount", "notes", "total"),
    "invoice": ("discount", "notes", "total"),
    "purchase_order": ("discount", "notes", "total"),
    "item": ("cost_price", "rate", "description"),
    "customer": ("credit_limit", "notes", "email"),
    "subscription": ("price", "discount", "notes"),
    "report": ("filters", "columns", "name"),
    "dashboard": ("widgets", "name", "description"),
}

actions = st.sampled_from(RECORD_ACTIONS)
action_lists = st.lists(st.sampled_from((*RECORD_ACTIONS, "*")), max_size=4, unique=True)


def _table(modules: tuple[str, ...]) -> st.SearchStrategy[dict[str, list[str]]]:
    return st.dictionaries(st.sampled_from(modules), action_lists, max_size=len(modules))


@st.composite
def _field_rules(draw: st.DrawFn, modules: tuple[str, ...]) -> dict[str, dict[str, str]]:
    chosen = draw(st.lists(st.sampled_from(modules), max_size=2, unique=True))
    access = st.sampled_from(("hidden", "read_only"))
    return {
        m: draw(st.dictionaries(st.sampled_from(FIELDS[m]), access, max_size=2)) for m in chosen
    }


def _modules_of(product: str) -> tuple[str, ...]:
    return tuple(m for m, ps in MODULES.items() if product in ps)


@st.composite
def roles(draw: st.DrawFn, product: str, n: int) -> dict[str, Any]:
    mods = _modules_of(product)
    return {
        "id": f"{product}-role-{n}",
        "product": product,
        "grants": draw(_table(mods)),
        "fields": draw(_field_rules(mods)),
    }


@st.composite
def seats(draw: st.DrawFn, role_ids: dict[str, list[str]]) -> tuple[list[Any], list[Any]]:
    memberships, enrolments = [], []
    for product in PRODUCTS:
        kind = draw(st.sampled_from(("none", "member", "integration")))
        if kind == "member":
            memberships.append(
                {"product": product, "role": draw(st.sampled_from(role_ids[product]))}
            )
        elif kind == "integration":
            enrolments.append(
                {"product": product, "source": draw(st.sampled_from(("admin", "migration")))}
            )
    return memberships, enrolments


@st.composite
def orgs(draw: st.DrawFn, min_users: int = 2, max_users: int = 5) -> dict[str, Any]:
    all_roles = []
    role_ids: dict[str, list[str]] = {}
    for product in PRODUCTS:
        count = draw(st.integers(1, 2))
        made = [draw(roles(product, n)) for n in range(count)]
        all_roles += made
        role_ids[product] = [r["id"] for r in made]
    # The integration owner: an admin with every right in every product (D1: it must not matter).
    all_roles += [
        {"id": f"{p}-owner", "product": p, "grants": {m: ["*"] for m in _modules_of(p)}}
        for p in PRODUCTS
    ]
    profiles = [
        {"id": f"profile-{n}", "allows": draw(_table(tuple(MODULES)))}
        for n in range(draw(st.integers(1, 3)))
    ]
    profiles.append({"id": "everything", "allows": {m: ["*"] for m in MODULES}})
    profile_ids = [p["id"] for p in profiles]
    users = [
        {
            "id": "owner",
            "email": "owner@org.example",
            "crm_admin": True,
            "profile": "everything",
            "memberships": [{"product": p, "role": f"{p}-owner"} for p in PRODUCTS],
        }
    ]
    for n in range(draw(st.integers(min_users, max_users))):
        memberships, enrolments = draw(seats(role_ids))
        users.append(
            {
                "id": f"u{n}",
                "email": f"u{n}@org.example",
                "crm_admin": draw(st.booleans()),
                "profile": draw(st.sampled_from(profile_ids)),
                "memberships": memberships,
                "enrolments": enrolments,
            }
        )
    approval = {
        p: draw(st.lists(st.sampled_from(_modules_of(p)), unique=True, max_size=3))
        for p in PRODUCTS
    }
    approval_on = {m for ms in approval.values() for m in ms}
    records = []
    for n in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(tuple(MODULES)))
        rec: dict[str, Any] = {"id": f"r{n}", "type": kind}
        if kind in TRANSACTIONS:
            statuses = ["draft", "approved", "void"]
            if kind in approval_on:
                statuses.append("pending_approval")
            rec["status"] = draw(st.sampled_from(statuses))
            if rec["status"] in ("pending_approval", "approved"):
                rec["submitted_by"] = draw(st.sampled_from([u["id"] for u in users]))
        if kind == "report":
            rec["folder"] = draw(st.sampled_from(("Subscriptions Reports", "Sales Reports")))
        if kind in ("report", "dashboard"):
            rec["title"] = draw(
                st.sampled_from(("Subscriptions Overview", "Subscriptions Insights", "Pipeline"))
            )
        records.append(rec)
    return {
        "id": "gen",
        "data_centre": draw(st.sampled_from(("EU", "IN", "US"))),
        "edition": draw(st.sampled_from(("standard", "professional", "enterprise"))),
        "integration_owner": "owner",
        "approval": approval,
        "integration_user_fields": {p: draw(_field_rules(_modules_of(p))) for p in PRODUCTS},
        "profiles": profiles,
        "roles": all_roles,
        "users": users,
        "records": records,
    }


@st.composite
def record_requests(draw: st.DrawFn, org: dict[str, Any], subject: str) -> dict[str, Any]:
    """A request on a finance record of `org` (or a new one of a type) by `subject`."""
    new = draw(st.booleans())
    if new:
        kind, rid = draw(st.sampled_from(tuple(MODULES))), None
    else:
        rec = draw(st.sampled_from(org["records"]))
        kind, rid = rec["type"], rec["id"]
    action = draw(actions)
    fields = (
        tuple(draw(st.lists(st.sampled_from(FIELDS[kind]), max_size=2, unique=True)))
        if (action == "edit")
        else ()
    )
    context: dict[str, Any] = {}
    claim = draw(st.sampled_from(("none", "none", "none", "acting_as", "sender")))
    if claim == "acting_as":
        context["acting_as"] = draw(st.sampled_from([u["id"] for u in org["users"]]))
    elif claim == "sender":
        context["sender"] = draw(st.sampled_from([u["email"] for u in org["users"]]))
    return {
        "subject": subject,
        "action": action,
        "resource_type": kind,
        "resource_id": rid,
        "channel": draw(st.sampled_from(("crm", "crm", "direct"))),
        "fields": fields,
        "context": context,
    }


@st.composite
def admin_requests(draw: st.DrawFn, subjects: list[str], enrolments: int) -> list[Request]:
    """An enrolment (one of `subjects` enrolling another) and a migration of up to
    `enrolments` users, on the generated org `gen`."""
    return [
        Request(
            draw(st.sampled_from(subjects)),
            "enrol_integration_user",
            "user",
            draw(st.sampled_from(subjects)),
            context={"product": draw(st.sampled_from(PRODUCTS))},
        ),
        Request(
            draw(st.sampled_from(subjects)),
            "run_migration",
            "org",
            "gen",
            context={"enrolments": draw(st.integers(0, enrolments))},
        ),
    ]
