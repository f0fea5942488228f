"""The admin page's matrix on a 1,000-user org: how long it takes to render, against the same
decisions asked of the API in the same run.

A generated org (bench/genorg.py: 1,000 users, 10,000 records) in a fresh store, one
`authz serve`. Per run (a new server each, so the first page meets empty caches):
- page, first: GET /ui/orgs/big/matrix?module=estimate (the whole org, 1,000 users x 9
  actions = 9,000 decisions, one HTML page), on a server that has decided nothing yet;
- page, again: the same page once more;
- browser: Chromium (Debian's, via Playwright) from navigation start to the load event,
  table drawn, on the warm server;
- baseline: the same 9,000 decisions asked of POST /access/v1/evaluations in batches of 20
  by one client (the sidecar's own path), on the warm server.
Reported as ranges over `--runs` runs (3 by default), and each page time as a ratio to the
baseline of its run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_serve import free_port, span, wait_ready  # noqa: E402
from bench.genorg import generate  # noqa: E402

AUTHZ = [sys.executable, "-m", "suite_authz.cli.main"]
ACTIONS = ("view", "create", "edit", "delete", "approve", "submit", "send_email", "convert", "void")


def get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        size = len(r.read())
    return time.perf_counter() - started, size


def baseline(port: int, org: dict[str, Any]) -> float:
    record = sorted(r["id"] for r in org["records"] if r["type"] == "estimate")[0]
    started = time.perf_counter()
    for user in org["users"]:
        for first in range(0, len(ACTIONS), 20):
            body = {
                "subject": {"type": "user", "id": user["id"]},
                "evaluations": [
                    {
                        "action": {"name": a},
                        "resource": {"type": "estimate", "id": "#new" if a == "create" else record},
                    }
                    for a in ACTIONS[first : first + 20]
                ],
                "context": {"org": org["id"]},
            }
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/access/v1/evaluations", data=json.dumps(body).encode(),
                headers={"content-type": "application/json"}, method="POST",
            )  # fmt: skip
            with urllib.request.urlopen(req, timeout=30) as r:
                r.read()
    return time.perf_counter() - started


def browser_load(url: str) -> float | None:
    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu",
                                    "--disable-background-networking"])  # fmt: skip
        page = browser.new_page()
        page.goto(url, wait_until="load", timeout=120_000)
        ms = page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " return n.loadEventEnd - n.startTime; }"
        )
        browser.close()
    return float(ms) / 1000


def one_run(store: str, org: dict[str, Any]) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen([*AUTHZ, "serve", "--store", store, "--port", str(port)],
                              cwd=ROOT, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        url = f"http://127.0.0.1:{port}/ui/orgs/{org['id']}/matrix?module=estimate"
        first, size = get(url)
        again, _ = get(url)
        out = {"page_first": first, "page_again": again, "bytes": float(size)}
        loaded = browser_load(url)
        if loaded is not None:
            out["browser"] = loaded
        out["baseline"] = baseline(port, org)
        return out
    finally:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    org = generate(args.users, args.users * 10)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "org.json"
        path.write_text(json.dumps(org))
        store = str(Path(tmp) / "s.sqlite3")
        subprocess.run([*AUTHZ, "org", "import", str(path), "--store", store],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        for n in range(args.runs):
            rows.append(one_run(store, org))
            print(f"run {n + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in rows[-1].items()))
    decisions = args.users * len(ACTIONS)
    print(f"matrix of a {args.users:,}-user org, one module ({decisions:,} decisions, "
          f"{rows[0]['bytes'] / 1e6:.1f} MB of HTML):")  # fmt: skip
    shown = (
        ("page_first", "page, first (empty caches)"),
        ("page_again", "page, again"),
        ("browser", "in Chromium, to load"),
    )
    for key, what in shown:
        if key in rows[0]:
            times = [r[key] for r in rows]
            ratios = [r[key] / r["baseline"] for r in rows]
            print(f"  {what}: {span(times, '.2f')} s ({span(ratios, '.2f')}x the API baseline)")
    print(f"  baseline, the same decisions through /access/v1/evaluations in batches: "
          f"{span([r['baseline'] for r in rows], '.2f')} s")  # fmt: skip


if __name__ == "__main__":
    main()
