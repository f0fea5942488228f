"""The two encodings agree: Cedar and Polar give the same answer on generated orgs."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine import Engine, Request
from engine.crosscheck import same
from engine.model import load_org
from engine.policies import load_policies
from tests.conftest import GENERATED, POLICIES
from tests.strategies import orgs, record_requests

POLICY_SET = load_policies(POLICIES)


@given(orgs(), st.data())
def test_cedar_and_polar_agree_on_generated_orgs(org: dict[str, Any], data: st.DataObject) -> None:
    GENERATED["differential cedar/polar"] += 1
    model = load_org(org, POLICY_SET.catalogue)
    cedar = Engine(POLICY_SET, model, "cedar")
    polar = Engine(POLICY_SET, model, "polar")
    users = [u["id"] for u in org["users"]]
    for _ in range(4):
        subject = data.draw(st.sampled_from(users))
        req = Request(**data.draw(record_requests(org, subject)))
        a, b = cedar.decide(req), polar.decide(req)
        assert same(a, b), (req, a, b)
    # The admin actions of D12 as well.
    subject, target = data.draw(st.sampled_from(users)), data.draw(st.sampled_from(users))
    for req in (
        Request(
            subject,
            "enrol_integration_user",
            "user",
            target,
            context={"product": data.draw(st.sampled_from(("books", "subscriptions")))},
        ),
        Request(
            subject,
            "run_migration",
            "org",
            "gen",
            context={"enrolments": data.draw(st.integers(0, 1200))},
        ),
    ):
        a, b = cedar.decide(req), polar.decide(req)
        assert same(a, b), (req, a, b)
