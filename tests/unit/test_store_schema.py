"""The store's schema: created at the current version, a first-release store upgraded in place
with nothing lost, a newer one refused untouched; `authz store check` finds what is wrong."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.store import OrgStore, StoreSchemaError, policy_versions
from suite_authz.engine.store.schema import STORE_SCHEMA
from tests.cli.runner import run
from tests.conftest import DATA, DEMO

# A store written by the first release (54a0327): the demo and legacy orgs, a published
# policy set, a migration applied to legacy. Kept as it was: never rewrite it.
FIRST_RELEASE = DATA / "store-v1.sqlite3"


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    path = tmp_path / "old.sqlite3"
    shutil.copyfile(FIRST_RELEASE, path)
    return path


def test_a_first_release_store_is_refused_until_upgraded_saying_how(old_store: Path) -> None:
    with pytest.raises(StoreSchemaError, match="schema is version 1, this authz reads version"):
        OrgStore(old_store)
    code, _, err = run("org", "list", "--store", str(old_store))
    assert code == 2 and f"run `authz store upgrade --store {old_store}`" in err


def test_upgrade_in_place_keeps_everything_stored(old_store: Path, policies: PolicySet) -> None:
    before = OrgStore(old_store, schema_check=False)
    texts = {i: before.export(i) for i in before.ids()}
    audit = {i: before.audit(i) for i in before.ids()}
    secret = before.secret("plan-key")
    active = before.read("SELECT version FROM policy_activations")
    before.close()

    code, out, _ = run("store", "upgrade", "--store", str(old_store))
    assert code == 0 and f"schema version 1 -> {STORE_SCHEMA}" in out
    store = OrgStore(old_store)
    assert store.schema_version() == STORE_SCHEMA
    assert {i: store.export(i) for i in store.ids()} == texts
    assert {i: store.audit(i) for i in store.ids()} == audit
    assert store.secret("plan-key") == secret
    assert [v.version for v in policy_versions(store)] == [active[0][0]]
    assert store.versions() == {"demo": 1, "legacy": 2}
    data = json.loads(texts["demo"])
    data["name"] = "after the upgrade"
    assert store.import_snapshot(json.dumps(data), policies.catalogue).version == 2
    code, out, _ = run("store", "upgrade", "--store", str(old_store))
    assert code == 0 and "nothing to do" in out
    assert run("store", "check", "--store", str(old_store))[0] == 0


def test_a_store_newer_than_this_release_is_refused_and_not_touched(
    store_at: Path | str,
) -> None:
    store = OrgStore(store_at)
    with store.transaction() as tx:
        tx.execute(
            "INSERT INTO store_schema (version, applied_at, what) VALUES (?, ?, ?)",
            (STORE_SCHEMA + 1, "2027-01-01T00:00:00+00:00", "from a later release"),
        )
    store.close()
    with pytest.raises(
        StoreSchemaError, match=f"version {STORE_SCHEMA + 1}, newer than this authz"
    ):
        OrgStore(store_at)
    code, _, err = run("serve", "--store", str(store_at), "--port", "0")
    assert code == 2 and "newer than this authz reads" in err  # a sidecar refuses to serve it
    code, _, err = run("store", "upgrade", "--store", str(store_at))
    assert code == 2 and "nothing was changed" in err
    assert OrgStore(store_at, schema_check=False).schema_version() == STORE_SCHEMA + 1
    code, out, _ = run("store", "check", "--store", str(store_at))
    assert code == 1 and "run a newer authz" in out


def test_a_new_store_is_made_at_the_current_version_once_however_many_open_it(
    store_at: Path | str,
) -> None:
    """Sidecars of a new fleet start together on an empty database: one creates the tables,
    the others find them (the writer lock), none fails."""
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            OrgStore(store_at).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = OrgStore(store_at)
    assert store.schema_version() == STORE_SCHEMA
    rows = store.read("SELECT version FROM store_schema ORDER BY version")
    assert [r[0] for r in rows] == list(range(1, STORE_SCHEMA + 1))


def test_check_finds_an_edited_org_and_an_edited_policy_version(
    store_at: Path | str, policies: PolicySet
) -> None:
    where = str(store_at)
    assert run("org", "import", str(DEMO), "--store", where)[0] == 0
    assert run("policy", "publish", "--store", where, "--as", "test")[0] == 0
    code, out, _ = run("store", "check", "--store", where, "--format", "json")
    assert code == 0 and json.loads(out)["ok"] is True
    store = OrgStore(store_at)
    with store.transaction() as tx:  # edited behind the store's back
        tx.execute("UPDATE orgs SET snapshot = snapshot || ' ' WHERE id = ?", ("demo",))
        tx.execute("UPDATE policy_sets SET source = replace(source, 'D4', 'D5')")
    code, out, _ = run("store", "check", "--store", where, "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    problems = "\n".join(report["problems"])
    assert "org `demo` version 1: its text does not match its sha256" in problems
    assert "its stored texts do not match its hash" in problems


def test_an_unreachable_postgres_store_is_a_clear_error() -> None:
    code, _, err = run(
        "org", "list", "--store", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"
    )
    assert code == 2 and "127.0.0.1:1/none" in err and "cannot open the org store" in err
    code, _, err = run("org", "list", "--store", "mysql://localhost/db")
    assert code == 2 and "not a store: give a SQLite file's path or a postgresql:// URL" in err
