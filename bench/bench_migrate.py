"""How long a migration plan with its impact takes on a generated org of 5,000 users (the
target is under 5 s), and applying it. Medians of 5 runs, same process."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import json  # noqa: E402
import random  # noqa: E402

from bench.genorg import MODULES, generate  # noqa: E402
from suite_authz.engine.core.policies import load_policies  # noqa: E402
from suite_authz.engine.migration.apply import apply_plan  # noqa: E402
from suite_authz.engine.migration.impact import user_kind  # noqa: E402
from suite_authz.engine.migration.run import plan_org  # noqa: E402
from suite_authz.engine.store.org_store import OrgStore  # noqa: E402

AS_OF = date(2026, 11, 25)
RUNS = 5


def legacy_org(users: int, seed: int = 11) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The generated org, still on the old model: a fifth already enrolled, the rest not; two
    thirds of the users used the finance modules in the window."""
    rng = random.Random(seed)
    org = generate(users, 50)
    org["id"] = "big-legacy"
    org["migration"] = {"window_start": "2026-10-01", "limit": 1000}
    for user in org["users"][1:]:
        if user.get("enrolments") and rng.random() > 0.2:
            user["enrolments"] = []
    usage = [
        {
            "user": user["id"],
            "product": MODULES[module],
            "module": module,
            "events": rng.randrange(1, 60),
            "last_used": f"2026-{rng.choice(('08', '10', '11'))}-{rng.randrange(1, 25):02d}",
        }
        for user in org["users"]
        if rng.random() < 0.66
        for module in rng.sample(sorted(MODULES), 2)
    ]
    return org, usage


def main() -> None:
    policies = load_policies()
    org, usage = legacy_org(5000)
    kinds = {user_kind_of(u, org) for u in org["users"]}
    with tempfile.TemporaryDirectory() as folder:
        store = OrgStore(Path(folder) / "orgs.sqlite3")
        store.import_snapshot(json.dumps(org), policies.catalogue)
        timings: dict[str, list[float]] = {"plan": [], "plan + impact": []}
        for _ in range(RUNS):
            for label, impact in (("plan", False), ("plan + impact", True)):
                started = time.perf_counter()
                plan = plan_org(store, policies, org["id"], usage, AS_OF, impact)
                timings[label].append(time.perf_counter() - started)
        started = time.perf_counter()
        done = apply_plan(store, policies, plan, "user-0")
        applied = time.perf_counter() - started
    counts = plan["counts"]
    print(
        f"suite-authz migration on a generated org: {len(org['users']):,} users, "
        f"{len(usage):,} usage rows, {len(kinds)} kinds of user"
    )
    print(f"  outcomes: {', '.join(f'{k} {v:,}' for k, v in counts.items())}")
    for label, values in timings.items():
        print(
            f"  {label:<15} median {statistics.median(values):6.2f} s over {RUNS} runs "
            f"(min {min(values):.2f}, max {max(values):.2f})"
        )
    ratio = statistics.median(timings["plan + impact"]) / statistics.median(timings["plan"])
    print(f"  impact costs {ratio:.1f}x the plan alone")
    print(f"  apply ({done.enrolled:,} enrolments, one transaction) {applied:6.2f} s")


def user_kind_of(user: dict[str, Any], org: dict[str, Any]) -> tuple[object, ...]:
    from suite_authz.engine.core.model import User

    return user_kind(User.model_validate(user), org.get("integration_owner"))


if __name__ == "__main__":
    main()
