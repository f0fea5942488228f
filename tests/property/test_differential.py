"""The two encodings agree: Cedar and Polar give the same answer on generated orgs."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from suite_authz.engine.core import Engine, Request
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet, load_policies
from suite_authz.engine.review.crosscheck import same
from tests.conftest import GENERATED, POLICIES
from tests.strategies import orgs, record_requests

POLICY_SET = load_policies(POLICIES)


@given(orgs(), st.data())
def test_cedar_and_polar_agree_on_generated_orgs(org: dict[str, Any], data: st.DataObject) -> None:
    check_agreement(POLICY_SET, org, data)


def check_agreement(
    policies: PolicySet, org: dict[str, Any], data: st.DataObject, cedar: Engine | None = None
) -> None:
    """Both encodings of `policies` decide the same on random requests of `org`, and carry the
    same obligations: views (what to redact) and mails (the sender) are asked every time.
    `cedar`: an engine of `policies` over `org` already built, to share its index."""
    GENERATED["differential cedar/polar"] += 1
    if cedar is None:
        cedar = Engine(policies, load_org(org, policies.catalogue), "cedar")
    polar = Engine(policies, cedar.org, "polar", index=cedar.index)
    users = [u["id"] for u in org["users"]]
    requests = [Request(**data.draw(record_requests(org, data.draw(st.sampled_from(users)))))]
    requests += [Request(**data.draw(record_requests(org, data.draw(st.sampled_from(users)))))]
    for action in ("view", "send_email"):
        record = data.draw(st.sampled_from(org["records"]))
        subject = data.draw(st.sampled_from(users))
        requests.append(Request(subject, action, record["type"], record["id"]))
    # The admin actions of D12 as well.
    subject, target = data.draw(st.sampled_from(users)), data.draw(st.sampled_from(users))
    requests += [
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
    ]
    for req in requests:
        a, b = cedar.decide(req), polar.decide(req)
        assert same(a, b), (req, a, b)
