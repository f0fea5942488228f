"""`authz serve --workers N` on a big org: time to ready and memory, one worker against N, in
one invocation, alternating, `--runs` times.

Ready: from the process's start until /readyz answers 200 and every worker answers (each of
`--probe` requests on a fresh connection is answered). Memory of the whole process tree (the
server and its workers): RSS, which counts a page shared by two processes twice, and PSS
(/proc/PID/smaps_rollup), which splits it between them: the honest total for forked workers.

    python bench/bench_workers.py [--users 10000] [--records 100000] [--workers 2] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.genorg import generate  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree(pid: int) -> list[int]:
    out = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _memory(pids: list[int]) -> tuple[float, float]:
    """(RSS, PSS) in MB, summed over `pids`."""
    rss = pss = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == "Rss":
                rss += int(rest.split()[0])
            elif name == "Pss":
                pss += int(rest.split()[0])
    return rss / 1024, pss / 1024


def _answered(port: int, body: bytes) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/access/v1/evaluation", data=body,
        headers={"content-type": "application/json", "connection": "close"}, method="POST",
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def one(store: Path, workers: int, probe: int, body: bytes) -> tuple[float, float, float, int]:
    port = _port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "suite_authz.cli.main", "serve", "--store", str(store),
         "--port", str(port), "--workers", str(workers)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"serve ended: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    if r.status == 200 and all(_answered(port, body) for _ in range(probe)):
                        break
            except OSError:
                pass
            time.sleep(0.05)
        ready = time.monotonic() - started
        time.sleep(1.0)  # the workers' watchers take their first turn
        pids = _tree(proc.pid)
        rss, pss = _memory(pids)
        return ready, rss, pss, len(pids)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--probe", type=int, default=20, help="requests that must be answered")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="authz-bench-workers-"))
    org = generate(args.users, args.records)
    (work / "org.json").write_text(json.dumps(org))
    store = work / "s.sqlite3"
    subprocess.run(
        [sys.executable, "-m", "suite_authz.cli.main", "org", "import", str(work / "org.json"),
         "--store", str(store)],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    user, record = org["users"][0]["id"], org["records"][0]
    body = json.dumps(
        {"subject": {"type": "user", "id": user}, "action": {"name": "view"},
         "resource": {"type": record["type"], "id": record["id"]}}
    ).encode()  # fmt: skip
    rows: dict[int, list[tuple[float, float, float, int]]] = {1: [], args.workers: []}
    for run in range(args.runs):
        for workers in (1, args.workers):
            found = one(store, workers, args.probe, body)
            rows[workers].append(found)
            ready, rss, pss, n = found
            print(f"run {run + 1}, --workers {workers}: ready {ready:.1f} s, {n} processes, "
                  f"RSS {rss:,.0f} MB, PSS {pss:,.0f} MB", flush=True)  # fmt: skip
    print(f"\n{args.users} users, {args.records} records; {args.runs} runs")
    for workers, found in rows.items():
        ready = [f[0] for f in found]
        rss = [f[1] for f in found]
        pss = [f[2] for f in found]
        print(
            f"--workers {workers}: ready {min(ready):.1f}-{max(ready):.1f} s, RSS "
            f"{min(rss):,.0f}-{max(rss):,.0f} MB, PSS {min(pss):,.0f}-{max(pss):,.0f} MB"
        )
    ratios = [
        (m[0] / o[0], m[1] / o[1], m[2] / o[2])
        for o, m in zip(rows[1], rows[args.workers], strict=True)
    ]
    print(
        f"--workers {args.workers} / --workers 1, per run: ready "
        f"{min(r[0] for r in ratios):.2f}-{max(r[0] for r in ratios):.2f}x, RSS "
        f"{min(r[1] for r in ratios):.2f}-{max(r[1] for r in ratios):.2f}x, PSS "
        f"{min(r[2] for r in ratios):.2f}-{max(r[2] for r in ratios):.2f}x"
    )


if __name__ == "__main__":
    main()
