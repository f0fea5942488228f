"""The differential check behind `make bench-serve`: Cerbos, with bench/cerbos_policy.py's
policy and the org's facts as attributes, must answer every distinct request of the traces as
our engine does, or the comparison of their speed compares two different products.

Every distinct request of the bench's traces (the warm-up parts and the measured parts of the
uniform, Zipf and sessions traces) is decided by the engine in process and by a Cerbos PDP
over its AuthZEN batch endpoint; the requests answered differently are counted and shown by
kind (action, channel, what the user and the record are), a few examples each.

    python bench/cerbos_diff.py [--limit N]   # exit 1 when any answer differs
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cerbos_policy import cerbos_bodies  # noqa: E402
from bench.genorg import generate  # noqa: E402
from bench.traces import TRACES, trace  # noqa: E402
from suite_authz.engine.core import Engine  # noqa: E402
from suite_authz.engine.core.model import load_org  # noqa: E402
from suite_authz.engine.core.policies import load_policies  # noqa: E402
from suite_authz.server.authzen import parse_evaluation  # noqa: E402

ASKED_AT_ONCE = 50  # evaluations per Cerbos batch (its default limit)


def distinct_bodies(count: int) -> list[dict[str, Any]]:
    """Every distinct request of the three traces, as many as the bench sends of each."""
    seen: dict[str, dict[str, Any]] = {}
    for name in TRACES:
        for body in trace(name, count):
            seen.setdefault(json.dumps(body, sort_keys=True), body)
    return list(seen.values())


def ours(engine: Engine, bodies: list[dict[str, Any]]) -> list[bool]:
    requests = [parse_evaluation(b)[0] for b in bodies]
    return [d.allowed for d in engine.decide_many(requests, probe=False)]


def theirs(port: int, bodies: list[dict[str, Any]], org: dict[str, Any]) -> list[bool]:
    out: list[bool] = []
    translated = cerbos_bodies(bodies, org)
    for start in range(0, len(translated), ASKED_AT_ONCE):
        chunk = translated[start : start + ASKED_AT_ONCE]
        # AuthZEN's batch: each evaluation names its own subject, action and resource
        body = {
            "evaluations": [
                {"subject": i["subject"], "action": i["action"], "resource": i["resource"]}
                for i in chunk
            ]
        }
        answers = _post(port, "/access/v1/evaluations", body)["evaluations"]
        if len(answers) != len(chunk):
            raise SystemExit(f"Cerbos answered {len(answers)} of {len(chunk)} evaluations")
        out += [a["decision"] for a in answers]
    return out


def _post(port: int, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
        headers={"content-type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def kind_of(body: dict[str, Any], org_facts: Any, ours_allowed: bool) -> str:
    context = body.get("context", {})
    fields = body["resource"].get("properties", {}).get("fields")
    parts = [
        body["action"]["name"],
        body["resource"]["type"],
        f"channel={context.get('channel', 'crm')}",
        "acting_as" if "acting_as" in context else "",
        "sender" if "sender" in context else "",
        f"fields={fields}" if fields else "",
        "new" if body["resource"]["id"] == "#new" else "",
        f"ours={'allow' if ours_allowed else 'deny'}",
    ]
    return " ".join(p for p in parts if p)


def main() -> None:
    from bench.bench_serve import CERBOS, MEASURED_PART, WARM_PART, start_cerbos

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--limit",
        type=int,
        default=WARM_PART + MEASURED_PART,
        help="requests of each trace (default: as many as the bench sends)",
    )
    args = parser.parse_args()
    if not CERBOS.exists():
        raise SystemExit(f"no Cerbos PDP at {CERBOS}: `make bench-serve` installs it")
    org = generate(10_000, 100_000)
    policies = load_policies()
    engine = Engine(policies, load_org(org, policies.catalogue), class_cache=65536)
    bodies = distinct_bodies(args.limit)
    print(f"{len(bodies)} distinct requests of the traces")
    with tempfile.TemporaryDirectory() as work:
        proc, port = start_cerbos(Path(work))
        try:
            mine = ours(engine, bodies)
            other = theirs(port, bodies, org)
        finally:
            proc.kill()
    kinds: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    for body, a, b in zip(bodies, mine, other, strict=True):
        if a != b:
            kind = kind_of(body, None, a)
            kinds[kind] += 1
            examples.setdefault(kind, []).append(json.dumps(body))
    total = sum(kinds.values())
    print(f"answered differently: {total} of {len(bodies)}")
    for kind, n in kinds.most_common():
        print(f"  {n:6}  {kind}")
        for example in examples[kind][:2]:
            print(f"          {example}")
    if total:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
