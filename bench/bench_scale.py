"""make bench-scale: the scale curve of one org, from 1,000 users to 100,000, each with ten
records a user (bench/genorg.py), served by one `authz serve` worker, beside Cerbos.

Per size and run: the import (`authz org import`, or the refusal that stops the size), the
time to ready (from the process's start until /readyz answers), memory (RSS and PSS of the
server), CPU seconds per 1,000 decisions of bench/traces.py's uniform singles over that org
under wrk (and Cerbos's on the same requests, its bodies carrying the org's facts), and a
revocation, twice: a user allowed on the trace loses every seat and enrolment, once by a
change set (`authz org apply`: the server applies the change alone) and once, another user,
by a new snapshot (the server loads the org again); each time from the CLI's start until the
served answer is a deny, the CLI's own share of it, and the longest any one answer took
meanwhile.

    python bench/bench_scale.py [--sizes 1000,10000,50000,100000] [--runs 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_serve import (  # noqa: E402
    CERBOS,
    WARM_UP,
    free_port,
    run_wrk,
    span,
    start_cerbos,
    wait_ready,
    write_lua,
)
from bench.bench_workers import _memory  # noqa: E402
from bench.cerbos_policy import cerbos_bodies  # noqa: E402
from bench.genorg import generate  # noqa: E402
from bench.traces import Ids, trace  # noqa: E402

REQUESTS = 60_000  # of the uniform trace, over the size's org
DURATION = 6
ROUTE = "/access/v1/evaluation"


def authz(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "suite_authz.cli.main", *args], cwd=ROOT, capture_output=True,
        text=True,
    )  # fmt: skip


def decide(port: int, body: dict[str, Any]) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{ROUTE}", data=json.dumps(body).encode(),
        headers={"content-type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=600) as response:
        return bool(json.loads(response.read())["decision"])


def timed(command: str, file: Path, store: Path) -> float:
    """Seconds `authz org COMMAND FILE` took; the bench stops if it failed."""
    started = time.monotonic()
    done = authz("org", command, str(file), "--store", str(store))
    if done.returncode:
        raise SystemExit(f"the revocation's `authz org {command}` failed: {done.stderr}")
    return time.monotonic() - started


def until_denied(port: int, body: dict[str, Any], started: float) -> tuple[float, float]:
    """Seconds from `started` until `body` is denied, and the longest one answer took
    meanwhile (answers wait while the server holds the GIL)."""
    stall = 0.0
    while True:
        asked = time.monotonic()
        still = decide(port, body)
        stall = max(stall, time.monotonic() - asked)
        if not still:
            return time.monotonic() - started, stall
        if time.monotonic() - started > 600:
            raise SystemExit("the revocation was not served within 600 s")
        time.sleep(0.02)


def revoked(org: dict[str, Any], user: str) -> dict[str, Any]:
    out = dict(org)
    out["users"] = [
        {**u, "memberships": [], "enrolments": []} if u["id"] == user else u for u in org["users"]
    ]
    return out


def one_size(work: Path, users: int, cerbos_port: int | None) -> dict[str, Any]:
    org = generate(users, users * 10)
    snapshot = work / f"org-{users}.json"
    snapshot.write_text(json.dumps(org))
    store = work / f"orgs-{users}.sqlite3"
    row: dict[str, Any] = {"users": users, "records": users * 10,
                           "snapshot_mb": snapshot.stat().st_size / 2**20}  # fmt: skip
    started = time.monotonic()
    imported = authz("org", "import", str(snapshot), "--store", str(store))
    if imported.returncode:
        row["refused"] = imported.stderr.strip().splitlines()[-1][:200]
        return row
    row["import_s"] = time.monotonic() - started
    bodies = trace("uniform", REQUESTS, ids=Ids.of(org))
    warm, measured = bodies[: REQUESTS // 4], bodies[REQUESTS // 4 :]
    port = free_port()
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "suite_authz.cli.main", "serve", "--store", str(store), "--port",
         str(port), "--decision-log", str(work / "decisions.jsonl")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", seconds=600)
        row["ready_s"] = time.monotonic() - started
        row["rss_mb"], row["pss_mb"] = _memory([server.pid])
        run_wrk(port, write_lua(work, f"w{users}", warm, ROUTE), server.pid, WARM_UP)
        load = run_wrk(port, write_lua(work, f"m{users}", measured, ROUTE), server.pid, DURATION)
        row["cpu_per_k"] = load["server_cpu"] / load["requests"] * 1000
        if cerbos_port is not None:
            cerbos_pid = int(Path(work / "cerbos.pid").read_text())
            theirs = cerbos_bodies(warm, org), cerbos_bodies(measured, org)
            run_wrk(cerbos_port, write_lua(work, f"cw{users}", theirs[0], ROUTE), cerbos_pid,
                    WARM_UP)  # fmt: skip
            got = run_wrk(cerbos_port, write_lua(work, f"cm{users}", theirs[1], ROUTE),
                          cerbos_pid, DURATION)  # fmt: skip
            row["cerbos_cpu_per_k"] = got["server_cpu"] / got["requests"] * 1000
        allowed = [b for b in measured[:4_000] if decide(port, b)]
        first, second = (
            allowed[0],
            next(b for b in allowed if b["subject"]["id"] != allowed[0]["subject"]["id"]),
        )
        # a revocation by change set (`authz org apply`): the sidecar applies it alone
        change = {"org": org["id"], "changes": [{"op": "user", "id": first["subject"]["id"],
                  "set": {"memberships": [], "enrolments": []}}]}  # fmt: skip
        (work / "change.json").write_text(json.dumps(change))
        started = time.monotonic()
        row["apply_cli_s"] = timed("apply", work / "change.json", store)
        row["apply_revoke_s"], row["apply_stall_s"] = until_denied(port, first, started)
        row["apply_after_commit_s"] = row["apply_revoke_s"] - row["apply_cli_s"]
        # a revocation by a whole snapshot: the sidecar loads the org again
        (work / "revoked.json").write_text(json.dumps(revoked(org, second["subject"]["id"])))
        started = time.monotonic()
        row["revoke_import_s"] = timed("import", work / "revoked.json", store)
        row["revoke_s"], row["stall_s"] = until_denied(port, second, started)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    return row


def report(rows: list[list[dict[str, Any]]]) -> None:
    print(
        f"{'users':>8} {'records':>10} {'snapshot':>9} {'import s':>10} {'ready s':>10} "
        f"{'RSS MB':>12} {'CPU-s/1k':>12} {'Cerbos':>12} {'revoked in s':>14} {'(import)':>10}"
        f"{'longest answer s':>18} {'applied in s':>14} {'(apply)':>10} {'longest s':>11}"
    )
    for runs in rows:
        first = runs[0]
        head = f"{first['users']:>8,} {first['records']:>10,} {first['snapshot_mb']:>7.0f}MB"
        if "refused" in first:
            print(f"{head}  refused at import: {first['refused']}")
            continue

        def col(key: str, fmt: str, width: int, runs: list[dict[str, Any]] = runs) -> str:
            got = [r[key] for r in runs if key in r]
            return f"{span(got, fmt) if got else '-':>{width}}"

        print(
            f"{head} {col('import_s', '.1f', 10)} {col('ready_s', '.1f', 10)} "
            f"{col('rss_mb', ',.0f', 12)} {col('cpu_per_k', '.3f', 12)} "
            f"{col('cerbos_cpu_per_k', '.3f', 12)} {col('revoke_s', '.2f', 14)} "
            f"{col('revoke_import_s', '.2f', 10)} {col('stall_s', '.2f', 17)} "
            f"{col('apply_revoke_s', '.2f', 14)} {col('apply_cli_s', '.2f', 10)} "
            f"{col('apply_stall_s', '.3f', 11)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000,100000", help="users per org")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench-scale needs wrk: apt-get install wrk (make bench-scale does)")
    work = Path(tempfile.mkdtemp(prefix="authz-bench-scale-"))
    cerbos = None
    try:
        cerbos_port = None
        if CERBOS.is_file():
            cerbos, cerbos_port = start_cerbos(work)
            (work / "cerbos.pid").write_text(str(cerbos.pid))
        rows = []
        for users in (int(s) for s in args.sizes.split(",")):
            runs = [one_size(work, users, cerbos_port) for _ in range(args.runs)]
            rows.append(runs)
            print(f"  ({users:,} users done)", flush=True)
        print(
            f"\nsuite-authz bench-scale: one worker, caches on, decision log on; uniform "
            f"singles under wrk, {DURATION} s after {WARM_UP} s; {args.runs} run(s)\n"
        )
        report(rows)
    finally:
        if cerbos is not None:
            cerbos.kill()
            cerbos.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
