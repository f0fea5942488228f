"""make bench-serve: a bounded load run of `authz serve` on loopback (under a minute in all).

wrk (Debian's package) drives the server at concurrency 32 for single evaluations, then for
batches of 20, with the decision log and metrics on as in production: once as served by default
(the decision cache on; wrk repeats six requests, so after the first round they are answered
from it) and once with `--decision-cache 0`, where every request is decided afresh (Cedar call
and explanation each time: the worst case, a CRM that never asks the same thing twice).
Reported: requests and decisions per second, p50 and p99 latency (wrk's), server CPU seconds per
1,000 decisions (from /proc/PID/stat before and after), and the loader's own CPU (so it is seen
not to be the limit). Cerbos 0.55 runs beside it with an equivalent two-rule policy.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DURATION = 6  # seconds per scenario
WARM_UP = 2  # seconds, not reported
CONNECTIONS = 32
TICKS = os.sysconf("SC_CLK_TCK")

SINGLES = [
    {
        "subject": {"type": "user", "id": s},
        "action": {"name": a},
        "resource": {"type": t, "id": i or "#new"},
    }
    for s, a, t, i in [
        ("asha", "create", "estimate", None),
        ("chen", "view", "item", "item-1"),
        ("ben", "create", "invoice", None),
        ("fay", "send_email", "estimate", "est-2"),
        ("asha", "delete", "estimate", "est-1"),
        ("eli", "view", "dashboard", "dash-insights"),
    ]
]
BATCH = {
    "subject": {"type": "user", "id": "asha"},
    "evaluations": [
        {"action": {"name": a}, "resource": {"type": t, "id": "#new"}}
        for a in ("view", "create", "edit", "delete")
        for t in ("estimate", "sales_order", "invoice", "purchase_order", "item")
    ],
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def lua(bodies: list[dict[str, object]]) -> str:
    items = ",\n".join(f"  [[{json.dumps(b)}]]" for b in bodies)
    return (
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"local bodies = {{\n{items}\n}}\nlocal n = 0\n"
        "request = function()\n  n = n + 1\n"
        '  return wrk.format(nil, "/access/v1/evaluation", nil, bodies[(n % #bodies) + 1])\nend\n'
    )


def run_wrk(port: int, script: Path, pid: int, duration: int = DURATION) -> dict[str, float]:
    before_server = cpu_seconds(pid)
    before_loader = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    after_loader = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = cpu_seconds(pid) - before_server
    loader_cpu = (after_loader.ru_utime + after_loader.ru_stime) - (
        before_loader.ru_utime + before_loader.ru_stime
    )
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
        "loader_cpu": loader_cpu,
        "errors": float(errors.group(1)) if errors else 0.0,
    }


CERBOS = ROOT / ".bench/node_modules/@cerbos/cerbos-linux-x64/cerbos-linux-x64"
CERBOS_POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: default
  resource: "{kind}"
  rules:
    - actions: ["view", "create", "edit"]
      effect: EFFECT_ALLOW
      roles: ["integration"]
      condition:
        match:
          expr: request.principal.attr.channel == "crm"
    - actions: ["*"]
      effect: EFFECT_ALLOW
      roles: ["member"]
"""
ROLES = {"asha": "integration", "eli": "integration", "chen": "member", "fay": "member"}


def cerbos_bodies(bodies: list[dict[str, object]]) -> list[dict[str, object]]:
    """The same requests for Cerbos: roles and channel as subject properties."""
    out = []
    for body in bodies:
        subject = dict(body["subject"])  # type: ignore[arg-type]
        subject["properties"] = {
            "cerbos.roles": [ROLES.get(str(subject["id"]), "none")],
            "channel": "crm",
        }
        item = {**body, "subject": subject}
        if "resource" in body:  # Cerbos requires a resource id
            item["resource"] = {"id": "new", **dict(body["resource"])}  # type: ignore[arg-type]
        if "evaluations" in body:
            item["evaluations"] = [
                {**e, "resource": {"id": "new", **e["resource"]}}
                for e in body["evaluations"]  # type: ignore[attr-defined]
            ]
        out.append(item)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"not ready: {url}")


