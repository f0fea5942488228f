"""The built-in coverage org: one user for every combination of the attributes the policies can
see (a seat per product, role grants, field rules, CRM profile, admin flag) and records in every
state they can see (approval on and off, every status, submitter or not, report folders and
dashboard titles). `authz diff` compares two policy sets on it beside real orgs."""

from __future__ import annotations

from itertools import product
from typing import Any

from suite_authz.engine.core.catalogue import Catalogue

BOOKS_SEATS = ("none", "integration", "member-full", "member-limited")
SUBSCRIPTIONS_SEATS = ("none", "integration", "member-full")
PROFILES = ("everything", "no-subscriptions", "view-only")
APPROVAL = {"books": ["estimate", "invoice"]}  # sales and purchase orders: approval off


def coverage_org(catalogue: Catalogue) -> dict[str, Any]:
    return {
        "id": "coverage",
        "name": "built-in coverage org",
        "data_centre": "EU",
        "edition": "enterprise",
        "approval": APPROVAL,
        "integration_user_fields": {"books": {"invoice": {"discount": "read_only"}}},
        "profiles": _profiles(catalogue),
        "roles": _roles(catalogue),
        "users": _users(),
        "records": _records(catalogue),
    }


def _roles(catalogue: Catalogue) -> list[dict[str, Any]]:
    modules = list(catalogue.modules)
    books = [m for m in modules if "books" in catalogue.modules[m].products]
    subs = [m for m in modules if "subscriptions" in catalogue.modules[m].products]
    return [
        {"id": "books-full", "product": "books", "grants": {m: ["*"] for m in books}},
        {
            "id": "books-limited",
            "product": "books",
            "grants": {m: ["view", "create", "edit"] for m in books},
            "fields": {"item": {"cost_price": "hidden"}, "invoice": {"discount": "read_only"}},
        },
        {
            "id": "subscriptions-full",
            "product": "subscriptions",
            "grants": {m: ["*"] for m in subs},
        },
    ]


def _profiles(catalogue: Catalogue) -> list[dict[str, Any]]:
    modules = list(catalogue.modules)
    return [
        {"id": "everything", "allows": {m: ["*"] for m in modules}},
        {
            "id": "no-subscriptions",
            "allows": {
                m: ["*"] for m in modules if "subscriptions" not in catalogue.modules[m].products
            },
        },
        {"id": "view-only", "allows": {m: ["view"] for m in modules}},
    ]


def _users() -> list[dict[str, Any]]:
    """One user per combination of seats, CRM profile and admin flag, and a submitter."""
    users: list[dict[str, Any]] = [
        {
            "id": "submitter",
            "email": "submitter@coverage.example",
            "profile": "everything",
            "memberships": [{"product": "books", "role": "books-full"}],
        }
    ]
    for b, s, profile, admin in product(BOOKS_SEATS, SUBSCRIPTIONS_SEATS, PROFILES, (False, True)):
        uid = f"books-{b}.subscriptions-{s}.{profile}{'.admin' if admin else ''}"
        user: dict[str, Any] = {
            "id": uid,
            "email": f"{uid}@coverage.example",
            "profile": profile,
            "crm_admin": admin,
            "memberships": [],
            "enrolments": [],
        }
        for prod, seat in (("books", b), ("subscriptions", s)):
            if seat == "integration":
                user["enrolments"].append({"product": prod})
            elif seat.startswith("member"):
                role = f"{prod}-{seat.removeprefix('member-')}"
                user["memberships"].append({"product": prod, "role": role})
        users.append(user)
    return users


def _records(catalogue: Catalogue) -> list[dict[str, Any]]:
    """Every record type in every status it can have; reports and dashboards in each folder
    and title the policies tell apart."""
    records: list[dict[str, Any]] = []
    approval_on = {m for ms in APPROVAL.values() for m in ms}
    for m, info in catalogue.modules.items():
        if info.transaction:
            statuses = ["draft", "approved", "void"]
            if m in approval_on:
                statuses.append("pending_approval")
            for status in statuses:
                rec: dict[str, Any] = {"id": f"{m}-{status}", "type": m, "status": status}
                if status in ("pending_approval", "approved"):
                    rec["submitted_by"] = "submitter"
                records.append(rec)
        elif m == "report":
            records += [
                {
                    "id": "report-subscriptions",
                    "type": m,
                    "folder": "Subscriptions Reports",
                    "title": "MRR",
                },
                {"id": "report-other", "type": m, "folder": "Sales Reports", "title": "Pipeline"},
            ]
        elif m == "dashboard":
            records += [
                {"id": f"dashboard-{n}", "type": m, "title": title}
                for n, title in enumerate(
                    ("Subscriptions Overview", "Subscriptions Insights", "Sales")
                )
            ]
        else:
            records.append({"id": f"{m}-1", "type": m})
    return records
