"""make bench: median cost per decision, bare cedarpy vs the engine's explained decision.

Bare = `cedarpy.is_authorized` on pre-parsed policy set, entities and schema handles: the
floor. Engine = `Engine.decide`: request checks, the same Cedar call, and the explanation.
Also measured: handing Cedar a per-request slice of the entities instead of the whole
pre-parsed org, to show why the engine does not slice.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cedarpy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.genorg import generate  # noqa: E402
from bench.traces import Ids, trace  # noqa: E402
from suite_authz.engine.core import Engine, Request  # noqa: E402
from suite_authz.engine.core.backends.cedar_entities import cedar_entities, entity_count  # noqa: E402
from suite_authz.engine.core.entities import org_entities  # noqa: E402
from suite_authz.engine.core.model import load_org  # noqa: E402
from suite_authz.engine.core.policies import load_policies  # noqa: E402
from suite_authz.server.authzen import parse_evaluation  # noqa: E402

REPEATS = 7


def median_us(fn: Callable[[], Any], calls: int) -> float:
    """Median over REPEATS runs of the mean cost per call, in microseconds."""
    fn()
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(runs)


def measure(
    label: str, engine: Engine, polar: Engine, requests: list[Request], calls: int
) -> dict[str, Any]:
    backend = engine.backend
    cedar_requests = [backend.cedar_request(r) for r in requests]  # type: ignore[attr-defined]
    ps, schema = engine.policies.handle, engine.policies.schema
    ents = cedar_entities(engine.index, engine.policies)

    def bare_all() -> None:
        for cr in cedar_requests:
            cedarpy.is_authorized(cr, ps, ents, schema)

    def engine_all() -> None:
        for r in requests:
            engine.decide(r)

    n = len(requests)
    bare = median_us(bare_all, calls) / n
    explained = median_us(engine_all, calls) / n
    decided = [(r, engine.decide(r)) for r in requests]
    allows = [r for r, d in decided if d.allowed]
    forbids = [r for r, d in decided if not d.allowed and d.policies]
    plain = [r for r, d in decided if not d.allowed and not d.policies]
    cache = engine._explainer._probe_cache  # measured cold and warm

    def cold() -> None:
        for r in plain:
            cache.clear()
            engine.decide(r)

    def per(rs: list[Request], fn: Callable[[], Any] | None = None) -> float:
        if not rs:
            return float("nan")
        return median_us(fn or (lambda: [engine.decide(r) for r in rs]), calls) / len(rs)

    polar_us = median_us(lambda: [polar.decide(r) for r in requests], max(1, calls // 20)) / n
    return {
        "polar_us": polar_us,
        "org": label,
        "entities": entity_count(engine.index),
        "requests": n,
        "bare_us": bare,
        "engine_us": explained,
        "ratio": explained / bare,
        "allow_us": per(allows),
        "forbid_us": per(forbids),
        "plain_warm_us": per(plain),
        "plain_cold_us": per(plain, cold),
    }


def slice_cost(engine: Engine, requests: list[Request], calls: int) -> float:
    """Per-request slice: principal, resource and what they reference, parsed each call."""
    everything = {
        (e["uid"]["type"], e["uid"]["id"]): e
        for e in org_entities(engine.org, engine.policies.catalogue)
    }
    backend = engine.backend
    cedar_requests = [backend.cedar_request(r) for r in requests]  # type: ignore[attr-defined]
    shared = [
        e
        for (t, _), e in everything.items()
        if t in ("Product", "Module", "Org", "Profile", "Role")
    ]
    ps, schema = engine.policies.handle, engine.policies.schema

    def sliced() -> None:
        for cr in cedar_requests:
            p, r = cr["principal"], cr["resource"]
            part = [*shared, everything[(p["type"], p["id"])], everything[(r["type"], r["id"])]]
            cedarpy.is_authorized(cr, ps, cedarpy.Entities.from_json_str(json.dumps(part)), schema)

    return median_us(sliced, max(1, calls // 10)) / len(requests)


def demo_requests() -> list[Request]:
    return [
        Request("asha", "create", "estimate"),
        Request("asha", "edit", "invoice", "inv-1"),
        Request("asha", "delete", "estimate", "est-1"),
        Request("asha", "view", "invoice", "inv-1", channel="direct"),
        Request("ben", "create", "invoice"),
        Request("chen", "edit", "invoice", "inv-1"),
        Request("chen", "view", "item", "item-1"),
        Request("dana", "approve", "invoice", "inv-2"),
        Request("eli", "view", "dashboard", "dash-insights"),
        Request("gil", "view", "subscription", "sub-1"),
        Request("fay", "send_email", "estimate", "est-2"),
        Request("olivia", "approve", "invoice", "inv-2"),
    ]


def big_requests() -> list[Request]:
    out = []
    for n, (user, action, kind) in enumerate(
        [
            ("user-1", "view", "estimate"),
            ("user-2", "edit", "invoice"),
            ("user-3", "create", "sales_order"),
            ("user-4", "delete", "estimate"),
            ("user-5", "view", "item"),
            ("user-6", "approve", "invoice"),
            ("user-7", "view", "subscription"),
            ("user-8", "view", "dashboard"),
            ("user-9000", "send_email", "estimate"),
            ("user-0", "approve", "invoice"),
            ("user-4321", "view", "purchase_order"),
            ("user-9999", "edit", "customer"),
        ]
    ):
        index = {
            "estimate": 0,
            "sales_order": 1,
            "invoice": 2,
            "purchase_order": 3,
            "item": 4,
            "customer": 5,
            "subscription": 6,
            "report": 7,
            "dashboard": 8,
        }[kind]
        out.append(Request(user, action, kind, f"{kind}-{index + 9 * (n * 811 % 11000)}"))
    return out


def on_traffic(engine: Engine, ids: Ids | None, count: int = 20_000) -> tuple[float, ...]:
    """µs per explained decision on the Zipf trace: class cache off; on, after a warm-up on
    an earlier part of the trace; and on, the same requests a second time (every entity's
    part and every class known: a sidecar that has been up a while). Many distinct users and
    records, not one request repeated."""
    bodies = trace("zipf", 2 * count, ids=ids)
    requests = [parse_evaluation(b)[0] for b in bodies]
    measured = requests[count:]

    def timed(built: Engine) -> float:
        started = time.perf_counter()
        for r in measured:
            built.decide(r)
        return (time.perf_counter() - started) / count * 1e6

    out = []
    for size in (0, 65_536):
        fresh = Engine(engine.policies, engine.org, index=engine.index, class_cache=size)
        for r in requests[:count]:
            fresh.decide(r)
        out.append(timed(fresh))
    out.append(timed(fresh))  # the class-cached engine again, on what it has seen
    return tuple(out)


def main() -> None:
    policies = load_policies()
    demo = Engine(policies, load_org(ROOT / "policies/examples/demo-org.json", policies.catalogue))
    started = time.perf_counter()
    big_org = load_org(generate(10_000, 100_000), policies.catalogue)
    big = Engine(policies, big_org)
    load_s = time.perf_counter() - started

    rows = [
        measure("demo", demo, Engine(policies, demo.org, "polar"), demo_requests(), 300),
        measure(
            "10k users / 100k records",
            big,
            Engine(policies, big_org, "polar"),
            big_requests(),
            300,
        ),
    ]
    print(f"suite-authz bench: medians of {REPEATS} runs; policy set {policies.version}")
    print(f"generated org loaded (validate, build entities, parse once) in {load_s:.2f} s\n")
    print(
        f"{'org':<26}{'entities':>9}{'bare':>7}{'engine':>8}{'ratio':>7}"
        f"{'allow':>7}{'forbid':>8}{'not granted':>13}{'(cold)':>8}   (µs per decision)"
    )
    for row in rows:
        print(
            f"{row['org']:<26}{row['entities']:>9,}{row['bare_us']:>7.1f}"
            f"{row['engine_us']:>8.1f}{row['ratio']:>7.2f}{row['allow_us']:>7.1f}"
            f"{row['forbid_us']:>8.1f}{row['plain_warm_us']:>13.1f}{row['plain_cold_us']:>8.1f}"
        )
    for row in rows:
        print(
            f"ratios to bare, {row['org']}: allow {row['allow_us'] / row['bare_us']:.2f}x, "
            f"deny by a forbid {row['forbid_us'] / row['bare_us']:.2f}x, not granted "
            f"{row['plain_warm_us'] / row['bare_us']:.2f}x "
            f"(cold {row['plain_cold_us'] / row['bare_us']:.2f}x)"
        )
    for row in rows:
        print(
            f"Polar backend, {row['org']}: {row['polar_us']:.0f} µs per decision, "
            f"{row['polar_us'] / row['engine_us']:.1f}x the Cedar engine's"
        )
    flat = rows[1]["engine_us"] / rows[0]["engine_us"]
    print(f"\nengine cost, big org / demo org: {flat:.2f}x (flat in org size)")
    demo_ids = Ids.of(json.loads((ROOT / "policies/examples/demo-org.json").read_text()))
    traffic = {
        "demo": on_traffic(demo, demo_ids),
        "10k users / 100k records": on_traffic(big, None),
    }
    for label, (off, on, warm) in traffic.items():
        print(
            f"Zipf traffic, {label}: {off:.1f} µs per decision with the class cache off, "
            f"{on:.1f} on ({on / off:.2f}x), {warm:.1f} on requests seen before"
        )
    big_t, demo_t = traffic["10k users / 100k records"], traffic["demo"]
    print(
        f"big org / demo org: class cache off {big_t[0] / demo_t[0]:.2f}x, "
        f"on {big_t[1] / demo_t[1]:.2f}x (more distinct users and records: more first sights), "
        f"warm {big_t[2] / demo_t[2]:.2f}x"
    )
    for label, engine, reqs in (
        ("demo", demo, demo_requests()),
        ("10k users / 100k records", big, big_requests()),
    ):
        print(
            f"per-request entity slice instead of the whole pre-parsed org ({label}): "
            f"{slice_cost(engine, reqs, 300):.1f} µs per decision"
        )


if __name__ == "__main__":
    main()