def bench_cerbos(work: Path) -> list[tuple[str, dict[str, float], int]]:
    """Cerbos PDP with an equivalent two-rule policy, the same load, same machine."""
    (work / "cerbos-policies").mkdir()
    kinds = {"estimate", "sales_order", "invoice", "purchase_order", "item", "dashboard"}
    for kind in kinds:  # Cerbos wants one resource policy per kind
        (work / "cerbos-policies" / f"{kind}.yaml").write_text(
            CERBOS_POLICY.replace("{kind}", kind)
        )
    port, grpc = free_port(), free_port()
    (work / "cerbos.yaml").write_text(
        f'server:\n  httpListenAddr: "127.0.0.1:{port}"\n  grpcListenAddr: "127.0.0.1:{grpc}"\n'
        f"storage:\n  driver: disk\n  disk:\n    directory: {work / 'cerbos-policies'}\n"
        "telemetry:\n  disabled: true\naudit:\n  enabled: false\n"
    )
    proc = subprocess.Popen(
        [str(CERBOS), "server", f"--config={work / 'cerbos.yaml'}", "--log-level=error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/.well-known/authzen-configuration")
        single, batch = work / "c-single.lua", work / "c-batch.lua"
        single.write_text(lua(cerbos_bodies(SINGLES)))
        batch.write_text(
            lua(cerbos_bodies([BATCH])).replace("/access/v1/evaluation", "/access/v1/evaluations")
        )
        run_wrk(port, single, proc.pid, WARM_UP)
        return [
            ("Cerbos single", run_wrk(port, single, proc.pid), 1),
            ("Cerbos batch of 20", run_wrk(port, batch, proc.pid), len(BATCH["evaluations"])),
        ]
    finally:
        proc.kill()
        proc.wait()


def bench_ours(
    work: Path, store: Path, log: Path, cache: int, label: str
) -> list[tuple[str, dict[str, float], int]]:
    authz = [sys.executable, "-m", "suite_authz.cli.main"]
    port = free_port()
    server = subprocess.Popen(
        [
            *authz,
            "serve",
            "--store",
            str(store),
            "--port",
            str(port),
            "--decision-log",
            str(log),
            "--decision-cache",
            str(cache),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        single, batch = work / "single.lua", work / "batch.lua"
        single.write_text(lua(SINGLES))
        batch.write_text(lua([BATCH]).replace("/access/v1/evaluation", "/access/v1/evaluations"))
        run_wrk(port, single, server.pid, WARM_UP)
        return [
            (f"singles, {label}", run_wrk(port, single, server.pid), 1),
            (f"batch 20, {label}", run_wrk(port, batch, server.pid), len(BATCH["evaluations"])),
        ]
    finally:
        server.kill()
        server.wait()


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench-serve needs wrk: apt-get install wrk (make bench-serve does)")
    work = Path(tempfile.mkdtemp(prefix="authz-bench-serve-"))
    store, log = work / "orgs.sqlite3", work / "decisions.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "suite_authz.cli.main",
            "org",
            "import",
            str(ROOT / "policies/examples/demo-org.json"),
            "--store",
            str(store),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    rows = bench_ours(work, store, log, 10_000, "cached")
    rows += bench_ours(work, store, log, 0, "no cache")
    if CERBOS.is_file():
        rows += bench_cerbos(work)
    else:
        print(f"(no Cerbos binary at {CERBOS}: make bench-serve installs it)")
    lines = len(log.read_text().splitlines())
    print(
        f"suite-authz bench-serve: 1 worker, wrk -t2 -c{CONNECTIONS} -d{DURATION}s, loopback, "
        f"decision log and metrics on ({lines:,} log lines written)"
    )
    print(
        f"{'scenario':<24}{'req/s':>9}{'dec/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'srv CPU-s/1k dec':>18}{'loader CPU-s':>14}{'errors':>8}"
    )
    per_decision = {}
    for label, r, n in rows:
        decisions = r["requests"] * n
        per_k = r["server_cpu"] / decisions * 1000
        per_decision[label] = per_k
        print(
            f"{label:<24}{r['rps']:>9,.0f}{r['rps'] * n:>9,.0f}{r['p50']:>8.2f}{r['p99']:>8.2f}"
            f"{per_k:>18.3f}{r['loader_cpu']:>14.1f}{r['errors']:>8.0f}"
        )
    for label in ("cached", "no cache"):
        single, batch = per_decision[f"singles, {label}"], per_decision[f"batch 20, {label}"]
        print(f"{label}: a decision in a batch of 20 costs {single / batch:.1f}x less server CPU")
        if "Cerbos single" in per_decision:
            print(
                f"{label}: server CPU per decision, suite-authz / Cerbos: singles "
                f"{single / per_decision['Cerbos single']:.2f}x, "
                f"batches {batch / per_decision['Cerbos batch of 20']:.2f}x"
            )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
