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


def _body(rng: random.Random, user: int, record: int) -> dict[str, Any]:
    kind = KINDS[record % len(KINDS)]
    action = rng.choice(ACTIONS)
    resource: dict[str, Any] = {
        "type": kind,
        "id": "#new" if action == "create" else f"{kind}-{record}",
    }
    if action == "edit" and rng.random() < 0.5:
        resource["properties"] = {"fields": [FIELDS[kind]]}
    context: dict[str, Any] = {}
    if rng.random() < 0.1:
        context["channel"] = "direct"
    if rng.random() < 0.05:
        context["acting_as"] = f"user-{user}"
    if action == "send_email" and rng.random() < 0.5:
        context["sender"] = f"user-{user}@big.example"
    body = {
        "subject": {"type": "user", "id": f"user-{user}"},
        "action": {"name": action},
        "resource": resource,
    }
    if context:
        body["context"] = context
    return body


def trace(kind: str, count: int, seed: int = 1) -> list[dict[str, Any]]:
    """`count` AuthZEN evaluation bodies of one trace."""
    rng = random.Random(f"{kind}:{seed}")
    return list(itertools.islice(_pairs(kind, rng), count))


def _pairs(kind: str, rng: random.Random) -> Iterator[dict[str, Any]]:
    if kind == "uniform":
        while True:
            yield _body(rng, rng.randrange(USERS), rng.randrange(RECORDS))
    if kind == "zipf":
        user, record = _zipf(USERS, 1.1, rng), _zipf(RECORDS, 1.1, rng)
        while True:
            yield _body(rng, user(), record())
    if kind == "sessions":
        while True:
            user = rng.randrange(USERS)
            working = [rng.randrange(RECORDS) for _ in range(rng.randint(2, 6))]
            for _ in range(20):
                yield _body(rng, user, rng.choice(working))
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
