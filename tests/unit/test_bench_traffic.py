"""The benchmarks' traffic (bench/traces.py, bench/cerbos_policy.py): what `make bench-serve`
sends must be valid, realistic and the same for both servers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

from bench.cerbos_policy import CATALOGUE, cerbos_bodies, write_cerbos_policies
from bench.genorg import MODULES, generate
from bench.traces import Ids, batches, trace
from suite_authz.engine.core import Engine
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import load_policies
from suite_authz.server.authzen import parse_evaluation

ORG = generate(200, 2_000)
IDS = Ids.of(ORG)


def test_traces_are_seeded_and_every_request_is_one_the_engine_can_decide() -> None:
    policies = load_policies()
    engine = Engine(policies, load_org(ORG, policies.catalogue))
    for kind in ("uniform", "zipf", "sessions"):
        bodies = trace(kind, 500, ids=IDS)
        assert bodies == trace(kind, 500, ids=IDS)  # the same seed, the same trace
        assert bodies != trace(kind, 500, seed=2, ids=IDS)
        for body in bodies:
            request, _ = parse_evaluation(body)
            engine.validate(request)
            assert not engine.decide(request).errors, body


def test_zipf_and_sessions_repeat_users_where_uniform_spreads_them() -> None:
    def top_share(kind: str) -> float:
        users = Counter(b["subject"]["id"] for b in trace(kind, 2_000, ids=IDS))
        return sum(n for _, n in users.most_common(10)) / 2_000

    assert top_share("uniform") < 0.15
    assert top_share("zipf") > 0.3
    sessions = trace("sessions", 40, ids=IDS)
    assert len({b["subject"]["id"] for b in sessions[:20]}) == 1  # one user's session


def test_batches_keep_the_trace_order_under_one_subject() -> None:
    bodies = trace("zipf", 100, ids=IDS)
    made = batches(bodies, 20)
    assert len(made) == 5
    assert [e["resource"] for e in made[1]["evaluations"]] == [b["resource"] for b in bodies[20:40]]


def test_cerbos_gets_the_same_requests_with_the_org_facts_as_attributes(tmp_path: Path) -> None:
    bodies = trace("uniform", 50, ids=IDS)
    converted = cerbos_bodies(bodies, ORG)
    users = {u["id"]: u for u in ORG["users"]}
    for ours, theirs in zip(bodies, converted, strict=True):
        assert theirs["subject"]["id"] == ours["subject"]["id"]
        assert theirs["action"] == ours["action"]
        assert theirs["resource"]["type"] == ours["resource"]["type"]
        props = theirs["subject"]["properties"]
        user = users[ours["subject"]["id"]]
        # the user's seat in each product owning the record's type, and no other
        owners = CATALOGUE.modules[ours["resource"]["type"]].products
        for m in user.get("memberships", []):
            assert props["seats"].get(m["product"]) == (
                "member" if m["product"] in owners else None
            )
        channel = ours.get("context", {}).get("channel", "crm")
        assert theirs["resource"]["properties"]["channel"] == channel
    write_cerbos_policies(tmp_path)
    for kind in MODULES:
        policy = yaml.safe_load((tmp_path / f"{kind}.yaml").read_text())
        assert policy["resourcePolicy"]["resource"] == kind
        assert len(policy["resourcePolicy"]["rules"]) >= 12
    json.dumps(converted)  # what wrk sends
