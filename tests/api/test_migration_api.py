"""The sidecar's migration routes: plan (with impact), apply, history; token only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from suite_authz.engine.core.catalogue import ADMIN_ACTIONS
from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store import StoreUnreachable
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from suite_authz.server.state import State
from tests.api.conftest import evaluation
from tests.conftest import DEMO
from tests.migration_support import LEGACY, USAGE

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def usage_rows() -> list[dict[str, Any]]:
    lines = USAGE.read_text().splitlines()
    head = lines[0].split(",")
    return [
        {k: (int(v) if k == "events" else v) for k, v in zip(head, line.split(","), strict=True)}
        for line in lines[1:]
    ]


def _serve(tmp_path: Path, token: str | None) -> Iterator[tuple[TestClient, State, Path]]:
    store = tmp_path / "orgs.sqlite3"
    catalogue = load_policies().catalogue
    OrgStore(store).import_snapshot(DEMO.read_text(), catalogue)
    OrgStore(store).import_snapshot(LEGACY.read_text(), catalogue)
    log = tmp_path / "decisions.jsonl"
    app, state = build(
        ServeConfig(store=str(store), token=token, decision_log=str(log), reload_interval=0)
    )
    with TestClient(app) as client:
        yield client, state, log


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, State, Path]]:
    yield from _serve(tmp_path, TOKEN)


def plan_body(**extra: Any) -> dict[str, Any]:
    return {"org": "legacy", "usage": usage_rows(), "as_of": "2026-11-25", **extra}


def test_plan_with_impact_matches_the_cli_s(served: tuple[TestClient, State, Path]) -> None:
    client, _, _ = served
    r = client.post("/migration/v1/plan", json=plan_body(impact=True), headers=AUTH)
    assert r.status_code == 200, r.text
    plan = r.json()
    assert [e["user"] for e in plan["enrolments"]] == ["sam", "sara", "sara"]
    assert plan["impact"]["borrowed_from"] == "olga"
    assert plan["usage"] == "inline"


def test_apply_then_the_served_org_changes_and_history_shows_it(
    served: tuple[TestClient, State, Path],
) -> None:
    client, state, log = served
    plan = client.post("/migration/v1/plan", json=plan_body(), headers=AUTH).json()
    ask = evaluation("sam", "create", "estimate", org="legacy")
    assert client.post("/access/v1/evaluation", json=ask, headers=AUTH).json()["decision"] is False

    r = client.post("/migration/v1/apply", json={"plan": plan, "as": "olga"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["applied"] is True and r.json()["version"] == 2
    again = client.post("/migration/v1/apply", json={"plan": plan, "as": "olga"}, headers=AUTH)
    assert again.status_code == 200 and again.json()["applied"] is False

    assert state.reload_if_changed()  # what the watcher does every second
    assert client.post("/access/v1/evaluation", json=ask, headers=AUTH).json()["decision"] is True

    entries = client.get("/migration/v1/history?org=legacy", headers=AUTH).json()["entries"]
    assert [(e["action"], e["actor"]) for e in entries] == [("migration.apply", "olga")]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    d12 = [line for line in lines if line["request"]["action"]["name"] in ADMIN_ACTIONS]
    # One line per engine decision of the first apply; the second decided nothing.
    assert [line["request"]["action"]["name"] for line in d12] == ["run_migration"] + [
        "enrol_integration_user"
    ] * 3
    assert all(line["decision"] is True and line["rules"] == ["D12"] for line in d12)
    # R1: three enrolments of two users, who become two more integration users.
    assert d12[0]["request"]["context"] == {"channel": "crm", "enrolments": 2}
    assert d12[1]["request"]["subject"] == {"type": "user", "id": "olga"}


def test_an_apply_while_the_store_does_not_answer_is_503_and_changes_nothing(
    served: tuple[TestClient, State, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, state, _ = served
    plan = client.post("/migration/v1/plan", json=plan_body(), headers=AUTH).json()

    def gone() -> object:
        raise StoreUnreachable(f"{state.store.where}: cannot reach the store: connection refused")

    monkeypatch.setattr(state.store, "transaction", gone)
    r = client.post("/migration/v1/apply", json={"plan": plan, "as": "olga"}, headers=AUTH)
    assert r.status_code == 503 and "cannot reach the store" in r.json()["message"]
    assert r.headers["retry-after"] == "5"
    monkeypatch.undo()
    assert state.store.version("legacy") == 1
    r = client.post("/migration/v1/apply", json={"plan": plan, "as": "olga"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["applied"] is True


def test_a_non_admin_is_403_and_a_stale_plan_409(served: tuple[TestClient, State, Path]) -> None:
    client, state, log = served
    plan = client.post("/migration/v1/plan", json=plan_body(), headers=AUTH).json()
    r = client.post("/migration/v1/apply", json={"plan": plan, "as": "sam"}, headers=AUTH)
    assert r.status_code == 403 and "only a CRM admin" in r.json()["message"]
    refused = [json.loads(line) for line in log.read_text().splitlines()]
    assert refused and all(line["decision"] is False for line in refused)
    data = json.loads(LEGACY.read_text())
    data["name"] = "changed"
    state.store.import_snapshot(json.dumps(data), load_policies().catalogue)
    r = client.post("/migration/v1/apply", json={"plan": plan, "as": "olga"}, headers=AUTH)
    assert r.status_code == 409 and "stale" in r.json()["message"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/migration/v1/plan", {}, "org: must be a str"),
        ("/migration/v1/plan", {"org": "legacy", "as_of": "soon"}, "as_of: `soon` is not a date"),
        ("/migration/v1/plan", {"org": "legacy", "usage": "x"}, "usage: must be a list"),
        ("/migration/v1/plan", {"org": "legacy", "usage": [{"user": "zed"}]}, "row 1.user"),
        ("/migration/v1/plan", {"org": "nope"}, "no org `nope`"),
        ("/migration/v1/plan", {"org": "demo", "impact": 1}, "impact: must be a bool"),
        ("/migration/v1/apply", {"plan": {}, "as": "olga"}, "not a migration plan"),
        ("/migration/v1/apply", {"plan": [], "as": "olga"}, "plan: must be a dict"),
        ("/migration/v1/apply", {"plan": {}}, "as: must be a str"),
    ],
)
def test_bad_migration_requests_are_400_naming_the_field(
    served: tuple[TestClient, State, Path], path: str, body: dict[str, Any], message: str
) -> None:
    client, _, _ = served
    r = client.post(path, json=body, headers=AUTH)
    assert r.status_code == 400 and message in r.json()["message"], r.text


def test_history_needs_an_org(served: tuple[TestClient, State, Path]) -> None:
    client, _, _ = served
    r = client.get("/migration/v1/history", headers=AUTH)
    assert r.status_code == 400 and "`org` is required" in r.json()["message"]


def test_migration_routes_need_the_token(served: tuple[TestClient, State, Path]) -> None:
    client, _, _ = served
    assert client.post("/migration/v1/plan", json=plan_body()).status_code == 401


def test_without_a_token_file_the_migration_routes_are_off(tmp_path: Path) -> None:
    for client, _, _ in _serve(tmp_path, None):
        r = client.post("/migration/v1/plan", json=plan_body())
        assert r.status_code == 403 and "--token-file" in r.json()["message"]


def test_openapi_documents_the_migration_routes(served: tuple[TestClient, State, Path]) -> None:
    client, _, _ = served
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/migration/v1/plan", "/migration/v1/apply", "/migration/v1/history"} <= set(paths)
