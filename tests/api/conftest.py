from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from suite_authz.server.state import State
from tests.conftest import DEMO, POLICIES


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, State, Path]]:
    """A server over a store holding the demo org and a copy of the policies it may edit."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies, ignore=shutil.ignore_patterns("history"))
    store = tmp_path / "orgs.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies(policies).catalogue)
    log = tmp_path / "decisions.jsonl"
    app, state = build(
        ServeConfig(
            store=str(store), policies=str(policies), decision_log=str(log), reload_interval=0
        )
    )
    with TestClient(app) as client:
        yield client, state, tmp_path


def _serve(tmp_path: Path, *orgs: Path, **config: Any) -> Iterator[TestClient]:
    store = tmp_path / "orgs.sqlite3"
    catalogue = load_policies(POLICIES).catalogue
    for org in orgs:
        OrgStore(store).import_snapshot(org.read_text(), catalogue)
    app, _ = build(ServeConfig(store=str(store), reload_interval=0, **config))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def public(tmp_path: Path) -> Iterator[TestClient]:
    """The demo org behind its public identifier, https://pdp.example.com."""
    yield from _serve(tmp_path, DEMO, public_url="https://pdp.example.com")


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[TestClient]:
    """The demo org behind a bearer token."""
    yield from _serve(tmp_path, DEMO, token="s3cret-token-of-32-characters-xx")


@pytest.fixture
def two_orgs(tmp_path: Path) -> Iterator[TestClient]:
    """The demo and legacy orgs, each under its own base path."""
    legacy = POLICIES / "examples" / "legacy-org.json"
    yield from _serve(tmp_path, DEMO, legacy, public_url="https://pdp.example.com")


@pytest.fixture
def client(served: tuple[TestClient, State, Path]) -> TestClient:
    return served[0]


def evaluation(subject: str, action: str, resource: str, **context: object) -> dict[str, object]:
    kind, _, rid = resource.partition(":")
    body: dict[str, object] = {
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        # "#new": a record not created yet (docs/api.md: the one extension of AuthZEN)
        "resource": {"type": kind, "id": rid or "#new"},
    }
    if context:
        body["context"] = context
    return body
