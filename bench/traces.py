"""Realistic traffic over the generated org (bench/genorg.py): three traces of AuthZEN bodies.

- uniform: any user on any record, each request independent: the worst case for any cache;
- zipf: users and records drawn by popularity (Zipf, s = 1.1): a few busy people and records;
- sessions: a user works a handful of records for a while (20 requests), then another user.

Every request is a record action in proportion to a CRM's use (views most; edits touch a field;
mails; creates of new records), a tenth from the product directly rather than the CRM, and now
and then naming the user's own identity (`acting_as`) or address (`sender`), as the
integration does. The same seed gives the same trace.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Iterator
from typing import Any

from bench.genorg import MODULES

USERS, RECORDS = 10_000, 100_000
TRACES = ("uniform", "zipf", "sessions")
ACTIONS = ["view"] * 8 + ["edit"] * 3 + ["create"] * 2
ACTIONS += ["send_email", "approve", "submit", "convert", "delete", "void"]
FIELDS = {
    "estimate": "discount",
    "sales_order": "discount",
    "invoice": "discount",
    "purchase_order": "discount",
    "item": "cost_price",
    "customer": "notes",
    "subscription": "discount",
    "report": "name",
    "dashboard": "name",
}
KINDS = list(MODULES)


def _zipf(n: int, s: float, rng: random.Random) -> Callable[[], int]:
    weights = list(itertools.accumulate(1 / (k**s) for k in range(1, n + 1)))
    order = list(range(n))
    rng.shuffle(order)  # popularity is not the id order
    total = weights[-1]
    return lambda: order[bisect.bisect_left(weights, rng.random() * total)]


class Ids:
    """The users and records a trace draws from: the generated org's by default."""

    def __init__(
        self, users: list[str] | None = None, records: list[tuple[str, str]] | None = None
    ):
        self.users = users
        self.records = records

    def user(self, n: int) -> str:
        return f"user-{n}" if self.users is None else self.users[n % len(self.users)]

    def record(self, n: int) -> tuple[str, str]:
        if self.records is None:
            kind = KINDS[n % len(KINDS)]
            return kind, f"{kind}-{n}"
        return self.records[n % len(self.records)]

    @classmethod
    def of(cls, org: dict[str, Any]) -> Ids:
        return cls([u["id"] for u in org["users"]], [(r["type"], r["id"]) for r in org["records"]])


def _body(rng: random.Random, ids: Ids, user: int, record: int) -> dict[str, Any]:
    kind, rid = ids.record(record)
    action = rng.choice(ACTIONS)
    resource: dict[str, Any] = {"type": kind, "id": "#new" if action == "create" else rid}
    if action == "edit" and rng.random() < 0.5:
        resource["properties"] = {"fields": [FIELDS[kind]]}
    context: dict[str, Any] = {}
    if rng.random() < 0.1:
        context["channel"] = "direct"
    subject = ids.user(user)
    if rng.random() < 0.05:
        context["acting_as"] = subject
    if action == "send_email" and rng.random() < 0.5:
        context["sender"] = f"{subject}@big.example"
    body = {
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": resource,
    }
    if context:
        body["context"] = context
    return body


def trace(kind: str, count: int, seed: int = 1, ids: Ids | None = None) -> list[dict[str, Any]]:
    """`count` AuthZEN evaluation bodies of one trace, over `ids` (the generated org's)."""
    rng = random.Random(f"{kind}:{seed}")
    return list(itertools.islice(_pairs(kind, rng, ids or Ids()), count))


def _pairs(kind: str, rng: random.Random, ids: Ids) -> Iterator[dict[str, Any]]:
    users = USERS if ids.users is None else len(ids.users)
    records = RECORDS if ids.records is None else len(ids.records)
    if kind == "uniform":
        while True:
            yield _body(rng, ids, rng.randrange(users), rng.randrange(records))
    if kind == "zipf":
        user, record = _zipf(users, 1.1, rng), _zipf(records, 1.1, rng)
        while True:
            yield _body(rng, ids, user(), record())
    if kind == "sessions":
        while True:
            user = rng.randrange(users)
            working = [rng.randrange(records) for _ in range(rng.randint(2, 6))]
            for _ in range(20):
                yield _body(rng, ids, user, rng.choice(working))
    raise ValueError(f"trace: `{kind}` is not one of {', '.join(TRACES)}")


def batches(bodies: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """The trace as AuthZEN batches: consecutive requests of one subject share a batch (a CRM
    page asks for one user's rights on what it shows)."""
    out = []
    for start in range(0, len(bodies) - size + 1, size):
        chunk = bodies[start : start + size]
        subject = chunk[0]["subject"]
        out.append(
            {
                "subject": subject,
                "evaluations": [{k: v for k, v in b.items() if k != "subject"} for b in chunk],
            }
        )
    return out
