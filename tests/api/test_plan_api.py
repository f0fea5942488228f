"""`POST /access/v1/plan/resource` (server/plan.py): the plan of the engine, through the route
table's guard, on the root and per-org paths; the same 400s as the resource search for bad
bodies; a 422 naming why for a policy set the planner does not follow (and the resource search
answering it record by record, counted); the plan in the decision log; /readyz per org."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from suite_authz.engine.core import Engine, Request
from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from suite_authz.server.state import State
from suite_authz.server.wire import PlanBody
from tests.conftest import DEMO, POLICIES

PLAN = "/access/v1/plan/resource"
SEARCH = "/access/v1/search/resource"
TOKEN = "s3cret-token-of-32-characters-xx"
# `like` on the record's title: a policy the planner refuses by name
UNPLANNABLE = """
@id("no-secret-titles")
@rule("D7")
@reason("a record whose title says secret is not shown")
forbid (
  principal,
  action == Action::"view",
  resource
)
when { resource has title && resource.title like "*secret*" };
"""


def asked(subject: str, action: str, kind: str, **context: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": {"type": kind},
    }
    if context:
        body["context"] = context
    return body


def canonical(node: Any) -> Any:
    """A plan with each and/or's arguments in one order (Cedar's residuals come in any)."""
    if isinstance(node, dict):
        out = {k: canonical(v) for k, v in node.items()}
        if "args" in out:
            out["args"] = sorted(out["args"], key=lambda a: json.dumps(a, sort_keys=True))
        return out
    return node


def planned(client: TestClient, body: dict[str, Any], path: str = PLAN) -> dict[str, Any]:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    PlanBody.model_validate(out)  # the shape /openapi.json publishes
    return out


def test_the_three_kinds_on_the_demo_org_are_the_engines_plans(client: TestClient) -> None:
    engine = Engine.load(DEMO)
    for subject, action, kind in [
        ("asha", "view", "invoice"),
        ("ben", "view", "invoice"),
        ("asha", "edit", "invoice"),
        ("dana", "approve", "invoice"),
    ]:
        out = planned(client, asked(subject, action, kind))
        assert canonical(out) == canonical(engine.plan(Request(subject, action, kind)).to_dict())
    assert planned(client, asked("asha", "view", "invoice"))["kind"] == "always"
    assert planned(client, asked("ben", "view", "invoice"))["kind"] == "never"
    edit = planned(client, asked("asha", "edit", "invoice"))
    assert edit["kind"] == "conditional"
    assert edit["condition"] == {
        "op": "not",
        "arg": {"op": "eq", "path": "status", "value": "pending_approval"},
    }
    approve = planned(client, asked("dana", "approve", "invoice"))["condition"]
    assert canonical(approve) == canonical(
        {
            "op": "and",
            "args": [
                {"op": "eq", "path": "status", "value": "pending_approval"},
                {"op": "not", "arg": {"op": "eq", "path": "submitted_by", "value": "dana"}},
            ],
        }
    )


def test_an_unknown_user_is_never_admitted_and_told_why(client: TestClient) -> None:
    out = planned(client, asked("nobody", "view", "invoice"))
    assert out["kind"] == "never" and out["condition"] == {"op": "false"}
    assert "unknown subject `nobody`" in out["reasons"][0]
    assert out["missing"] == ["a user of org `demo`"]


def test_a_view_plan_carries_its_redactions(client: TestClient) -> None:
    assert planned(client, asked("chen", "view", "item"))["redact_fields"] == ["cost_price"]
    assert planned(client, asked("asha", "view", "invoice"))["redact_fields"] == []
    assert "redact_fields" not in planned(client, asked("asha", "edit", "invoice"))


def test_the_per_org_path_answers_for_its_org(two_orgs: TestClient) -> None:
    root = planned(two_orgs, asked("asha", "edit", "invoice", org="demo"))
    assert planned(two_orgs, asked("asha", "edit", "invoice"), f"/demo{PLAN}") == root
    r = two_orgs.post(f"/demo{PLAN}", json=asked("asha", "view", "invoice", org="legacy"))
    assert r.status_code == 400 and "names another org" in r.json()["message"]
    assert two_orgs.post(f"/nowhere{PLAN}", json=asked("asha", "view", "invoice")).status_code == (
        404
    )


def test_the_token_is_required(guarded: TestClient) -> None:
    body = asked("asha", "view", "invoice")
    for path in (PLAN, f"/demo{PLAN}"):
        r = guarded.post(path, json=body)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        wrong = guarded.post(path, json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = guarded.post(path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["kind"] == "always"
    assert guarded.get(PLAN, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 405


BAD_BODIES: list[Any] = [
    {},
    [],
    {"subject": {"type": "user", "id": "asha"}, "action": {"name": "view"}},
    {**asked("asha", "view", "invoice"), "subject": {"type": "group", "id": "asha"}},
    {**asked("asha", "view", "invoice"), "subject": {"type": "user", "id": ""}},
    {**asked("asha", "view", "invoice"), "action": {"name": 3}},
    {**asked("asha", "view", "invoice"), "resource": {"id": "inv-1"}},
    {**asked("asha", "view", "invoice"), "resource": {"type": ""}},
    {**asked("asha", "view", "invoice"), "context": {"channel": 1}},
    {**asked("asha", "view", "invoice"), "context": "crm"},
    {**asked("asha", "edit", "invoice"), "resource": {"type": "invoice", "properties": 1}},
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_bad_bodies_get_the_searchs_400s(client: TestClient, body: Any) -> None:
    plan, search = client.post(PLAN, json=body), client.post(SEARCH, json=body)
    assert plan.status_code == search.status_code == 400, plan.text
    assert plan.json() == search.json()


def test_malformed_json_and_a_catalogue_miss_are_400s(client: TestClient) -> None:
    r = client.post(PLAN, content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = client.post(PLAN, json=asked("asha", "fly", "invoice"))
    assert r.status_code == 400 and "fly" in r.json()["message"]


def test_users_and_the_org_are_not_listed_by_a_plan(client: TestClient) -> None:
    """An admin action names its one user or org (a 400, as its evaluation); a record
    action on them is no request at all (a 400)."""
    for action, kind in (("enrol_integration_user", "user"), ("run_migration", "org")):
        r = client.post(PLAN, json=asked("olivia", action, kind, product="books", enrolments=1))
        assert r.status_code in (400, 422), r.text
        if r.status_code == 422:
            assert "not a record type" in r.json()["message"] and SEARCH in r.json()["message"]
    assert client.post(PLAN, json=asked("asha", "view", "user")).status_code == 400


@pytest.fixture
def unplannable(tmp_path: Path) -> Iterator[tuple[TestClient, State, Path]]:
    """The demo org under a policy set with a `like` on the record's title."""
    tmp_path = tmp_path / "unplannable"
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies, ignore=shutil.ignore_patterns("history"))
    with (policies / "fields.cedar").open("a") as f:
        f.write(UNPLANNABLE)
    store = tmp_path / "orgs.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies(policies).catalogue)
    log = tmp_path / "decisions.jsonl"
    config = ServeConfig(
        store=str(store), policies=str(policies), decision_log=str(log), reload_interval=0
    )
    app, state = build(config)
    with TestClient(app) as client:
        yield client, state, log


