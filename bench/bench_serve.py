"""make bench-serve: `authz serve` under load on realistic traffic, beside Cerbos, in one run.

The org is the generated one (bench/genorg.py: 10,000 users, 100,000 records), imported into
a fresh store. The traffic is bench/traces.py's three traces (uniform, Zipf, sessions), sent by
wrk (Debian's package, `-t2 -c32`) as single evaluations and as batches of 20, after a warm-up
on an earlier part of the same trace (a sidecar that has been up for a while). The decision log
and metrics are on, as in production. Our server runs twice: as served by default (decision
cache and class cache on) and with both off (`--decision-cache 0 --class-cache 0`, on the
uniform trace: every request decided afresh). The Cerbos PDP 0.55 (npm
`@cerbos/cerbos-linux-x64`) answers the same requests with an equivalent policy (see
CERBOS_RULES), the org's facts sent as attributes, since Cerbos holds no org data. The three
servers are up at once, and each run measures them in turn (alternating, so a run's ratios
compare the same minutes of a shared machine).

Reported per scenario, as ranges over `--runs` runs (3 by default): requests and decisions per
second, p50 and p99 latency (wrk's), server CPU seconds per 1,000 decisions (/proc/PID/stat),
the distinct requests sent, the hit rates of both caches (from /metrics), the mean body sent
(Cerbos's carry the org's facts); and per run the ratio of our CPU per decision to Cerbos's
on the same trace. `make bench-serve` first runs bench/cerbos_diff.py: the bench stops unless
Cerbos answers every distinct request of the traces as the engine does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cerbos_policy import cerbos_bodies, write_cerbos_policies  # noqa: E402
from bench.genorg import generate  # noqa: E402
from bench.traces import TRACES, batches, trace  # noqa: E402

DURATION = 6  # seconds per measured scenario
WARM_UP = 3  # seconds on the trace's first part, not reported
CONNECTIONS = 32
THREADS = 2
BATCH = 20
WARM_PART = 40_000  # requests of each trace kept for warm-ups
MEASURED_PART = 120_000  # requests of each trace for the measured runs
TICKS = os.sysconf("SC_CLK_TCK")
CERBOS = ROOT / ".bench/node_modules/@cerbos/cerbos-linux-x64/cerbos-linux-x64"

# Each wrk thread reads the bodies at start and takes every other one: the two threads never
# send the same request twice, so repeats are the trace's own.
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {}
local n = 0
local counter = 0
function setup(thread)
  thread:set("first", counter)
  counter = counter + 1
end
function init(args)
  for line in io.lines([[BODIES]]) do bodies[#bodies + 1] = line end
  n = first or 0
end
function request()
  local body = bodies[(n % #bodies) + 1]
  n = n + 2
  return wrk.format(nil, [[ROUTE]], nil, body)
end
"""


