"""Evaluations while searches run: p50/p99 of single evaluations through the sidecar with no
search running (baseline) and with searches running back to back, in the same invocation.
Realistic traffic: distinct users and records per request. Prints ranges over repeated runs
and the ratio against the baseline (searches must not stall evaluations).

Two kinds of search: `subjects` (who may approve an invoice, on an org of as many records as
users: few may, so a page walks many candidates) and `listings` (a CRM's list view: every
record of a module a user may view, paged 1,000 at a time from the query plan, each listing
by another user, `--searchers` at once; the sidecar's CPU per listing is measured with no
evaluations beside it, from /proc).

    python bench/bench_search.py [--users 100000] [--runs 3] [--seconds 6]
    python bench/bench_search.py --listings --users 10000 --records 100000 --searchers 4
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from genorg import generate  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(port: int, path: str, body: dict[str, object], timeout: float = 120) -> object:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
        headers={"content-type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def _latencies(port: int, org: dict, seconds: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    users = [u["id"] for u in org["users"]]
    records = [(r["type"], r["id"]) for r in org["records"]]
    out: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        kind, rid = rng.choice(records)
        body = {
            "subject": {"type": "user", "id": rng.choice(users)},
            "action": {"name": rng.choice(["view", "edit", "create"])},
            "resource": {"type": kind, "id": rid},
        }
        started = time.perf_counter()
        _post(port, "/access/v1/evaluation", body)
        out.append((time.perf_counter() - started) * 1000)
    return out


def _searcher(port: int, stop: threading.Event, pages: list[float]) -> None:
    # Who may approve this invoice: few users may, so a page walks many candidates.
    body = {
        "action": {"name": "approve"},
        "resource": {"type": "invoice", "id": "invoice-0"},
        "subject": {"type": "user"},
        "page": {"limit": 1000},
    }
    token = None
    while not stop.is_set():
        started = time.perf_counter()
        page = dict(body["page"], **({"token": token} if token else {}))  # type: ignore[arg-type]
        out = _post(port, "/access/v1/search/subject", {**body, "page": page})
        pages.append(time.perf_counter() - started)
        token = out["page"]["next_token"] or None  # type: ignore[index]


def _lister(
    port: int, users: list[str], seed: int, stop: threading.Event, pages: list[float],
    listed: list[int],
) -> None:  # fmt: skip
    """A list view after another, each by another user: every invoice the user may view."""
    rng = random.Random(seed)
    while not stop.is_set():
        body: dict[str, object] = {
            "subject": {"type": "user", "id": rng.choice(users)},
            "action": {"name": "view"},
            "resource": {"type": "invoice"},
        }
        token, found = None, 0
        while not stop.is_set():
            started = time.perf_counter()
            page = {"limit": 1000, **({"token": token} if token else {})}
            out = _post(port, "/access/v1/search/resource", {**body, "page": page})
            pages.append(time.perf_counter() - started)
            found += len(out["results"])  # type: ignore[index]
            token = out["page"]["next_token"] or None  # type: ignore[index]
            if token is None:
                listed.append(found)
                break


def _cpu(pid: int) -> float:
    """A process's CPU seconds (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _serve(users: int, records: int) -> tuple[subprocess.Popen[bytes], int, dict[str, object]]:
    """A sidecar over a store of a generated org of `users` users and `records` records."""
    tmp = Path(tempfile.mkdtemp())
    org = generate(users, records)
    (tmp / "org.json").write_text(json.dumps(org))
    store = tmp / "s.sqlite3"
    authz = [sys.executable, "-m", "suite_authz.cli.main"]
    subprocess.run([*authz, "org", "import", str(tmp / "org.json"), "--store", str(store)],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    port = _port()
    serve = [*authz, "serve", "--store", str(store), "--port", str(port), "--decision-cache", "0"]
    proc = subprocess.Popen(serve, cwd=ROOT, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    return proc, port, org


def _listing_cpu(
    proc: subprocess.Popen[bytes], port: int, users: list[str], searchers: int, seconds: float
) -> tuple[float, int]:
    """The sidecar's CPU seconds per full listing, `searchers` listing at once, nothing else."""
    stop, pages, listed = threading.Event(), [], []
    threads = [
        threading.Thread(target=_lister, args=(port, users, 1000 + n, stop, pages, listed))
        for n in range(searchers)
    ]
    before = _cpu(proc.pid)
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    spent = _cpu(proc.pid) - before
    done = max(len(listed), 1)
    return spent / done, len(listed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=0, help="default: as many as users")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--listings", action="store_true", help="list views, not subjects")
    parser.add_argument("--searchers", type=int, default=1)
    args = parser.parse_args()
    proc, port, org = _serve(args.users, args.records or args.users)
    users = [u["id"] for u in org["users"]]  # type: ignore[index]
    what = f"{args.searchers} listing(s)" if args.listings else "subject search"
    try:
        rows = []
        for run in range(args.runs):
            base = _latencies(port, org, args.seconds, run)
            stop, pages, listed = threading.Event(), [], []
            if args.listings:
                searchers = [
                    threading.Thread(
                        target=_lister, args=(port, users, 100 * run + n, stop, pages, listed)
                    )
                    for n in range(args.searchers)
                ]
            else:
                searchers = [threading.Thread(target=_searcher, args=(port, stop, pages))]
            for searcher in searchers:
                searcher.start()
            time.sleep(0.5)
            loaded = _latencies(port, org, args.seconds, run + 100)
            stop.set()
            for searcher in searchers:
                searcher.join()
            rows.append((base, loaded, pages))
            line = (
                f"run {run + 1}: baseline p50 {statistics.median(base):.1f} ms p99 "
                f"{_pct(base, 0.99):.1f} ms ({len(base)} evals) | during {what} p50 "
                f"{statistics.median(loaded):.1f} ms p99 {_pct(loaded, 0.99):.1f} ms "
                f"({len(loaded)} evals, {len(pages)} search pages, page p50 "
                f"{statistics.median(pages) * 1000:.0f} ms"
            )
            if args.listings:
                per, done = _listing_cpu(proc, port, users, args.searchers, args.seconds)
                line += f"; alone: {per * 1000:.0f} ms sidecar CPU per listing over {done}"
            print(line + ")")
        p99s = [_pct(r[1], 0.99) for r in rows]
        ratios = [_pct(r[1], 0.99) / _pct(r[0], 0.99) for r in rows]
        print(
            f"{args.users} users: p99 during {what} {min(p99s):.1f}-{max(p99s):.1f} ms, "
            f"{min(ratios):.2f}-{max(ratios):.2f}x the baseline p99"
        )
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
