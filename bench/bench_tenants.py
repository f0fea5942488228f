"""Many small tenants into one store: `authz org import` once per snapshot (what a script did
before the command took many files) against one `authz org import DIR` for all of them.

The orgs are bench/genorg.py's, 50 users and 500 records each, each with its own id and seed.
Reported per run: seconds per org both ways and their ratio; the store is fresh each time.

    python bench/bench_tenants.py [--orgs 200] [--one-by-one 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_serve import span  # noqa: E402
from bench.genorg import generate  # noqa: E402


def authz(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "suite_authz.cli.main", *args], cwd=ROOT, check=True,
        capture_output=True,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--one-by-one", type=int, default=20, help="orgs imported one CLI each")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="authz-tenants-"))
    try:
        orgs = work / "orgs"
        orgs.mkdir()
        for n in range(args.orgs):
            org = generate(50, 500, seed=n)
            org["id"] = f"tenant-{n:05d}"
            (orgs / f"tenant-{n:05d}.json").write_text(json.dumps(org))
        files = sorted(orgs.glob("*.json"))
        single: list[float] = []
        batch: list[float] = []
        for run in range(args.runs):
            store = work / f"single-{run}.sqlite3"
            started = time.perf_counter()
            for file in files[: args.one_by_one]:
                authz("org", "import", str(file), "--store", str(store))
            single.append((time.perf_counter() - started) / args.one_by_one)
            store = work / f"batch-{run}.sqlite3"
            started = time.perf_counter()
            authz("org", "import", str(orgs), "--store", str(store))
            batch.append((time.perf_counter() - started) / len(files))
        ratios = [s / b for s, b in zip(single, batch, strict=True)]
        print(
            f"suite-authz bench-tenants: {args.orgs} orgs of 50 users / 500 records; "
            f"{args.runs} runs\n"
        )
        print(f"one CLI per org ({args.one_by_one} orgs): {span(single, '.3f')} s per org")
        print(f"one `org import DIR` ({args.orgs} orgs): {span(batch, '.3f')} s per org")
        print(f"one process against one per org, per run: {span(ratios, '.1f')}x sooner")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
