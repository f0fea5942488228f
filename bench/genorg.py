"""A large, deterministic org for benchmarks: N users and M records, seeded."""

from __future__ import annotations

import json
import random
import sys
from typing import Any

MODULES = {
    "estimate": "books",
    "sales_order": "books",
    "invoice": "books",
    "purchase_order": "books",
    "item": "books",
    "customer": "books",
    "subscription": "subscriptions",
    "report": "subscriptions",
    "dashboard": "subscriptions",
}
TRANSACTIONS = ("estimate", "sales_order", "invoice", "purchase_order")


def generate(users: int, records: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    roles = [
        {
            "id": "books-admin",
            "product": "books",
            "grants": {m: ["*"] for m, p in MODULES.items() if p == "books"},
        },
        {
            "id": "books-clerk",
            "product": "books",
            "grants": {"invoice": ["view"], "item": ["view", "edit"]},
            "fields": {"item": {"cost_price": "hidden"}},
        },
        {
            "id": "books-approver",
            "product": "books",
            "grants": {"estimate": ["*"], "invoice": ["*"]},
        },
        {
            "id": "subs-admin",
            "product": "subscriptions",
            "grants": {"subscription": ["*"], "report": ["*"], "dashboard": ["*"]},
        },
    ]
    profiles = [
        {"id": "admin", "allows": {m: ["*"] for m in MODULES}},
        {"id": "sales", "allows": {m: ["view", "create", "edit"] for m in MODULES}},
        {"id": "restricted", "allows": {"estimate": ["view"], "invoice": ["view"]}},
    ]
    people = []
    for n in range(users):
        kind = rng.random()
        user: dict[str, Any] = {
            "id": f"user-{n}",
            "email": f"user-{n}@big.example",
            "profile": rng.choice(("sales", "sales", "restricted", "admin")),
        }
        if kind < 0.4:
            user["enrolments"] = [{"product": "books", "source": "migration"}]
        elif kind < 0.55:
            user["enrolments"] = [{"product": "books"}, {"product": "subscriptions"}]
        elif kind < 0.85:
            user["memberships"] = [
                {"product": "books", "role": rng.choice(("books-clerk", "books-approver"))}
            ]
        if n == 0:
            user.update(
                crm_admin=True,
                profile="admin",
                enrolments=[],
                memberships=[
                    {"product": "books", "role": "books-admin"},
                    {"product": "subscriptions", "role": "subs-admin"},
                ],
            )
        people.append(user)
    recs = []
    kinds = list(MODULES)
    for n in range(records):
        kind = kinds[n % len(kinds)]
        rec: dict[str, Any] = {"id": f"{kind}-{n}", "type": kind}
        if kind in TRANSACTIONS:
            rec["status"] = rng.choice(("draft", "approved", "pending_approval"))
            if rec["status"] == "pending_approval" and kind not in ("estimate", "invoice"):
                rec["status"] = "draft"
            if rec["status"] != "draft":
                rec["submitted_by"] = f"user-{rng.randrange(users)}"
        if kind == "report":
            rec["folder"] = "Subscriptions Reports"
        if kind in ("report", "dashboard"):
            rec["title"] = "Subscriptions Insights"
        recs.append(rec)
    return {
        "id": "big",
        "data_centre": "EU",
        "edition": "enterprise",
        "integration_owner": "user-0",
        "migration": {"limit": 1000},
        "approval": {"books": ["estimate", "invoice"]},
        "profiles": profiles,
        "roles": roles,
        "users": people,
        "records": recs,
    }


if __name__ == "__main__":
    u, r = (int(a) for a in sys.argv[1:3])
    json.dump(generate(u, r), sys.stdout)
