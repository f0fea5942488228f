"""How long `authz crosscheck` takes: on the demo org and on generated orgs.

`make bench` times the demo org and a generated org of 25 users (every request of each, so the
rate per request is the full run's); `--full` adds the 1,000-user org (450,000 requests, about
15 minutes: `make prove` runs it)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.genorg import generate  # noqa: E402
from suite_authz.engine.core import Engine  # noqa: E402
from suite_authz.engine.core.model import load_org  # noqa: E402
from suite_authz.engine.core.policies import load_policies  # noqa: E402
from suite_authz.engine.review.crosscheck import run_crosscheck  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="add the 1,000-user org")
    args = parser.parse_args()
    policies = load_policies()
    orgs = {
        "demo": load_org(ROOT / "policies/examples/demo-org.json", policies.catalogue),
        "25 users, 9 records": load_org(generate(25, 9), policies.catalogue),
    }
    if args.full:
        orgs["1,000 users, 9 records"] = load_org(generate(1000, 9), policies.catalogue)
    print("suite-authz crosscheck timings (Cedar vs Polar, whole request space)")
    for label, org in orgs.items():
        started = time.perf_counter()
        report = run_crosscheck(Engine(policies, org, "cedar"), Engine(policies, org, "polar"))
        took = time.perf_counter() - started
        print(
            f"{label:<26} {report.compared:>9,} requests  {len(report.disagreements)} "
            f"disagreements  {took:8.1f} s  ({took / report.compared * 1e3:.2f} ms/request)"
        )


if __name__ == "__main__":
    main()
