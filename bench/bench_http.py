"""The HTTP floor: the same app (`authz serve`'s, fast path and Starlette routes alike) behind
uvicorn (httptools, uvloop: what `authz serve` runs) and behind granian (Rust HTTP, its ASGI
interface, uvloop), one worker each, on the same trace in one invocation, alternating.

The org is the generated 10,000-user / 100,000-record one; the traffic bench/traces.py's
uniform trace (distinct users and records), as singles and as batches of 20, sent by wrk
(`-t2 -c32`) after a warm-up, decision log and caches on as `authz serve` runs them. Reported
per server as ranges over `--runs`: decisions per second, p50/p99, CPU seconds per 1,000
decisions of the whole server process tree (/proc), and per run granian's figures over
uvicorn's.

    python bench/bench_http.py [--runs 3] [--duration 6]   # needs granian: pip install '.[bench]'
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_serve import (  # noqa: E402
    BATCH,
    CONNECTIONS,
    MEASURED_PART,
    THREADS,
    WARM_PART,
    WARM_UP,
    free_port,
    imported_org,
    run_wrk,
    span,
    wait_ready,
    write_lua,
)
from bench.traces import batches, trace  # noqa: E402
from suite_authz.server.config import ServeConfig  # noqa: E402
from suite_authz.server.main import CONFIG_ENV  # noqa: E402


def start(kind: str, store: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    if kind == "uvicorn":
        command = [sys.executable, "-m", "suite_authz.cli.main", "serve", "--store", str(store),
                   "--port", str(port), "--decision-log", str(log)]  # fmt: skip
        env = dict(os.environ)
    else:
        config = ServeConfig(
            host="127.0.0.1", port=port, store=str(store), decision_log=str(log),
            freeze_heap=True,
        )  # fmt: skip
        raw = asdict(config)
        env = dict(os.environ, **{CONFIG_ENV: json.dumps(raw)})
        command = [str(Path(sys.executable).parent / "granian"), "--interface", "asgi",
                   "--factory", "suite_authz.server.main:factory", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", "1", "--loop", "uvloop",
                   "--no-access-log", "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    wait_ready(f"http://127.0.0.1:{port}/readyz", 180)
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=6)
    args = parser.parse_args()
    if shutil.which("wrk") is None or not (Path(sys.executable).parent / "granian").exists():
        sys.exit("bench_http needs wrk (apt-get install wrk) and granian (pip install '.[bench]')")
    work = Path(tempfile.mkdtemp(prefix="authz-bench-http-"))
    try:
        _, store, log = imported_org(work)
        bodies = trace("uniform", WARM_PART + MEASURED_PART)
        warm, measured = bodies[:WARM_PART], bodies[WARM_PART:]
        scripts = {
            "singles": (
                write_lua(work, "s-warm", warm, "/access/v1/evaluation"),
                write_lua(work, "s", measured, "/access/v1/evaluation"),
                1,
            ),
            "batch 20": (
                write_lua(work, "b-warm", batches(warm, BATCH), "/access/v1/evaluations"),
                write_lua(work, "b", batches(measured, BATCH), "/access/v1/evaluations"),
                BATCH,
            ),
        }
        runs: list[dict[str, dict[str, dict[str, Any]]]] = []
        for n in range(args.runs):
            run: dict[str, dict[str, dict[str, Any]]] = {}
            for kind in ("uvicorn", "granian"):
                proc, port = start(kind, store, log)
                try:
                    run[kind] = {}
                    for label, (warm_script, script, per) in scripts.items():
                        # the server's CPU with its children's: granian serves from a child
                        run_wrk(port, warm_script, proc.pid, WARM_UP)
                        found = run_wrk(port, script, proc.pid, args.duration)
                        found["decisions"] = found["requests"] * per
                        run[kind][label] = found
                finally:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=30)
            runs.append(run)
            print(f"  (run {n + 1} of {args.runs} done)", flush=True)
        print(f"\nuniform trace, wrk -t{THREADS} -c{CONNECTIONS}, {args.duration} s per scenario")
        print(f"{'server':<9}{'scenario':<10}{'dec/s':>16}{'p50 ms':>12}{'p99 ms':>14}"
              f"{'CPU-s/1k dec':>15}")  # fmt: skip
        for kind in ("uvicorn", "granian"):
            for label in scripts:
                rows = [run[kind][label] for run in runs]
                rates = [r["rps"] * r["decisions"] / r["requests"] for r in rows]
                per_k = [r["server_cpu"] / r["decisions"] * 1000 for r in rows]
                errors = sum(r["errors"] for r in rows)
                print(
                    f"{kind:<9}{label:<10}{span(rates, ',.0f'):>16}"
                    f"{span([r['p50'] for r in rows], '.2f'):>12}"
                    f"{span([r['p99'] for r in rows], '.1f'):>14}{span(per_k, '.3f'):>15}"
                    + (f"  ERRORS {errors:.0f}" if errors else "")
                )
        print("\ngranian / uvicorn, per run:")
        for label in scripts:
            rate = [
                (run["granian"][label]["decisions"] / run["granian"][label]["requests"]
                 * run["granian"][label]["rps"])
                / (run["uvicorn"][label]["decisions"] / run["uvicorn"][label]["requests"]
                   * run["uvicorn"][label]["rps"])
                for run in runs
            ]  # fmt: skip
            cpu = [
                (run["granian"][label]["server_cpu"] / run["granian"][label]["decisions"])
                / (run["uvicorn"][label]["server_cpu"] / run["uvicorn"][label]["decisions"])
                for run in runs
            ]
            print(f"  {label:<10} decisions/s {span(rate, '.2f')}x, CPU per decision "
                  f"{span(cpu, '.2f')}x")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
