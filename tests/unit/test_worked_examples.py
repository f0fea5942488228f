"""Every worked example of DOMAIN holds in the shipped policies (policies/tests/)."""

from __future__ import annotations

import pytest

from engine import Engine
from engine.suites import load_suite, mismatches
from tests.conftest import DEMO, POLICIES

SUITE = load_suite(POLICIES / "tests" / "worked-examples.yaml")


def test_worked_examples_suite_uses_the_demo_org() -> None:
    assert SUITE.org == DEMO
    assert len(SUITE.cases) == 11


@pytest.mark.parametrize("case", SUITE.cases, ids=[c.name for c in SUITE.cases])
def test_worked_example_holds(demo: Engine, case: object) -> None:
    from engine.suites import Case

    assert isinstance(case, Case)
    decision = demo.decide(case.request)
    assert mismatches(case, decision) == []
