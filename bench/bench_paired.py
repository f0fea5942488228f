"""In-process decision cost on realistic traffic, this checkout against a baseline commit, in
paired runs of one invocation.

    python bench/bench_paired.py --base 8e2ee62 [--runs 5] [--requests 4000]

Traffic: a seeded mix over the generated 10,000-user / 100,000-record org, many distinct users
and records (each request differs from the last), every record action in proportion to a CRM's
use (views most), edits with a field, mails, from the CRM and directly. Each run is a fresh
process (so caches start cold, as on a new server) for the baseline, then one for this checkout,
alternating; the baseline is a `git worktree` of the commit. Reported: the median µs per
decision of each run, as a range over runs, and the ratio of each pair.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs inside each checkout (the baseline's or this one): only its public engine API is used.
WORKER = r"""
import importlib, json, os, random, statistics, sys, time
from bench.genorg import generate
# Commits before the one import package (suite_authz) name the engine `engine`; either way it
# must be the checkout's own, never the installed one.
# Since the engine has rooms its names are behind engine.core's door; before, engine's own.
prefix = "suite_authz." if os.path.isdir("suite_authz") else ""
door = prefix + ("engine.core" if os.path.isdir("engine/core") else "engine")
engine_module = importlib.import_module(door)
assert os.path.realpath(engine_module.__file__).startswith(os.path.realpath(os.getcwd()))
Engine, Request = engine_module.Engine, engine_module.Request
load_org, load_policies = engine_module.load_org, engine_module.load_policies

requests_wanted, seed = int(sys.argv[1]), int(sys.argv[2])
policies = load_policies()
org = load_org(generate(10_000, 100_000), policies.catalogue)
engine = Engine(policies, org)
rng = random.Random(seed)
kinds = ["estimate", "sales_order", "invoice", "purchase_order", "item", "customer",
         "subscription", "report", "dashboard"]
fields = {"estimate": "discount", "sales_order": "discount", "invoice": "discount",
          "purchase_order": "discount", "item": "cost_price", "customer": "notes",
          "subscription": "discount", "report": "name", "dashboard": "name"}
actions = ["view"] * 8 + ["edit"] * 3 + ["create"] * 2 + ["send_email", "approve", "submit",
           "convert", "delete", "void"]
traffic = []
for _ in range(requests_wanted):
    n = rng.randrange(9)
    kind = kinds[n]
    action = rng.choice(actions)
    record = f"{kind}-{n + 9 * rng.randrange(11_111)}"
    rid = None if action == "create" else record
    touched = (fields[kind],) if action == "edit" and rng.random() < 0.5 else ()
    channel = "direct" if rng.random() < 0.1 else "crm"
    traffic.append(Request(f"user-{rng.randrange(10_000)}", action, kind, rid, channel, touched))
allowed = 0
start = time.perf_counter()
for r in traffic:
    allowed += engine.decide(r).allowed
took = time.perf_counter() - start
print(json.dumps({"us": took / len(traffic) * 1e6, "allowed": allowed, "n": len(traffic)}))
"""


def run(checkout: Path, requests: int, seed: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(requests), str(seed)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the baseline commit")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="suite-authz-base-") as folder:
        base = Path(folder) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(base), args.base],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            pairs = []
            for n in range(args.runs):
                before = run(base, args.requests, seed=n)
                after = run(ROOT, args.requests, seed=n)
                pairs.append((before, after))
                print(
                    f"run {n + 1}: baseline {before['us']:.1f} µs, this checkout "
                    f"{after['us']:.1f} µs per decision ({after['us'] / before['us']:.2f}x); "
                    f"allowed {int(before['allowed'])} / {int(after['allowed'])} of "
                    f"{int(after['n'])}",
                    flush=True,
                )
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False
            )
    ratios = sorted(a["us"] / b["us"] for b, a in pairs)
    base_us = sorted(b["us"] for b, _ in pairs)
    head_us = sorted(a["us"] for _, a in pairs)
    print(
        f"\n{args.runs} paired runs, {args.requests:,} distinct requests each: baseline "
        f"{base_us[0]:.1f}-{base_us[-1]:.1f} µs, this checkout {head_us[0]:.1f}-{head_us[-1]:.1f} "
        f"µs per decision; ratio {ratios[0]:.2f}-{ratios[-1]:.2f}x "
        f"(median {ratios[len(ratios) // 2]:.2f}x)"
    )


if __name__ == "__main__":
    main()