def test_an_unplannable_set_is_a_422_naming_why_and_the_search_answers_instead(
    unplannable: tuple[TestClient, State, Path],
) -> None:
    client, _, _ = unplannable
    r = client.post(PLAN, json=asked("asha", "view", "invoice"))
    assert r.status_code == 422
    message = r.json()["message"]
    assert "`like`" in message and SEARCH in message
    found = client.post(SEARCH, json=asked("asha", "view", "invoice")).json()["results"]
    assert found  # answered record by record
    metrics = client.get("/metrics").text
    assert "authz_plan_fallbacks_total 1.0" in metrics
    assert 'authz_plans_total{kind="unplannable"} 1.0' in metrics
    plans = client.get("/readyz").json()["plans"]
    assert plans["demo"]["on"] is False and "`like`" in plans["demo"]["reason"]


def test_readyz_says_whether_each_org_plans(
    served: tuple[TestClient, State, Path], unplannable: tuple[TestClient, State, Path]
) -> None:
    good = served[0].get("/readyz").json()["plans"]
    assert good == {"demo": {"on": True, "reason": good["demo"]["reason"]}}
    assert "planner follows" in good["demo"]["reason"]
    bad = unplannable[0].get("/readyz").json()["plans"]["demo"]
    assert bad["on"] is False and bad["reason"] == (
        "policy `no-secret-titles`: the operator `like` on the record"
    )


def test_each_plan_is_one_line_of_the_decision_log_and_counted(
    served: tuple[TestClient, State, Path],
) -> None:
    client, _, tmp = served
    r = client.post(PLAN, json=asked("asha", "edit", "invoice"), headers={"X-Request-ID": "p-1"})
    assert r.status_code == 200
    lines = [json.loads(x) for x in (tmp / "decisions.jsonl").read_text().splitlines()]
    (line,) = [x for x in lines if x["request_id"] == "p-1"]
    assert line["decision"] is None and line["plan"] == r.json()
    assert line["request"]["subject"]["id"] == "asha"
    assert 'authz_plans_total{kind="conditional"} 1.0' in client.get("/metrics").text


def test_a_planned_search_logs_each_result_as_its_decision(
    served: tuple[TestClient, State, Path],
) -> None:
    client, _, tmp = served
    body = asked("asha", "edit", "invoice")
    r = client.post(SEARCH, json=body, headers={"X-Request-ID": "s-9"})
    ids = [x["id"] for x in r.json()["results"]]
    assert ids
    lines = [json.loads(x) for x in (tmp / "decisions.jsonl").read_text().splitlines()]
    logged = [x for x in lines if x["request_id"] == "s-9"]
    assert [x["request"]["resource"]["id"] for x in logged] == ids
    assert all(x["decision"] is True and x["rules"] for x in logged)
    assert "authz_plan_fallbacks_total 0.0" in client.get("/metrics").text


class Through(httpx.BaseTransport):
    """The client's requests, answered by the app in this process."""

    def __init__(self, app: TestClient) -> None:
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        r = self.app.request(
            request.method, request.url.path, content=request.read(), headers=headers
        )
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)


def test_the_python_client_reads_the_sidecars_plans(
    client: TestClient, unplannable: tuple[TestClient, State, Path]
) -> None:
    """The client's strict reading (client/_wire.py) takes every answer this route gives."""
    from suite_authz.client import AuthzClient
    from suite_authz.client import Unplannable as ClientUnplannable

    with AuthzClient("http://testserver/demo", transport=Through(client)) as authz:
        plan = authz.plan_resources("asha", "edit", "invoice")
        assert plan == planned(client, asked("asha", "edit", "invoice"))
        assert authz.plan_resources("chen", "view", "item")["redact_fields"] == ["cost_price"]
        assert authz.plan_resources("nobody", "view", "invoice")["kind"] == "never"
    refused = AuthzClient("http://testserver/demo", transport=Through(unplannable[0]))
    with refused, pytest.raises(ClientUnplannable, match="like"):
        refused.plan_resources("asha", "view", "invoice")
