"""authz policy publish | list | show | activate, and a server that follows the store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from tests.api.conftest import evaluation
from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES

HISTORY = POLICIES / "history" / "2025-05"


@pytest.fixture
def store(store_at: Path | str) -> str:
    """A store with the demo org, once on SQLite and once on PostgreSQL."""
    path = str(store_at)
    assert run("org", "import", str(DEMO), "--store", path)[0] == 0
    return path


def _versions(store: str) -> list[dict[str, object]]:
    code, out, _ = run("policy", "list", "--store", store, "--format", "json")
    assert code == 0
    return list(json.loads(out))


def test_publish_stores_an_active_version_and_says_which(store: str) -> None:
    code, out, _ = run("policy", "publish", str(POLICIES), "--store", store, "--as", "olivia")
    assert code == 0 and "(active)" in out
    [only] = _versions(store)
    assert only["active"] is True and only["published_by"] == "olivia"
    assert str(only["version"]) in out
    again = run("policy", "publish", str(POLICIES), "--store", store, "--as", "ben")
    assert again[0] == 0 and len(_versions(store)) == 1  # the same set is one version
    # nothing new was stored: it says so, and whose it is (not ben's)
    assert "is already stored" in again[1] and "by olivia" in again[1], again[1]
    asked = ["policy", "publish", str(POLICIES), "--store", store, "--as", "ben", "--json"]
    code, out, _ = run(*asked)
    said = json.loads(out)
    assert code == 0 and said["already_stored"] is True and said["published_by"] == "olivia"
    assert said["state"] == "active"


def test_a_set_that_fails_validation_never_becomes_visible(store: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(POLICIES, broken, ignore=shutil.ignore_patterns("history", "legacy"))
    (broken / "fields.cedar").write_text("")
    code, _, err = run("policy", "publish", str(broken), "--store", store)
    assert code == 2 and "fields.cedar:1: holds no policy" in err
    (broken / "fields.cedar").write_text((POLICIES / "fields.cedar").read_text())
    (broken / "profile.cedar").write_text("permit (principal, action, resource);\n")
    code, _, err = run("policy", "publish", str(broken), "--store", store)
    assert code == 2 and "has no @id" in err
    assert _versions(store) == []


def test_a_set_under_which_a_stored_org_would_not_load_is_refused(
    store: str, tmp_path: Path
) -> None:
    narrowed = tmp_path / "narrowed"
    shutil.copytree(POLICIES, narrowed, ignore=shutil.ignore_patterns("history", "legacy"))
    catalogue = json.loads((narrowed / "modules.json").read_text())
    del catalogue["modules"]["dashboard"]
    (narrowed / "modules.json").write_text(json.dumps(catalogue))
    code, _, err = run("policy", "publish", str(narrowed), "--store", store)
    assert code == 2 and "stored org `demo` does not load" in err
    assert _versions(store) == []


def test_activate_rolls_back_and_show_prints_a_stored_file(store: str) -> None:
    run("policy", "publish", str(POLICIES), "--store", store)
    run("policy", "publish", str(HISTORY), "--store", store)
    newest, oldest = _versions(store)
    assert newest["active"] is True and oldest["active"] is False
    code, out, _ = run("policy", "activate", str(oldest["version"])[:6], "--store", store)
    assert code == 0 and str(oldest["version"]) in out
    assert [v["active"] for v in _versions(store)] == [False, True]
    code, out, _ = run(
        "policy", "show", str(newest["version"]), "--store", store, "--file", "fields.cedar"
    )
    assert code == 0 and out == (HISTORY / "fields.cedar").read_text()
    assert run("policy", "activate", "ffff", "--store", store)[0] == 2
    assert "4 hex digits" in run("policy", "show", "zz", "--store", store)[2]


def test_the_legacy_set_is_never_published(store: str) -> None:
    code, _, err = run("policy", "publish", str(POLICIES / "legacy"), "--store", store)
    assert code == 2 and "never served" in err


def test_a_server_follows_publish_and_rollback_and_ignores_the_files(
    store: str, tmp_path: Path
) -> None:
    app, state = build(ServeConfig(store=store, reload_interval=0))
    ask = evaluation("asha", "create", "invoice")  # allowed by D4 since 2025-10 only
    with TestClient(app) as client:
        assert client.post("/access/v1/evaluation", json=ask).json()["decision"] is True
        run("policy", "publish", str(HISTORY), "--store", store)
        assert state.reload_if_changed() is True
        assert client.post("/access/v1/evaluation", json=ask).json()["decision"] is False
        assert client.get("/readyz").json()["policy_source"] == "store"
        run("policy", "publish", str(POLICIES), "--store", store)
        assert state.reload_if_changed() is True
        assert client.post("/access/v1/evaluation", json=ask).json()["decision"] is True
        oldest = _versions(store)[-1]
        run("policy", "activate", str(oldest["version"]), "--store", store)
        assert state.reload_if_changed() is True
        assert client.post("/access/v1/evaluation", json=ask).json()["decision"] is False


def test_a_stored_version_edited_behind_the_store_s_back_is_refused(store: str) -> None:
    run("policy", "publish", str(POLICIES), "--store", store)
    [version] = _versions(store)
    db = OrgStore(store)
    with db.transaction() as conn:
        conn.execute("UPDATE policy_sets SET source = replace(source, 'forbid', 'permit')")
    code, _, err = run("policy", "show", str(version["version"]), "--store", store)
    assert code == 2 and "do not match its hash" in err


def test_an_org_import_is_checked_against_the_published_catalogue(tmp_path: Path) -> None:
    """A server over the store must never meet an org that does not load under its set."""
    narrowed = tmp_path / "narrowed"
    shutil.copytree(POLICIES, narrowed, ignore=shutil.ignore_patterns("history", "legacy"))
    catalogue = json.loads((narrowed / "modules.json").read_text())
    del catalogue["modules"]["dashboard"]
    (narrowed / "modules.json").write_text(json.dumps(catalogue))
    store = str(tmp_path / "orgs.sqlite3")
    assert run("policy", "publish", str(narrowed), "--store", store)[0] == 0
    code, _, err = run("org", "import", str(DEMO), "--store", store)
    assert code == 2 and "dashboard" in err
    assert run("org", "list", "--store", store)[1].strip().endswith("no orgs")


def test_migrate_decides_with_the_published_set(tmp_path: Path) -> None:
    """A plan made from the CLI and one made by the sidecar use the same policy set."""
    relabelled = tmp_path / "relabelled"
    shutil.copytree(POLICIES, relabelled, ignore=shutil.ignore_patterns("history", "legacy"))
    catalogue = json.loads((relabelled / "modules.json").read_text())
    catalogue["products"]["books"]["label"] = "Books (as published)"
    (relabelled / "modules.json").write_text(json.dumps(catalogue))
    store = str(tmp_path / "orgs.sqlite3")
    run("org", "import", str(POLICIES / "examples" / "legacy-org.json"), "--store", store)
    assert run("policy", "publish", str(relabelled), "--store", store)[0] == 0
    code, out, _ = run(
        "migrate", "plan", "--org", "legacy", "--store", store, "--as-of", "2026-11-25",
        "--usage", str(POLICIES / "examples" / "legacy-usage.csv"),
    )  # fmt: skip
    assert code == 0 and "Books (as published)" in out


def test_policy_path_names_the_shipped_set_and_what_ships_beside_it() -> None:
    code, out, _ = run("policy", "path")
    assert code == 0 and Path(out.strip()) == POLICIES.resolve()
    assert (Path(out.strip()) / "schema.cedarschema").is_file()
    code, out, _ = run("policy", "path", "examples")
    assert (Path(out.strip()) / "demo-org.json").is_file()
    code, out, _ = run("policy", "path", "--json")
    parts = json.loads(out)
    assert set(parts) == {"set", "examples", "tests", "legacy", "history"}
    assert all(Path(p).is_dir() for p in parts.values())
    code, _, err = run("policy", "path", "exampels")
    assert code == 2 and "'exampels' is not one of" in err


def test_version_says_where_the_shipped_policies_are() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert out.splitlines()[0].startswith("authz (suite-authz) ")
    assert f"shipped policies: {POLICIES.resolve()}\n" in out
