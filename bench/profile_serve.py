"""Where a served decision's CPU goes: `authz serve` on the generated 10,000-user / 100,000-record
org under wrk (the uniform trace, singles or batches of 20, as bench/bench_serve.py sends them),
sampled by py-spy across the server and its workers, each sample put in one bucket by the
innermost frame that names one (BUCKETS, first match). Idle samples (a worker waiting in
epoll) are not counted: the shares are of the CPU the server burns.

    python bench/profile_serve.py [--workers 2] [--batch] [--seconds 20]   # pip install '.[bench]'

It prints the buckets' shares, then the hottest innermost frames; `--raw FILE` keeps py-spy's
collapsed stacks for a flame graph. This is the "show the floor and why" of the speed goals:
the decision's own share is what a faster engine could take away; the rest is the HTTP server,
the JSON, the log line and the metrics around it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_serve import (  # noqa: E402
    BATCH,
    MEASURED_PART,
    WARM_PART,
    imported_org,
    run_wrk,
    start_ours,
    write_lua,
)
from bench.traces import batches, trace  # noqa: E402

# (bucket, pattern on "function (file)"): the first bucket whose pattern an innermost-first walk
# of the stack meets. Specific before general: the log's JSON is the log's, not the engine's.
BUCKETS = [
    ("decision log (line, mask, write)", r"decision_log\.py"),
    ("metrics (prometheus_client)", r"prometheus_client|server/metrics\.py"),
    ("request validation (pydantic)", r"pydantic|server/wire\.py"),
    ("JSON in (strict reader)", r"core/reading\.py"),
    ("class key and caches", r"cedar_classes\.py|class_cache|decision_cache|core/cache"),
    ("Cedar (cedarpy)", r"cedarpy|backends/cedar"),
    ("explanation and answer body", r"core/decision\.py|core/explain|server/authzen\.py"),
    ("the engine (other)", r"suite_authz/engine|/engine/"),
    ("server glue (fast path, evaluator, recorder)", r"/server/"),
    ("HTTP (uvicorn, httptools, h11)", r"uvicorn|httptools|h11"),
    ("event loop (asyncio, uvloop)", r"asyncio|uvloop|selectors"),
    ("Starlette", r"starlette"),
]
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]*)(?::\d+)?\)$")


def bucket_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, pattern in BUCKETS:
            if re.search(pattern, frame):
                return name
    return "other"


def leaf(stack: list[str]) -> str:
    found = FRAME.match(stack[-1]) if stack else None
    if found is None:
        return stack[-1] if stack else "?"
    file = found["file"].split("site-packages/")[-1].split("/work/main/")[-1]
    return f"{found['function']} ({file})"


def read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw format: `frame;frame;...;frame COUNT` per line, outermost first; the first
    frame is the process (with --subprocesses), the second the thread."""
    out = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            out.append((stack.split(";"), int(count)))
    return out


def report(samples: list[tuple[list[str], int]], top: int) -> None:
    total = sum(n for _, n in samples)
    if not total:
        raise SystemExit("py-spy took no samples: nothing to report")
    buckets: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for stack, n in samples:
        buckets[bucket_of(stack)] += n
        leaves[leaf(stack)] += n
    print(f"{total:,} samples of the server's processes (idle not counted)\n")
    print(f"{'share':>6}  bucket")
    for name, n in buckets.most_common():
        print(f"{n / total:6.1%}  {name}")
    print(f"\n{'share':>6}  innermost frame (top {top})")
    for name, n in leaves.most_common(top):
        print(f"{n / total:6.1%}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", action="store_true", help="batches of 20 (else singles)")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--caches-off", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).is_file() or shutil.which("wrk") is None:
        sys.exit("profile_serve needs py-spy (pip install '.[bench]') and wrk (apt-get install)")
    work = Path(tempfile.mkdtemp(prefix="authz-profile-"))
    try:
        _, store, log = imported_org(work)
        bodies = trace("uniform", WARM_PART + MEASURED_PART)
        shape = (lambda b: batches(b, BATCH)) if args.batch else (lambda b: b)
        route = "/access/v1/evaluations" if args.batch else "/access/v1/evaluation"
        warm = write_lua(work, "warm", shape(bodies[:WARM_PART]), route)
        measured = write_lua(work, "measured", shape(bodies[WARM_PART:]), route)
        proc, port = start_ours(work, store, log, not args.caches_off, args.workers)
        raw = args.raw or work / "stacks.txt"
        try:
            run_wrk(port, warm, proc.pid, 5)
            spying = subprocess.Popen(
                [spy, "record", "--pid", str(proc.pid), "--subprocesses", "--nonblocking",
                 "--format", "raw", "--rate", "250", "--duration", str(args.seconds),
                 "--output", str(raw)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            load = run_wrk(port, measured, proc.pid, args.seconds)
            _, err = spying.communicate(timeout=args.seconds + 60)
            if spying.returncode:
                sys.exit(f"py-spy failed: {err.decode()[-500:]}")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        per = BATCH if args.batch else 1
        kind = "batches of 20" if args.batch else "singles"
        print(
            f"suite-authz profile: {args.workers} worker(s), uniform {kind}, caches "
            f"{'off' if args.caches_off else 'on'}, {args.seconds} s under wrk: "
            f"{load['rps'] * per:,.0f} decisions/s, "
            f"{load['server_cpu'] / (load['requests'] * per) * 1000:.3f} CPU-s per 1,000\n"
        )
        report(read_collapsed(raw), args.top)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
