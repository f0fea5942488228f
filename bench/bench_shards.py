"""A million orgs over a fleet: how evenly `authz serve --shard I/N` shares them, what each
sidecar would hold, and how many orgs move when a sidecar is added (a simulation of
engine/serving/shards.py's rendezvous hashing, the function the sidecars and `authz fleet
route` use; no server runs).

    python bench/bench_shards.py [--orgs 1000000] [--fleets 3,10] [--org-mb 2.9]

Memory per sidecar is the orgs it holds times `--org-mb`, the resident size of one loaded
org (2.9 MB measured for an org of 50 users, docs/benchmarks.md): what a sidecar would need
if it kept every org of its shard loaded.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from suite_authz.engine.serving.shards import shard_of  # noqa: E402


def weights(org_id: str, count: int) -> list[bytes]:
    """Each shard's weight for the org, shard_of's own (checked against it below)."""
    key = org_id.encode("utf-8", "surrogatepass")
    return [hashlib.sha256(n.to_bytes(2, "big") + key).digest() for n in range(1, count + 1)]


def heaviest(ws: list[bytes]) -> int:
    return max(range(len(ws)), key=ws.__getitem__) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=1_000_000)
    parser.add_argument("--fleets", default="3,10", help="fleet sizes N, comma-separated")
    parser.add_argument("--org-mb", type=float, default=2.9)
    args = parser.parse_args()
    sizes = [int(n) for n in args.fleets.split(",")]
    print(f"suite-authz bench-shards: {args.orgs:,} orgs, {args.org_mb} MB per loaded org\n")
    print(f"{'fleet':>6} {'orgs per sidecar (min-max)':>28} {'max/mean':>9} "
          f"{'GB per sidecar (max)':>21} {'moved when one is added':>25}")  # fmt: skip
    for size in sizes:
        started = time.perf_counter()
        now: Counter[int] = Counter()
        moved = 0
        for n in range(args.orgs):
            org_id = f"org-{n:07d}"
            ws = weights(org_id, size + 1)
            before, after = heaviest(ws[:size]), heaviest(ws)
            if n < 1000:  # the simulation computes what the sidecars compute
                assert before == shard_of(org_id, size) and after == shard_of(org_id, size + 1)
            now[before] += 1
            if after != before:
                assert after == size + 1  # an org moves only to the new sidecar
                moved += 1
        low, high = min(now.values()), max(now.values())
        mean = args.orgs / size
        print(
            f"{size:>6} {f'{low:,}-{high:,}':>28} {high / mean:>8.3f}x "
            f"{high * args.org_mb / 1024:>20,.1f} "
            f"{f'{moved / args.orgs:.2%} (1/{size + 1} = {1 / (size + 1):.2%})':>25}"
            f"   [{time.perf_counter() - started:.0f} s]"
        )


if __name__ == "__main__":
    main()
