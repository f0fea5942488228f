"""Search, metadata, health, metrics, OpenAPI, tokens, hot reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from suite_authz.engine.core import Request
from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from suite_authz.server.state import State
from tests.api.conftest import evaluation
from tests.conftest import DEMO


def _all(client: TestClient, path: str, body: dict[str, object]) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    token = None
    while True:
        page = {"limit": 2, **({"token": token} if token else {})}
        out = client.post(path, json={**body, "page": page}).json()
        results += out["results"]
        token = out["page"]["next_token"]
        if not token:
            return results


@pytest.mark.parametrize(
    ("subject", "action", "kind"),
    [
        ("asha", "view", "estimate"),
        ("chen", "view", "invoice"),
        ("eli", "view", "dashboard"),
        ("olivia", "approve", "invoice"),
        ("ben", "view", "invoice"),
    ],
)
def test_resource_search_agrees_with_single_evaluations(
    served: tuple[TestClient, State, Path], subject: str, action: str, kind: str
) -> None:
    client, state, _ = served
    body = evaluation(subject, action, kind)
    found = {r["id"] for r in _all(client, "/access/v1/search/resource", body)}
    engine = state.engine_for(None)
    expected = {
        rid
        for rid in engine.index.records[kind]
        if engine.decide(Request(subject, action, kind, rid)).allowed
    }
    assert found == expected


def test_subject_and_action_search_agree_with_single_evaluations(
    served: tuple[TestClient, State, Path],
) -> None:
    client, state, _ = served
    engine = state.engine_for(None)
    who = {
        r["id"]
        for r in _all(client, "/access/v1/search/subject", evaluation("?", "view", "invoice:inv-1"))
    }
    assert who == {
        u.id
        for u in engine.org.users
        if engine.decide(Request(u.id, "view", "invoice", "inv-1")).allowed
    }
    body = evaluation("asha", "view", "estimate:est-1")
    del body["action"]
    names = {r["name"] for r in _all(client, "/access/v1/search/action", body)}
    assert names == {"view", "create", "edit"}


def test_changed_request_with_a_page_token_is_refused(client: TestClient) -> None:
    first = client.post(
        "/access/v1/search/resource",
        json={**evaluation("asha", "view", "estimate"), "page": {"limit": 1}},
    )
    token = first.json()["page"]["next_token"]
    r = client.post(
        "/access/v1/search/resource",
        json={**evaluation("asha", "edit", "estimate"), "page": {"token": token}},
    )
    assert r.status_code == 400 and "page.token" in r.json()["message"]


def test_pdp_metadata_lists_every_endpoint(client: TestClient) -> None:
    meta = client.get("/.well-known/authzen-configuration").json()
    assert meta["policy_decision_point"] == "http://testserver"
    for key in (
        "access_evaluation_endpoint",
        "access_evaluations_endpoint",
        "search_subject_endpoint",
        "search_resource_endpoint",
        "search_action_endpoint",
    ):
        assert meta[key].startswith("http://testserver/access/v1/")


def test_health_readiness_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["orgs"] == {"demo": 1}
    spec = client.get("/openapi.json").json()
    assert "/access/v1/evaluations" in spec["paths"]
    # a search can be turned away (authz serve --max-searches): the spec says so
    for kind in ("subject", "resource", "action"):
        for path in (f"/access/v1/search/{kind}", f"/{{org}}/access/v1/search/{kind}"):
            assert "503" in spec["paths"][path]["post"]["responses"], path


def test_metrics_count_each_decision_once_and_each_rule_that_shaped_it(
    client: TestClient,
) -> None:
    client.post("/access/v1/evaluation", json=evaluation("asha", "create", "estimate"))
    client.post("/access/v1/evaluation", json=evaluation("gil", "view", "subscription:sub-1"))
    client.post("/access/v1/evaluation", json=evaluation("chen", "view", "item:item-1"))
    text = client.get("/metrics").text
    assert 'authz_decisions_total{outcome="allow"} 2.0' in text
    assert 'authz_decisions_total{outcome="deny"} 1.0' in text
    rules = {
        line.split("}")[0] + "}": float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("authz_decision_rules_total{")
    }
    assert rules['authz_decision_rules_total{outcome="allow",rule="D4"}'] == 1.0
    assert rules['authz_decision_rules_total{outcome="deny",rule="D3"}'] == 1.0
    # Chen's allow names more than one rule: more rule counts than decisions, never more
    # decisions than were answered
    assert sum(v for k, v in rules.items() if 'outcome="allow"' in k) > 2
    assert "authz_decision_seconds_count 3.0" in text and "authz_policy_info{version=" in text
    assert "process_resident_memory_bytes" in text and "process_cpu_seconds_total" in text


def test_a_batch_is_timed_as_a_batch_and_its_decisions_counted_once_each(
    client: TestClient,
) -> None:
    batch = {
        "subject": {"type": "user", "id": "asha"},
        "evaluations": [
            {"action": {"name": a}, "resource": {"type": "estimate", "id": "est-1"}}
            for a in ("view", "edit", "delete", "approve")
        ],
        "context": {"org": "demo"},
    }
    assert client.post("/access/v1/evaluations", json=batch).status_code == 200
    text = client.get("/metrics").text
    answered = sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("authz_decisions_total{")
    )
    assert answered == 4.0
    assert 'authz_batch_seconds_count{kind="evaluations"} 1.0' in text
    assert 'authz_batch_decisions_sum{kind="evaluations"} 4.0' in text
    assert "authz_decision_seconds_count 0.0" in text  # no single evaluation was asked


def test_token_is_required_when_configured(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    app, _ = build(ServeConfig(store=str(store), token="s3cret", reload_interval=0))
    with TestClient(app) as client:
        body = evaluation("asha", "view", "estimate")
        r = client.post("/access/v1/evaluation", json=body)
        assert r.status_code == 401 and "Bearer" in r.json()["message"]
        r = client.post(
            "/access/v1/evaluation", json=body, headers={"Authorization": "Bearer s3cret"}
        )
        assert r.status_code == 200
        assert client.get("/healthz").status_code == 200


def test_broken_policy_edit_is_refused_and_decisions_stay(
    served: tuple[TestClient, State, Path],
) -> None:
    client, state, tmp = served
    before = client.post(
        "/access/v1/evaluation", json=evaluation("asha", "create", "invoice")
    ).json()
    target = tmp / "policies" / "integration_users.cedar"
    target.write_text(
        target.read_text() + "\npermit (principal, action, resource) when { oops };\n"
    )
    assert state.reload_if_changed() is False
    after = client.post(
        "/access/v1/evaluation", json=evaluation("asha", "create", "invoice")
    ).json()
    assert after == before
    assert "authz_reload_failures_total 1.0" in client.get("/metrics").text
    assert client.get("/readyz").json()["last_reload_error"]


def test_good_policy_edit_and_org_import_are_swapped_in(
    served: tuple[TestClient, State, Path],
) -> None:
    client, state, tmp = served
    history = Path(__file__).resolve().parents[2] / "policies/history/2025-05"
    (tmp / "policies" / "integration_users.cedar").write_text(
        (history / "integration_users.cedar").read_text()
    )
    assert state.reload_if_changed() is True
    d = client.post("/access/v1/evaluation", json=evaluation("asha", "create", "invoice")).json()
    assert d["decision"] is False  # the 2025-05 D4
    data = json.loads(DEMO.read_text())
    data["users"][1]["enrolments"] = [{"product": "books"}]
    state.store.import_snapshot(json.dumps(data), state.served.policies.catalogue)  # type: ignore[union-attr]
    assert state.reload_if_changed() is True
    d = client.post("/access/v1/evaluation", json=evaluation("ben", "create", "estimate")).json()
    assert d["decision"] is True
    assert client.get("/readyz").json()["orgs"] == {"demo": 2}


def test_the_decision_cache_answers_repeats_and_is_counted_across_reloads(
    served: tuple[TestClient, State, Path],
) -> None:
    client, state, _ = served
    ask = evaluation("asha", "create", "estimate")
    first = client.post("/access/v1/evaluation", json=ask).json()
    assert client.post("/access/v1/evaluation", json=ask).json() == first

    def counter(name: str) -> int:
        text = client.get("/metrics").text
        line = next(line for line in text.splitlines() if line.startswith(name))
        return int(float(line.split()[1]))

    assert counter("authz_decision_cache_hits_total") == 1
    assert counter("authz_decision_cache_misses_total") == 1
    assert counter("authz_decision_cache_entries") == 1
    state.load()  # a reload starts new caches, and the counters go on
    assert counter("authz_decision_cache_entries") == 0
    client.post("/access/v1/evaluation", json=ask)
    assert counter("authz_decision_cache_misses_total") == 2
    assert counter("authz_decision_cache_hits_total") == 1
