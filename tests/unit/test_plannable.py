"""Which policy sets plan, read from the policies before any request (engine/review/plannable.py),
and `authz lint` saying so: a set that reads a record in a way the planner does not follow
still decides, and its list views are asked record by record; the planner refuses the same
set when asked (never a plan it cannot stand behind)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from suite_authz.engine.core import Engine, Request, Unplannable
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.review.plannable import why_unplannable
from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES

LIKE = """
@id("report-title-like")
@rule("D5")
@reason("members of Subscriptions see the reports whose title starts with Pipeline")
@product("subscriptions")
@seat("member")
permit (principal, action == Action::"view", resource is Report)
when
{
  principal has subscriptions &&
  principal.subscriptions.member &&
  resource has title &&
  resource.title like "Pipeline*"
};
"""


@pytest.mark.parametrize("where", ["", "legacy", "history/2025-05"])
def test_the_shipped_sets_plan(where: str) -> None:
    assert why_unplannable(load_policies(POLICIES / where).deciding.items()) is None


@pytest.fixture
def like_set(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("history", "legacy", "tests"))
    with (target / "subscriptions.cedar").open("a", encoding="utf-8") as out:
        out.write(LIKE)
    return target


def test_a_policy_the_planner_cannot_follow_is_named(like_set: Path) -> None:
    policies = load_policies(like_set)
    assert why_unplannable(policies.deciding.items()) == (
        "policy `report-title-like`: the operator `like` on the record"
    )
    engine = Engine(policies, load_org(DEMO.read_text(), policies.catalogue))
    refused = []
    for user in engine.org.users:  # refused where the `like` is reached: a member's view
        try:
            engine.plan(Request(user.id, "view", "report"))
        except Unplannable as exc:
            assert "`like`" in str(exc)
            refused.append(user.id)
        assert not engine.decide(Request(user.id, "view", "report", "rep-pipeline")).errors
    assert refused


def test_lint_says_whether_list_views_are_planned(like_set: Path) -> None:
    code, out, _ = run("lint", "--policies", str(like_set))
    assert code == 0
    assert out.splitlines()[-1] == (
        "list views: asked per record: "
        "policy `report-title-like`: the operator `like` on the record"
    )
    code, out, _ = run("lint")
    assert code == 0 and out.splitlines()[-1] == "list views: planned"
