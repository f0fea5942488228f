"""Evaluations while several searches run at once (before the per-worker limit, two at once
took single evaluations' p99 to 90.7 ms). Like bench_search.py, with `--searchers N` clients
paging back to back through the same slow subject search; a search refused with a 503 (the
per-worker search limit, `authz serve --max-searches`) is counted and asked again after its
Retry-After.

    python bench/bench_searches_at_once.py [--users 30000] [--searchers 2] [--seconds 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_search import _latencies, _pct, _post, _serve  # noqa: E402

# Who may approve this invoice: few users may, so a page walks many candidates. invoice-2 is
# genorg's first invoice (bench_search.py asks about invoice-0, which genorg does not make: a
# search about an unknown record, every candidate a deny for it).
BODY = {
    "action": {"name": "approve"},
    "resource": {"type": "invoice", "id": "invoice-2"},
    "subject": {"type": "user"},
    "page": {"limit": 1000},
}


def _searcher(port: int, stop: threading.Event, pages: list[float], busy: list[int]) -> None:
    token = None
    while not stop.is_set():
        started = time.perf_counter()
        page = dict(BODY["page"], **({"token": token} if token else {}))  # type: ignore[arg-type]
        try:
            out = _post(port, "/access/v1/search/subject", {**BODY, "page": page})
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise
            busy.append(1)
            stop.wait(float(exc.headers.get("Retry-After", "1")))
            continue
        pages.append(time.perf_counter() - started)
        token = out["page"]["next_token"] or None  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=30_000)
    parser.add_argument("--searchers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    proc, port, org = _serve(args.users)
    try:
        base = _latencies(port, org, args.seconds, 0)
        stop, pages, busy = threading.Event(), [], []
        searchers = [
            threading.Thread(target=_searcher, args=(port, stop, pages, busy))
            for _ in range(args.searchers)
        ]
        for t in searchers:
            t.start()
        time.sleep(0.5)
        loaded = _latencies(port, org, args.seconds, 100)
        stop.set()
        for t in searchers:
            t.join()
        print(
            f"{args.users} users, {args.searchers} searchers: baseline p50 "
            f"{statistics.median(base):.1f} ms p99 {_pct(base, 0.99):.1f} ms ({len(base)}) | "
            f"during p50 {statistics.median(loaded):.1f} ms p99 {_pct(loaded, 0.99):.1f} ms "
            f"max {max(loaded):.1f} ms ({len(loaded)}) | {len(pages)} pages, page p50 "
            f"{statistics.median(pages) * 1000:.0f} ms, {len(busy)} refused busy (503)"
        )
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
