"""What a change set costs a served engine (`authz org apply`, engine/core/org_changes.py).

On a generated org (bench/genorg.py), in one process: the time to bring an engine to the next
version by `Engine.changed` against building it whole from the changed org, and then the
cost per decision of the changed engine against the whole one, on bench/traces.py's uniform
requests, for the three ways a changed engine answers:
  - items:  a user's seats taken (a revocation): requests that reach that user are answered
            from the entities they reach, the rest from the old parse;
  - shared: a role's grants changed: every request reaches the role, so every request is
            answered from the entities it reaches, until the org is parsed whole again;
caches off, so that every decision reaches Cedar. Ranges over --runs.

    python bench/bench_changes.py [--users 10000] [--runs 3] [--requests 4000]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_serve import span  # noqa: E402
from bench.genorg import generate  # noqa: E402
from bench.traces import Ids, trace  # noqa: E402
from suite_authz.engine.core import (  # noqa: E402
    NEW_RECORD_ID,
    Engine,
    Request,
    load_org,
    load_policies,
)
from suite_authz.engine.core.org_changes import apply_changes, parse_change_set  # noqa: E402


def as_request(body: dict[str, Any]) -> Request:
    """A trace's AuthZEN body as the engine's request."""
    resource = body["resource"]
    context = dict(body.get("context", {}))
    rid = resource.get("id")
    return Request(
        body["subject"]["id"],
        body["action"]["name"],
        resource["type"],
        None if rid == NEW_RECORD_ID else rid,
        context.pop("channel", "crm"),
        tuple(resource.get("properties", {}).get("fields", ())),
        context,
    )


def per_decision(engine: Engine, requests: list[Request]) -> float:
    started = time.perf_counter()
    for request in requests:
        engine.decide(request, probe=False)
    return (time.perf_counter() - started) / len(requests) * 1e6


def one_run(org: dict[str, Any], requests: list[Request]) -> dict[str, float]:
    policies = load_policies()
    whole = Engine(policies, load_org(org, policies.catalogue))
    whole.decide(requests[0])  # Cedar's entities parsed
    # a member with no enrolment: taking their seats changes their entity alone (an
    # enrolment would change the org's count of integration users, which every request reads)
    user = next(u["id"] for u in org["users"] if u.get("memberships") and not u.get("enrolments"))
    changes = {
        "items": {"op": "user", "id": user, "set": {"memberships": [], "enrolments": []}},
        "shared": {"op": "role", "id": "books-clerk", "set": {"grants": {"invoice": ["view"]}}},
    }
    out: dict[str, float] = {"base_us": per_decision(whole, requests)}
    for name, op in changes.items():
        change_set = parse_change_set(json.dumps({"org": org["id"], "changes": [op]}))
        started = time.perf_counter()
        changed = whole.changed(apply_changes(whole.org, change_set, policies.catalogue))
        out[f"{name}_apply_ms"] = (time.perf_counter() - started) * 1000
        gc.collect()
        started = time.perf_counter()
        fresh = Engine(policies, changed.org)
        fresh.decide(requests[0])
        out[f"{name}_whole_s"] = time.perf_counter() - started
        out[f"{name}_us"] = per_decision(changed, requests)
        out[f"{name}_fresh_us"] = per_decision(fresh, requests)
        for request in requests[:200]:  # the same answers, or the figures mean nothing
            if changed.decide(request) != fresh.decide(request):
                raise SystemExit(f"{name}: the changed engine answers {request} otherwise")
        del fresh, changed
        gc.collect()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=4_000)
    args = parser.parse_args()
    org = generate(args.users, args.users * 10)
    requests = [as_request(b) for b in trace("uniform", args.requests, ids=Ids.of(org))]
    runs = [one_run(org, requests) for _ in range(args.runs)]

    def col(key: str, fmt: str) -> str:
        return span([r[key] for r in runs], fmt)

    print(f"\n{args.users:,} users, {args.users * 10:,} records; {args.requests:,} uniform "
          f"requests, caches off; {args.runs} runs\n")  # fmt: skip
    print(f"µs per decision, whole engine: {col('base_us', '.0f')}")
    for name in ("items", "shared"):
        ratio = span([r[f"{name}_us"] / r[f"{name}_fresh_us"] for r in runs], ".2f")
        print(
            f"{name:>7}: Engine.changed {col(f'{name}_apply_ms', '.1f')} ms against a whole "
            f"build {col(f'{name}_whole_s', '.2f')} s; µs per decision {col(f'{name}_us', '.0f')} "
            f"against {col(f'{name}_fresh_us', '.0f')} whole ({ratio}x)"
        )


if __name__ == "__main__":
    main()
