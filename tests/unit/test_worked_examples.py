"""Every worked example of the rule book holds in the shipped policies (policies/tests/), through
both encodings: Cedar and Polar."""

from __future__ import annotations

import pytest

from suite_authz.engine.core import Engine
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.review.suites import Case, load_suite, mismatches
from tests.conftest import DEMO, POLICIES

SUITE = load_suite(POLICIES / "tests" / "worked-examples.yaml")


@pytest.fixture(scope="module", params=["cedar", "polar"])
def engine(request: pytest.FixtureRequest, policies: PolicySet) -> Engine:
    return Engine(policies, load_org(DEMO, policies.catalogue), request.param)


def test_worked_examples_suite_uses_the_demo_org() -> None:
    assert SUITE.org == DEMO
    assert len(SUITE.cases) == 11


@pytest.mark.parametrize("case", SUITE.cases, ids=[c.name for c in SUITE.cases])
def test_worked_example_holds(engine: Engine, case: Case) -> None:
    decision = engine.decide(case.request)
    assert mismatches(case, decision, policy_ids=engine.backend.name == "cedar") == []
