"""Evaluations while a search runs: p50/p99 of single evaluations on a 100,000-user org, with
no search running (baseline) and with subject searches running back to back, in the same
invocation. Realistic traffic: distinct users and records per request. Prints ranges over
repeated runs and the ratio against the baseline (searches must not stall evaluations).

    python bench/bench_search.py [--users 100000] [--runs 3] [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
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


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _serve(users: int) -> tuple[subprocess.Popen[bytes], int, dict[str, object]]:
    """A sidecar over a store of a generated org of `users` users and records, ready."""
    tmp = Path(tempfile.mkdtemp())
    org = generate(users, users)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    proc, port, org = _serve(args.users)
    try:
        rows = []
        for run in range(args.runs):
            base = _latencies(port, org, args.seconds, run)
            stop, pages = threading.Event(), []
            searcher = threading.Thread(target=_searcher, args=(port, stop, pages))
            searcher.start()
            time.sleep(0.5)
            loaded = _latencies(port, org, args.seconds, run + 100)
            stop.set()
            searcher.join()
            rows.append((base, loaded, pages))
            print(
                f"run {run + 1}: baseline p50 {statistics.median(base):.1f} ms p99 "
                f"{_pct(base, 0.99):.1f} ms ({len(base)} evals) | during search p50 "
                f"{statistics.median(loaded):.1f} ms p99 {_pct(loaded, 0.99):.1f} ms "
                f"({len(loaded)} evals, {len(pages)} search pages, page p50 "
                f"{statistics.median(pages) * 1000:.0f} ms)"
            )
        p99s = [_pct(r[1], 0.99) for r in rows]
        ratios = [_pct(r[1], 0.99) / _pct(r[0], 0.99) for r in rows]
        print(
            f"{args.users} users: p99 during search {min(p99s):.1f}-{max(p99s):.1f} ms, "
            f"{min(ratios):.2f}-{max(ratios):.2f}x the baseline p99"
        )
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
