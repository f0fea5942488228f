"""A list view's cost in the sidecar: "the records of this module the user may view", listed in
full on the generated 10,000-user / 100,000-record org, three ways in one invocation:

(a) the enumerating search (every candidate record decided: the resource search before plans,
    and what an unplannable set still does), paging 1,000 at a time;
(b) the search from the plan (the plan's condition evaluated over the whole type at once as
    bit sets, engine/core/record_table.py; the admitted records decided once per record class,
    for the decision each result is logged with);
(b0) the plan evaluated over every record alone (what (b) costs without its decisions);
(c) the plan as SQL in PostgreSQL: the sidecar only plans (its CPU), the database filters (its
    wall time shown beside it), on the example schema (tests/crm_schema.py's tables); and the
    plan of a user whose question class the engine has not planned yet (Cedar's partial
    evaluation; a user of a known class is planned from its fold, engine/core/plan.py).

Traffic: distinct users per listing (seeded), each module's records as the org holds them.
Sidecar CPU is this process's CPU time (time.process_time); ranges over runs, ratios per run.

    python bench/bench_plan.py [--runs 3] [--listings 12] [--kind invoice] [--no-postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from genorg import generate  # noqa: E402

from suite_authz.cli.render_query_plan import COLUMNS, sql, table_of  # noqa: E402
from suite_authz.engine.core import Engine, Request  # noqa: E402
from suite_authz.engine.core.entities import EntityLookup  # noqa: E402
from suite_authz.engine.core.model import load_org  # noqa: E402
from suite_authz.engine.core.plan import record_attrs  # noqa: E402
from suite_authz.engine.core.policies import load_policies  # noqa: E402
from suite_authz.engine.serving.search import search_page  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432/test"


def full_listing(engine: Engine, template: Request, planned: bool) -> int:
    found, start = 0, 0
    while True:
        page = search_page(engine, "resource", template, start, 1000, planned=planned)
        found += len(page.found)
        if page.cursor is None:
            return found
        start = page.cursor


def plan_only(engine: Engine, template: Request) -> int:
    """The plan evaluated over every record of the type (the record table's bit sets), with
    no decision made for logging."""
    plan = engine.plan(template)
    table = engine.record_table(template.resource_type)
    return len(table.positions(table.admitted(plan.condition), 0, len(table.ids)))


def load_postgres(engine: Engine, kind: str) -> Any:
    import psycopg

    db = psycopg.connect(PG, autocommit=True)
    table = "bench_plan_" + table_of(kind)
    db.execute(f"DROP TABLE IF EXISTS {table}")
    db.execute(
        f"CREATE TABLE {table} (id TEXT PRIMARY KEY, {', '.join(f'{c} TEXT' for c in COLUMNS)})"
    )
    lookup = EntityLookup(engine.index)
    entity_type = engine.policies.catalogue.modules[kind].entity
    with db.cursor().copy(f"COPY {table} (id, {', '.join(COLUMNS)}) FROM STDIN") as copy:
        for record in engine.org.records:
            if record.type == kind:
                attrs = record_attrs(lookup(entity_type, record.id) or {"attrs": {}})
                copy.write_row([record.id, *(attrs.get(c) for c in COLUMNS)])
    for column in ("status", "submitted_by", "folder", "title"):
        db.execute(f"CREATE INDEX ON {table} ({column})")
    db.execute(f"ANALYZE {table}")
    return db, table


def cpu(fn: Any, engine: Engine, cold: bool = False) -> tuple[float, Any]:
    """CPU seconds of `fn`, each way starting with no plan kept for the question (a list
    view's first page); `cold`: with no plan kept for the user's class either (the first user
    of a seat shape the engine meets: Cedar's partial evaluation)."""
    engine._plans.clear()
    if cold:
        engine.plan_classes._items.clear()
    started = time.process_time()
    value = fn()
    return time.process_time() - started, value


def run(engine: Engine, kind: str, users: list[str], pg: Any) -> dict[str, Any]:
    out: dict[str, list[float]] = {"a": [], "b": [], "b0": [], "c": [], "c_cold": [], "c_db": []}
    admitted = 0
    for user in users:
        template = Request(user, "view", kind)
        seconds, n_a = cpu(lambda t=template: full_listing(engine, t, planned=False), engine)
        out["a"].append(seconds)
        seconds, n_b = cpu(lambda t=template: full_listing(engine, t, planned=True), engine)
        out["b"].append(seconds)
        seconds, n_b0 = cpu(lambda t=template: plan_only(engine, t), engine)
        out["b0"].append(seconds)
        assert n_a == n_b == n_b0, (user, n_a, n_b, n_b0)
        admitted += n_a
        seconds, plan = cpu(lambda t=template: engine.plan(t), engine)
        out["c"].append(seconds)
        seconds, cold = cpu(lambda t=template: engine.plan(t), engine, cold=True)
        out["c_cold"].append(seconds)
        assert cold == plan, (user, cold, plan)
        if pg is not None:
            db, table = pg
            started = time.perf_counter()
            rows = db.execute(f"SELECT id FROM {table} WHERE {sql(plan.to_dict()['condition'])}")
            n_c = len(rows.fetchall())
            out["c_db"].append(time.perf_counter() - started)
            assert n_c == n_a, (user, n_c, n_a)
    return {k: statistics.mean(v) for k, v in out.items() if v} | {"admitted": admitted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--listings", type=int, default=12, help="distinct users per run")
    parser.add_argument("--kind", default="invoice")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    policies = load_policies()
    raw = generate(args.users, args.records)
    engine = Engine(policies, load_org(raw, policies.catalogue), class_cache=65536)
    pg = None if args.no_postgres else load_postgres(engine, args.kind)
    started = time.process_time()
    engine.record_table(args.kind)
    print(f"record table of {args.kind}: built once per org version in "
          f"{(time.process_time() - started) * 1000:.0f} ms of CPU")  # fmt: skip
    count = sum(r.type == args.kind for r in engine.org.records)
    print(f"org: {args.users} users, {args.records} records, {count} of type {args.kind}")
    rng = random.Random(11)
    names = [u.id for u in engine.org.users]
    results = []
    for n in range(args.runs):
        result = run(engine, args.kind, rng.sample(names, args.listings), pg)
        results.append(result)
        line = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in result.items() if k != "admitted")
        print(f"run {n + 1}: sidecar CPU per full listing: {line}; {result['admitted']} admitted")
    for key, label in (
        ("b", "(b) search from the plan"),
        ("b0", "(b0) the plan evaluated alone"),
        ("c", "(c) the plan as SQL (sidecar CPU)"),
        ("c_cold", "(c) the plan of a user whose class is new (Cedar's partial evaluation)"),
    ):
        if key not in results[0]:
            continue
        ratios = [r["a"] / r[key] for r in results if r[key] > 0]
        print(
            f"{label}: {min(r[key] for r in results) * 1000:.2f}-"
            f"{max(r[key] for r in results) * 1000:.2f} ms; (a) costs "
            f"{min(ratios):.0f}-{max(ratios):.0f}x as much"
        )
    a = [r["a"] for r in results]
    print(f"(a) enumerating search: {min(a) * 1000:.0f}-{max(a) * 1000:.0f} ms per listing")
    if pg is not None:
        db_times = [r["c_db"] for r in results]
        low, high = min(db_times) * 1000, max(db_times) * 1000
        print(f"(c) PostgreSQL's wall time per query: {low:.1f}-{high:.1f} ms")


if __name__ == "__main__":
    main()
