"""The symbolic encoding decides what Cedar decides: pinned to a generated org and
request, the formula `allows` is forced to Cedar's answer. This is what keeps a proof honest;
the questions' counterexamples are confirmed by Cedar on top of it."""

from __future__ import annotations

from typing import Any

import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from suite_authz.engine.core import Engine, Request
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.review.crosscheck import request_space
from suite_authz.engine.review.symbolic.compile import allows, world_for
from tests.conftest import GENERATED, POLICIES
from tests.strategies import orgs, record_requests

POLICY_SET = load_policies(POLICIES)
WORLD = world_for(POLICY_SET)
ALLOWS = allows(POLICY_SET, WORLD)


def symbolic_answer(pins: list[Any]) -> bool:
    """What the encoding decides for the pinned request: it must be forced one way."""
    solver = z3.Solver()
    solver.add(WORLD.constraints)
    solver.add(pins)
    assert solver.check() == z3.sat, "the world cannot hold this org and request"
    can_allow = solver.check(ALLOWS) == z3.sat
    can_deny = solver.check(z3.Not(ALLOWS)) == z3.sat
    assert can_allow != can_deny, "the pinned request does not fix the decision"
    return can_allow


# each example asks z3 a few times per request (about 4 s an org): a quarter of the profile's
# examples
@settings(max_examples=max(1, settings.default.max_examples // 4))
@given(orgs(), st.data())
def test_the_encoding_decides_as_cedar_does(org: dict[str, Any], data: st.DataObject) -> None:
    GENERATED["symbolic vs cedar"] += 1
    engine = Engine(POLICY_SET, load_org(org, POLICY_SET.catalogue))
    users = [u["id"] for u in org["users"]]
    requests = [
        Request(**data.draw(record_requests(org, data.draw(st.sampled_from(users)))))
        for _ in range(3)
    ]
    # and from the crosscheck's space (edits touching each field the org restricts, claims),
    # by how Cedar decided: the rare denies by a forbid of an otherwise allowed request are
    # what shows a forbid encoded wrong, so each kind of answer is asked
    space = list(request_space(engine.org, POLICY_SET))
    kinds: dict[str, list[Request]] = {}
    for r in space:
        d = engine.decide(r, probe=False)
        for policy in d.policies if not d.allowed else ("allow",):
            kinds.setdefault(policy, []).append(r)
    for kind in sorted(kinds):
        requests.append(data.draw(st.sampled_from(kinds[kind])))
    for request in requests:
        cedar = engine.decide(request, probe=False)
        assert not cedar.errors, cedar.errors
        assert symbolic_answer(WORLD.pin(engine.org, request)) == cedar.allowed, request