def cpu_seconds(pid: int) -> float:
    """CPU seconds of the server: `pid` and its children (`--workers N` forks them)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def write_lua(work: Path, name: str, bodies: list[dict[str, Any]], route: str) -> Path:
    data = work / f"{name}.jsonl"
    data.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies))
    script = work / f"{name}.lua"
    script.write_text(LUA.replace("BODIES", str(data)).replace("ROUTE", route))
    return script


def run_wrk(port: int, script: Path, pid: int, duration: int) -> dict[str, float]:
    before = cpu_seconds(pid)
    out = subprocess.run(
        ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", "-s",
         str(script), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True, timeout=duration + 60,
    ).stdout  # fmt: skip
    server_cpu = cpu_seconds(pid) - before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "rps": rps,
        "requests": total,
        "p50": pct("50"),
        "p99": pct("99"),
        "server_cpu": server_cpu,
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def imported_org(work: Path) -> tuple[dict[str, Any], Path, Path]:
    """The generated 10,000-user org, imported into a fresh store in `work`: the org, the
    store, and where the server's decision log goes."""
    org = generate(10_000, 100_000)
    (work / "big.json").write_text(json.dumps(org))
    store, log = work / "orgs.sqlite3", work / "decisions.jsonl"
    subprocess.run(
        [sys.executable, "-m", "suite_authz.cli.main", "org", "import", str(work / "big.json"),
         "--store", str(store)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    return org, store, log


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"not ready after {seconds:.0f} s: {url}")


def cache_counts(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for name in ("decision_cache_hits", "decision_cache_misses", "class_cache_hits",
                 "class_cache_misses"):  # fmt: skip
        found = re.search(rf"^authz_{name}_total (\d+)", text, re.M)
        out[name] = float(found.group(1)) if found else 0.0
    return out


def hit_rate(before: dict[str, float], after: dict[str, float], cache: str) -> float | None:
    hits = after[f"{cache}_hits"] - before[f"{cache}_hits"]
    misses = after[f"{cache}_misses"] - before[f"{cache}_misses"]
    return hits / (hits + misses) if hits + misses else None


class Scenario:
    """One trace sent one way (singles or batches) to one server."""

    def __init__(self, label: str, trace_name: str, batch: bool, warm: Path, measured: Path,
                 distinct: Callable[[int], int]) -> None:  # fmt: skip
        self.label, self.trace, self.batch = label, trace_name, batch
        self.warm, self.measured, self.distinct = warm, measured, distinct
        self.per_request = BATCH if batch else 1
        lines = measured.with_suffix(".jsonl").read_bytes().splitlines()
        self.body_bytes = sum(map(len, lines)) / max(len(lines), 1)  # what each request sends


def scenarios(work: Path, org: dict[str, Any], cerbos: bool) -> dict[str, list[Scenario]]:
    """Scripts for each server: ours (cached, uncached) and Cerbos."""
    out: dict[str, list[Scenario]] = {"ours": [], "off": [], "cerbos": []}
    for name in TRACES:
        bodies = trace(name, WARM_PART + MEASURED_PART)
        warm, measured = bodies[:WARM_PART], bodies[WARM_PART:]
        for batch in (False, True):
            route = "/access/v1/evaluations" if batch else "/access/v1/evaluation"
            kind = "batch 20" if batch else "singles"
            shape = (lambda b: batches(b, BATCH)) if batch else (lambda b: b)
            w, m = shape(warm), shape(measured)
            keys = [json.dumps(b, sort_keys=True) for b in m]

            def distinct(sent: int, keys: list[str] = keys) -> int:
                return len(set(keys[:sent]))

            tag = f"{name}-{'b' if batch else 's'}"
            ours = Scenario(
                f"{name} {kind}",
                name,
                batch,
                write_lua(work, f"{tag}-warm", w, route),
                write_lua(work, tag, m, route),
                distinct,
            )
            out["ours"].append(ours)
            if name == "uniform":
                out["off"].append(ours)
            if cerbos:
                out["cerbos"].append(
                    Scenario(
                        f"{name} {kind}",
                        name,
                        batch,
                        write_lua(work, f"c-{tag}-warm", cerbos_bodies(w, org), route),
                        write_lua(work, f"c-{tag}", cerbos_bodies(m, org), route),
                        distinct,
                    )
                )
    return out


def measure(
    port: int, pid: int, todo: list[Scenario], caches: bool, duration: int
) -> dict[str, dict[str, Any]]:
    results = {}
    for scenario in todo:
        run_wrk(port, scenario.warm, pid, WARM_UP)
        before = cache_counts(port) if caches else None
        r = run_wrk(port, scenario.measured, pid, duration)
        if before is not None:
            after = cache_counts(port)
            r["decision_hits"] = hit_rate(before, after, "decision_cache")
            r["class_hits"] = hit_rate(before, after, "class_cache")
        r["decisions"] = r["requests"] * scenario.per_request
        r["body_bytes"] = scenario.body_bytes
        r["distinct"] = scenario.distinct(int(r["requests"]))
        results[scenario.label] = r
    return results


SERVED_CHECKED = 6_000  # distinct requests of the traces asked again after the load


def served_as_fresh(port: int, org: dict[str, Any]) -> None:
    """The served answers (decision and class caches full, any worker) must be a fresh
    engine's, with no cache at all, on the traces' requests: else the speed was bought with
    wrong answers and the bench stops."""
    from bench.cerbos_diff import distinct_bodies, ours
    from suite_authz.engine.core import Engine
    from suite_authz.engine.core.model import load_org
    from suite_authz.engine.core.policies import load_policies

    bodies = distinct_bodies(SERVED_CHECKED // len(TRACES))
    policies = load_policies()
    fresh = ours(Engine(policies, load_org(org, policies.catalogue)), bodies)
    served: list[bool] = []
    for start in range(0, len(bodies), BATCH):
        chunk = bodies[start : start + BATCH]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/access/v1/evaluations",
            data=json.dumps({"evaluations": chunk}).encode(),
            headers={"content-type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            served += [a["decision"] for a in json.loads(response.read())["evaluations"]]
    differ = sum(a != b for a, b in zip(served, fresh, strict=True))
    print(f"  served answers against a fresh engine's: {differ} of {len(bodies)} differ")
    if differ:
        raise SystemExit("the served answers are not a fresh engine's: the figures are void")


def start_ours(
    work: Path, store: Path, log: Path, caches: bool, workers: int = 1
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    off = [] if caches else ["--decision-cache", "0", "--class-cache", "0"]
    off += ["--workers", str(workers)]
    server = subprocess.Popen(
        [sys.executable, "-m", "suite_authz.cli.main", "serve", "--store", str(store), "--port",
         str(port), "--decision-log", str(log), *off],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    wait_ready(f"http://127.0.0.1:{port}/readyz")
    return server, port


def start_cerbos(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    port, grpc = free_port(), free_port()
    policies = work / "cerbos-policies"
    write_cerbos_policies(policies)
    (work / "cerbos.yaml").write_text(
        f'server:\n  httpListenAddr: "127.0.0.1:{port}"\n  grpcListenAddr: "127.0.0.1:{grpc}"\n'
        f"storage:\n  driver: disk\n  disk:\n    directory: {policies}\n"
        "telemetry:\n  disabled: true\naudit:\n  enabled: false\n"
    )
    proc = subprocess.Popen(
        [str(CERBOS), "server", f"--config={work / 'cerbos.yaml'}", "--log-level=error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_ready(f"http://127.0.0.1:{port}/.well-known/authzen-configuration")
    return proc, port


def span(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}-{hi:{fmt}}"


def report(runs: list[dict[str, dict[str, dict[str, Any]]]]) -> None:
    print(
        f"{'server':<8}{'scenario':<20}{'dec/s':>14}{'p50 ms':>12}{'p99 ms':>14}"
        f"{'CPU-s/1k dec':>15}{'distinct':>16}{'dec. cache':>12}{'class cache':>13}"
        f"{'body B':>9}"
    )
    for server in ("ours", "off", "cerbos"):
        labels = list(runs[0].get(server, {}))
        for label in labels:
            rows = [run[server][label] for run in runs]
            per_k = [r["server_cpu"] / r["decisions"] * 1000 for r in rows]
            rates = [r["rps"] * (r["decisions"] / r["requests"]) for r in rows]
            line = (
                f"{server:<8}{label:<20}{span(rates, ',.0f'):>14}"
                f"{span([r['p50'] for r in rows], '.2f'):>12}"
                f"{span([r['p99'] for r in rows], '.1f'):>14}{span(per_k, '.3f'):>15}"
                f"{span([r['distinct'] for r in rows], ',.0f'):>16}"
            )
            for cache, width in (("decision_hits", 12), ("class_hits", 13)):
                got = [100 * r[cache] for r in rows if r.get(cache) is not None]
                shown = span(got, ".1f") + "%" if got else "-"
                line += f"{shown:>{width}}"
            line += f"{rows[0]['body_bytes']:>9,.0f}"
            errors = sum(r["errors"] for r in rows)
            print(line + (f"  ERRORS {errors:.0f}" if errors else ""))
    if not any("cerbos" in run and run["cerbos"] for run in runs):
        return

    def cpu(r: dict[str, Any]) -> float:
        return float(r["server_cpu"] / r["decisions"])

    def rate(r: dict[str, Any]) -> float:
        return float(r["rps"] * r["decisions"] / r["requests"])

    for title, of, fmt in (
        ("server CPU per decision", cpu, ".2f"),
        ("decisions per second", rate, ".2f"),
    ):
        print(f"\n{title}, suite-authz / Cerbos, same trace, per run (runs alternate):")
        for server, caches in (("ours", "caches on"), ("off", "caches off")):
            for label in runs[0].get(server, {}):
                ratios = [of(run[server][label]) / of(run["cerbos"][label]) for run in runs]
                print(f"  {caches:<11}{label:<20}{span(ratios, fmt)}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=DURATION, help="seconds per scenario")
    parser.add_argument("--workers", type=int, default=1, help="authz serve --workers")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench-serve needs wrk: apt-get install wrk (make bench-serve does)")
    work = Path(tempfile.mkdtemp(prefix="authz-bench-serve-"))
    try:
        org, store, log = imported_org(work)
        todo = scenarios(work, org, CERBOS.is_file())
        if not CERBOS.is_file():
            print(f"(no Cerbos binary at {CERBOS}: make bench-serve installs it)")
        runs: list[dict[str, dict[str, dict[str, Any]]]] = [{} for _ in range(args.runs)]
        # every server up at once and the runs alternated between them (ours, ours with caches
        # off, Cerbos, then again), so that the ratios per run compare minutes the machine
        # spent alike, not one server's quiet quarter of an hour against another's busy one
        servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        try:
            for name in ("ours", "off", "cerbos"):
                if not todo[name]:
                    continue
                if name == "cerbos":
                    servers[name] = start_cerbos(work)
                else:
                    servers[name] = start_ours(work, store, log, name == "ours", args.workers)
            for n in range(args.runs):
                for name, (proc, port) in servers.items():
                    # hit rates with one worker only: several carry their counters over once
                    # a second each, so a window's difference is no rate
                    hits = name == "ours" and args.workers == 1
                    runs[n][name] = measure(port, proc.pid, todo[name], hits, args.duration)
                print(f"  (run {n + 1} of {args.runs} done)", flush=True)
            for name in ("ours", "off"):  # after the load: caches full, workers warm
                served_as_fresh(servers[name][1], org)
        finally:
            for name, (proc, _) in servers.items():
                with contextlib.suppress(ProcessLookupError):
                    if name == "cerbos":
                        proc.kill()
                    else:  # the server and its workers
                        os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        lines = len(log.read_text().splitlines())
        print(
            f"\nsuite-authz bench-serve: generated org of 10,000 users and 100,000 records; "
            f"{args.workers} worker(s); wrk -t2 -c{CONNECTIONS}, {WARM_UP} s warm-up then "
            f"{args.duration} s per scenario; {args.runs} runs; decision log on "
            f"({lines:,} lines written)\n"
        )
        report(runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
