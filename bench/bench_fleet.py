"""make bench (the fleet part): the store on PostgreSQL beside SQLite, in one run.

1. A generated org of `--users` users (100,000 by default) and as many records, imported by
   `authz org import` into a fresh PostgreSQL schema and into a fresh SQLite file (the
   baseline): seconds each, and the ratio.
2. The time until a sidecar serves it: `authz serve` started on each store, seconds from
   start until /readyz names the org; then, with the sidecar up, a new version of the org (one
   user's enrolments taken away) imported by the CLI, and the seconds from the import's commit
   until the sidecar serves that version (pushed on PostgreSQL, polled each second on SQLite).
3. Three sidecars on the demo org in one PostgreSQL schema: `--changes` org imports, each the
   next version, and the seconds until all three serve it (the fleet test's 2 s figure).

Reported as ranges over `--runs` runs. PostgreSQL is $AUTHZ_BENCH_POSTGRES, else the local one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_serve import free_port, span  # noqa: E402
from bench.genorg import generate  # noqa: E402

AUTHZ = [sys.executable, "-m", "suite_authz.cli.main"]
DEMO = ROOT / "policies" / "examples" / "demo-org.json"
POSTGRES = os.environ.get("AUTHZ_BENCH_POSTGRES") or "postgresql://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def schema() -> Iterator[str]:
    name = f"authz_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        try:
            yield f"{POSTGRES}?options={quote(f'-csearch_path={name}', safe='')}"
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def timed_import(path: Path, store: str) -> float:
    started = time.monotonic()
    subprocess.run([*AUTHZ, "org", "import", str(path), "--store", store],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return time.monotonic() - started


def readyz(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return dict(json.loads(r.read()))
    except OSError:
        return {}


def serves(port: int, org: str, version: int) -> bool:
    return readyz(port).get("orgs", {}).get(org) == version


def wait(ports: list[int], org: str, version: int, limit: float = 600) -> float:
    started = time.monotonic()
    waiting = set(ports)
    while waiting:
        waiting = {p for p in waiting if not serves(p, org, version)}
        if waiting:
            if time.monotonic() - started > limit:
                raise SystemExit(f"org {org} version {version} not served after {limit:.0f} s")
            time.sleep(0.02)
    return time.monotonic() - started


@contextlib.contextmanager
def sidecars(store: str, count: int) -> Iterator[tuple[list[int], float]]:
    """`count` sidecars on `store`; their ports and the seconds until all were serving."""
    started = time.monotonic()
    procs, ports = [], []
    try:
        for _ in range(count):
            port = free_port()
            procs.append(subprocess.Popen([*AUTHZ, "serve", "--store", store, "--port", str(port)],
                                          cwd=ROOT, stderr=subprocess.DEVNULL))  # fmt: skip
            ports.append(port)
        while not all(readyz(p).get("status") == "ready" for p in ports):
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a sidecar exited before it was ready")
            time.sleep(0.05)
        yield ports, time.monotonic() - started
    finally:
        for p in procs:
            p.kill()
            p.wait()


def big_org_run(work: Path, org: dict[str, Any]) -> dict[str, float]:
    first, second = work / "org.json", work / "org-v2.json"
    first.write_text(json.dumps(org))
    changed = json.loads(json.dumps(org))
    next(u for u in changed["users"] if u.get("enrolments"))["enrolments"] = []  # a revocation
    second.write_text(json.dumps(changed))
    out: dict[str, float] = {}
    sqlite = work / f"s-{uuid.uuid4().hex[:6]}.sqlite3"
    with schema() as url:
        for engine, store in (("postgres", url), ("sqlite", str(sqlite))):
            out[f"{engine}_import"] = timed_import(first, store)
            with sidecars(store, 1) as (ports, start_s):
                out[f"{engine}_served_at_start"] = start_s
                imported = time.monotonic()
                subprocess.run([*AUTHZ, "org", "import", str(second), "--store", store],
                               cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
                committed = time.monotonic() - imported
                out[f"{engine}_new_version_served"] = wait(ports, org["id"], 2)
                out[f"{engine}_import_v2"] = committed
    return out


def fleet_run(changes: int) -> list[float]:
    text = json.loads(DEMO.read_text())
    with schema() as url:
        subprocess.run([*AUTHZ, "org", "import", str(DEMO), "--store", url],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        seconds = []
        with sidecars(url, 3) as (ports, _), tempfile.TemporaryDirectory() as tmp:
            for n in range(changes):
                text["name"] = f"demo, change {n + 1}"
                path = Path(tmp) / "demo.json"
                path.write_text(json.dumps(text))
                subprocess.run([*AUTHZ, "org", "import", str(path), "--store", url],
                               cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
                seconds.append(wait(ports, "demo", n + 2))
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--changes", type=int, default=10)
    args = parser.parse_args()
    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except psycopg.Error as exc:
        print(f"bench_fleet: skipped, no PostgreSQL at {POSTGRES} ({str(exc).strip()}); "
              "set AUTHZ_BENCH_POSTGRES to a server's URL")  # fmt: skip
        return
    org = generate(args.users, args.users)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            rows.append(big_org_run(Path(tmp), org))
            print(f"run {run + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in rows[-1].items()))
    users = f"{args.users:,} users"
    for what in ("import", "served_at_start", "import_v2", "new_version_served"):
        pg, lite = [r[f"postgres_{what}"] for r in rows], [r[f"sqlite_{what}"] for r in rows]
        ratios = [p / s for p, s in zip(pg, lite, strict=True)]
        print(f"{users}, {what.replace('_', ' ')}: PostgreSQL {span(pg, '.2f')} s, SQLite "
              f"{span(lite, '.2f')} s ({span(ratios, '.2f')}x)")  # fmt: skip
    fleet: list[float] = []
    for _ in range(args.runs):
        fleet += fleet_run(args.changes)
    fleet.sort()
    print(f"3 sidecars on one PostgreSQL, {len(fleet)} org changes: all three serve the new "
          f"version {fleet[0]:.2f}-{fleet[-1]:.2f} s after the import returned "
          f"(median {fleet[len(fleet) // 2]:.2f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
