"""Rows a server refuses to serve from a shared store.

Without keys: an org row whose text does not match its stored sha256 (edited behind the
store's back, version bumped, hash left stale) is not served. With `--verify-key`: a policy
version or org snapshot whose signature is missing or does not verify is refused; the last
good policy set keeps answering, an org is not served (503) rather than answered from an older
snapshot, and both are counted and named on /readyz. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from suite_authz.engine.core import AuthzError
from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.engine.store.schema import MIGRATIONS, STORE_SCHEMA, VERSION_TABLE
from suite_authz.server.main import ServeConfig, build
from suite_authz.server.state import State
from tests.api.conftest import evaluation
from tests.api.processes import serving
from tests.api.test_reload import NO_BOOKS_INTEGRATION_CREATE
from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES

LEGACY_ORG = POLICIES / "examples" / "legacy-org.json"
OLD_STORE = Path(__file__).parent.parent / "data" / "store-v1.sqlite3"

BEN_DELETES_INV_1 = evaluation("ben", "delete", "invoice:inv-1", channel="crm")


def _tampered(text: str) -> str:
    """The demo org with ben made a Books admin: what a store writer without keys could do."""
    data = json.loads(text)
    for user in data["users"]:
        if user["id"] == "ben":
            user["profile"] = "administrator"
            user["memberships"] = [{"product": "books", "role": "books-admin"}]
    return json.dumps(data, indent=2)


def tamper_row(store: OrgStore, org_id: str) -> None:
    """Edit the org's snapshot in place and bump its version, leaving its sha256 stale."""
    version, text = store.snapshot(org_id)
    with store.transaction() as tx:
        tx.execute(
            "UPDATE orgs SET snapshot = ?, version = ? WHERE id = ?",
            (_tampered(text), version + 1, org_id),
        )


def decision(client: TestClient, body: dict[str, Any]) -> tuple[int, Any]:
    answer = client.post("/access/v1/evaluation", json=body)
    return answer.status_code, answer.json()


@pytest.fixture
def served(store_at: Path | str) -> Iterator[tuple[TestClient, State, OrgStore]]:
    store = OrgStore(store_at)
    store.import_snapshot(DEMO.read_text(), load_policies(POLICIES).catalogue)
    app, state = build(ServeConfig(store=str(store_at), reload_interval=0))
    try:
        with TestClient(app) as client:
            yield client, state, store
    finally:
        store.close()


def test_the_tampered_demo_row_would_allow_ben_to_delete(
    served: tuple[TestClient, State, OrgStore],
) -> None:
    """The test below means something: the tampered text, validly stored, is an allow."""
    client, state, store = served
    assert decision(client, BEN_DELETES_INV_1)[1]["decision"] is False
    text = store.export("demo")
    store.import_snapshot(_tampered(text), load_policies(POLICIES).catalogue)
    state.reload_if_changed()
    status, body = decision(client, BEN_DELETES_INV_1)
    assert (status, body["decision"]) == (200, True)


def test_an_org_row_whose_text_does_not_match_its_hash_is_not_served(
    served: tuple[TestClient, State, OrgStore],
) -> None:
    client, state, store = served
    tamper_row(store, "demo")
    state.reload_if_changed()
    status, body = decision(client, BEN_DELETES_INV_1)
    assert body.get("decision") is not True
    assert status == 503
    ready = client.get("/readyz").json()
    assert "does not match its sha256" in ready["refused"]["org:demo"]
    assert ready["orgs"] == {}


# -- with keys ------------------------------------------------------------------------------

ELI_CREATES_ESTIMATE = evaluation("eli", "create", "estimate", channel="crm")


@dataclass(frozen=True)
class Keys:
    signing: Path
    verify: Path


def make_keys(where: Path) -> Keys:
    code, _, err = run("keys", "generate", "--out", str(where))
    assert code == 0, err
    return Keys(where / "signing-key.pem", where / "verify-key.pem")


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return make_keys(tmp_path / "keys")


def publish(store_at: Path | str, directory: Path, key: Path | None) -> tuple[int, str, str]:
    signing = ["--signing-key", str(key)] if key is not None else []
    return run("policy", "publish", str(directory), "--store", str(store_at), *signing)


def import_org(store_at: Path | str, file: Path, key: Path | None) -> tuple[int, str, str]:
    signing = ["--signing-key", str(key)] if key is not None else []
    return run("org", "import", str(file), "--store", str(store_at), *signing)


@contextmanager
def verifying(store_at: Path | str, *verify: Path) -> Iterator[tuple[TestClient, State]]:
    config = ServeConfig(
        store=str(store_at), reload_interval=0, verify_keys=tuple(str(p) for p in verify)
    )
    app, state = build(config)
    try:
        with TestClient(app) as client:
            yield client, state
    finally:
        state.store.close()


def refused_rows(client: TestClient, kind: str) -> float:
    text = client.get("/metrics").text
    line = f'authz_rows_refused_total{{kind="{kind}"}} '
    found = [float(x.split()[-1]) for x in text.splitlines() if x.startswith(line)]
    return found[0] if found else 0.0


@pytest.fixture
def signed_store(store_at: Path | str, keys: Keys) -> Path | str:
    """A store holding the shipped set and the demo org, both signed."""
    assert publish(store_at, POLICIES, keys.signing)[0] == 0
    assert import_org(store_at, DEMO, keys.signing)[0] == 0
    return store_at


def test_keys_generate_makes_a_private_key_0600_and_never_overwrites(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "k")
    assert stat.S_IMODE(os.stat(keys.signing).st_mode) == 0o600
    assert keys.verify.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    before = keys.signing.read_bytes()
    code, _, err = run("keys", "generate", "--out", str(tmp_path / "k"))
    assert code == 2 and "exists already: nothing was written" in err
    assert keys.signing.read_bytes() == before


def test_a_signing_key_readable_by_others_is_refused_and_nothing_is_stored(
    store_at: Path | str, keys: Keys
) -> None:
    keys.signing.chmod(0o640)
    code, _, err = import_org(store_at, DEMO, keys.signing)
    assert code == 2 and "signing key is readable by its group" in err
    code, _, err = import_org(store_at, DEMO, keys.verify)  # the public key in its place
    assert code == 2
    assert OrgStore(store_at).ids() == []


def test_a_key_made_by_openssl_signs_and_verifies(store_at: Path | str, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl here")
    private, public = tmp_path / "ed.pem", tmp_path / "ed.pub.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(private)], check=True
    )
    subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True
    )
    private.chmod(0o600)
    assert publish(store_at, POLICIES, private)[0] == 0
    assert import_org(store_at, DEMO, private)[0] == 0
    with verifying(store_at, public) as (client, _):
        assert decision(client, ELI_CREATES_ESTIMATE)[1]["decision"] is True


def test_a_signed_store_is_served_and_readyz_says_signatures_are_verified(
    signed_store: Path | str, keys: Keys
) -> None:
    with verifying(signed_store, keys.verify) as (client, _):
        assert decision(client, ELI_CREATES_ESTIMATE)[1]["decision"] is True
        ready = client.get("/readyz").json()
        assert ready["store"]["signatures"]["verified"] is True
        assert ready["refused"] == {} and ready["orgs"] == {"demo": 1}


def test_an_unsigned_store_is_not_served_under_a_verify_key(
    store_at: Path | str, keys: Keys
) -> None:
    assert publish(store_at, POLICIES, None)[0] == 0
    assert import_org(store_at, DEMO, keys.signing)[0] == 0
    with pytest.raises(AuthzError, match=r"policy version [0-9a-f]+: not signed"):
        build(ServeConfig(store=str(store_at), reload_interval=0, verify_keys=(str(keys.verify),)))


def test_an_unsigned_org_version_is_refused_counted_and_named(
    signed_store: Path | str, keys: Keys, tmp_path: Path
) -> None:
    """The org is then not served (503) rather than answered from the older snapshot: an
    unsigned version may be a revocation imported without the key."""
    with verifying(signed_store, keys.verify) as (client, state):
        assert refused_rows(client, "org") == 0
        store = OrgStore(signed_store)
        store.import_snapshot(_tampered(store.export("demo")), None)
        store.close()
        state.reload_if_changed()
        status, body = decision(client, BEN_DELETES_INV_1)
        assert status == 503 and body.get("decision") is not True
        ready = client.get("/readyz").json()
        assert "org `demo` version 2: not signed" in ready["refused"]["org:demo"]
        assert refused_rows(client, "org") == 1
        state.reload_if_changed()  # the same refused row is counted once
        assert refused_rows(client, "org") == 1
        # the same text, imported with the key: a new version, signed, served
        (tmp_path / "again.json").write_text(_tampered(DEMO.read_text()))
        code, out, err = import_org(signed_store, tmp_path / "again.json", keys.signing)
        assert code == 0 and "version 3" in out and "signed" in out, err
        state.reload_if_changed()
        assert decision(client, BEN_DELETES_INV_1)[1]["decision"] is True
        assert client.get("/readyz").json()["refused"] == {}


def _edit_row(store_at: Path | str, sql: str, params: tuple[object, ...]) -> None:
    store = OrgStore(store_at)
    with store.transaction() as tx:
        tx.execute(sql, params)
    store.close()


def test_a_signed_row_edited_with_its_hash_made_right_is_refused(
    signed_store: Path | str, keys: Keys
) -> None:
    """A writer who knows the hash but not the key: text, sha256 and version all made to
    agree, the signature left as it was."""
    with verifying(signed_store, keys.verify) as (client, state):
        store = OrgStore(signed_store)
        text = _tampered(store.export("demo"))
        digest = hashlib.sha256(text.encode()).hexdigest()
        store.close()
        _edit_row(
            signed_store,
            "UPDATE orgs SET snapshot = ?, sha256 = ?, version = version + 1 WHERE id = ?",
            (text, digest, "demo"),
        )
        state.reload_if_changed()
        status, _ = decision(client, BEN_DELETES_INV_1)
        ready = client.get("/readyz").json()
        assert status == 503
        assert "its signature does not verify" in ready["refused"]["org:demo"]


def test_a_signature_is_not_moved_to_another_version_or_org(
    signed_store: Path | str, keys: Keys
) -> None:
    assert import_org(signed_store, LEGACY_ORG, keys.signing)[0] == 0
    with verifying(signed_store, keys.verify) as (client, state):
        assert client.get("/readyz").json()["orgs"] == {"demo": 1, "legacy": 1}
        # the same signed row, its version bumped: a signature names its version
        _edit_row(signed_store, "UPDATE orgs SET version = version + 1 WHERE id = ?", ("demo",))
        # legacy's row given demo's signature
        _edit_row(
            signed_store,
            "UPDATE orgs SET signature = (SELECT signature FROM orgs WHERE id = ?), "
            "version = version + 1 WHERE id = ?",
            ("demo", "legacy"),
        )
        state.reload_if_changed()
        refused = client.get("/readyz").json()["refused"]
        assert "org `demo` version 2: its signature does not verify" in refused["org:demo"]
        assert "org `legacy` version 2: its signature does not verify" in refused["org:legacy"]


def test_a_row_signed_by_another_key_is_refused_naming_the_key(
    signed_store: Path | str, tmp_path: Path
) -> None:
    other = make_keys(tmp_path / "other")
    with pytest.raises(AuthzError, match=r"signed by key `[0-9a-f]{16}`, not one of the verify"):
        build(
            ServeConfig(
                store=str(signed_store), reload_interval=0, verify_keys=(str(other.verify),)
            )
        )


def test_two_verify_keys_serve_what_either_signed_while_keys_rotate(
    signed_store: Path | str, keys: Keys, tmp_path: Path
) -> None:
    new = make_keys(tmp_path / "new")
    (tmp_path / "demo.json").write_text(_tampered(DEMO.read_text()))
    assert import_org(signed_store, tmp_path / "demo.json", new.signing)[0] == 0
    with verifying(signed_store, keys.verify, new.verify) as (client, _):
        assert decision(client, BEN_DELETES_INV_1)[1]["decision"] is True


def test_an_unsigned_policy_version_is_refused_and_the_last_good_set_serves(
    signed_store: Path | str, keys: Keys, tmp_path: Path
) -> None:
    edited = tmp_path / "policies"
    shutil.copytree(POLICIES, edited, ignore=shutil.ignore_patterns("history"))
    (edited / "extra.cedar").write_text(NO_BOOKS_INTEGRATION_CREATE)
    with verifying(signed_store, keys.verify) as (client, state):
        before = client.get("/readyz").json()["policy_version"]
        assert publish(signed_store, edited, None)[0] == 0
        state.reload_if_changed()
        assert decision(client, ELI_CREATES_ESTIMATE)[1]["decision"] is True  # the last good
        ready = client.get("/readyz").json()
        assert ready["policy_version"] == before
        assert ": not signed (servers verify signatures)" in ready["refused"]["policy"]
        assert refused_rows(client, "policy") == 1
        # the same version published again with the key: signed now, and served
        code, out, err = publish(signed_store, edited, keys.signing)
        assert code == 0 and "already stored" in out, err
        state.reload_if_changed()
        assert decision(client, ELI_CREATES_ESTIMATE)[1]["decision"] is False
        ready = client.get("/readyz").json()
        assert ready["policy_version"] != before and "policy" not in ready["refused"]


def test_an_unsigned_publication_never_takes_a_signature_away(
    signed_store: Path | str, keys: Keys
) -> None:
    assert publish(signed_store, POLICIES, None)[0] == 0
    with verifying(signed_store, keys.verify) as (client, _):
        assert client.get("/readyz").json()["refused"] == {}


def test_a_store_of_an_earlier_release_upgrades_and_its_rows_are_signed_by_importing_again(
    tmp_path: Path, keys: Keys
) -> None:
    """Rows stored before signing was there are unsigned: a server with a verify key refuses
    them until they are published and imported again with the key."""
    old = tmp_path / "old.sqlite3"
    shutil.copy(OLD_STORE, old)
    assert run("store", "upgrade", "--store", str(old))[0] == 0
    assert publish(old, POLICIES, keys.signing)[0] == 0
    with pytest.raises(AuthzError, match="not signed"):
        build(ServeConfig(store=str(old), reload_interval=0, verify_keys=(str(keys.verify),)))
    store = OrgStore(old)
    for org_id in store.ids():
        (tmp_path / f"{org_id}.json").write_text(store.export(org_id))
        assert import_org(old, tmp_path / f"{org_id}.json", keys.signing)[0] == 0
    store.close()
    with verifying(old, keys.verify) as (client, _):
        assert client.get("/readyz").json()["refused"] == {}


def test_an_unsigned_write_over_a_signed_one_warns_that_verifying_servers_will_refuse_it(
    signed_store: Path | str, keys: Keys, tmp_path: Path
) -> None:
    (tmp_path / "demo.json").write_text(_tampered(DEMO.read_text()))
    code, _, err = import_org(signed_store, tmp_path / "demo.json", None)
    assert code == 0 and "org `demo` version 2 is not signed, the version before was" in err
    edited = tmp_path / "policies"
    shutil.copytree(POLICIES, edited, ignore=shutil.ignore_patterns("history"))
    (edited / "extra.cedar").write_text(NO_BOOKS_INTEGRATION_CREATE)
    code, _, err = publish(signed_store, edited, None)
    assert code == 0 and "is not signed, the version served before" in err
    code, _, err = publish(signed_store, edited, keys.signing)  # signed now: no warning
    assert code == 0 and err == ""


def _store_at_schema_2(store_at: Path | str) -> None:
    """A store as the release before signing left it: schema version 2, the demo org in it."""
    store = OrgStore(store_at, schema_check=False)
    driver = store.driver
    with store.transaction() as tx:
        for step in MIGRATIONS[:2]:
            store.db.script(tx, step.sqlite if driver == "sqlite" else step.postgres)
        tx.execute(VERSION_TABLE)
        for step in MIGRATIONS[:2]:
            tx.execute(
                "INSERT INTO store_schema (version, applied_at, what) VALUES (?, ?, ?)",
                (step.version, "2026-11-01T00:00:00+00:00", step.what),
            )
        text = DEMO.read_text()
        tx.execute(
            "INSERT INTO orgs (id, snapshot, sha256, version, imported_at) VALUES (?, ?, ?, ?, ?)",
            ("demo", text, hashlib.sha256(text.encode()).hexdigest(), 4, "2026-11-01"),
        )
    store.close()


def test_a_store_at_schema_2_is_upgraded_in_place_and_served_as_before_without_keys(
    store_at: Path | str, keys: Keys
) -> None:
    _store_at_schema_2(store_at)
    code, out, err = run("store", "upgrade", "--store", str(store_at))
    assert code == 0 and f"schema version 2 -> {STORE_SCHEMA}" in out, err
    row = OrgStore(store_at).row("demo")
    assert (row.version, row.signature) == (4, None)
    with verifying(store_at) as (client, _):
        assert decision(client, ELI_CREATES_ESTIMATE)[1]["decision"] is True
    with pytest.raises(AuthzError, match="org `demo` version 4: not signed"):
        build(ServeConfig(store=str(store_at), reload_interval=0, verify_keys=(str(keys.verify),)))


def test_serve_refuses_a_verify_key_it_cannot_use_in_one_line(keys: Keys, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite3"
    assert import_org(store, DEMO, None)[0] == 0
    for key, words in [
        (tmp_path / "missing.pem", "cannot read verify key: No such file or directory"),
        (keys.signing, "not a PEM public key"),
        (DEMO, "not a PEM public key"),
    ]:
        code, _, err = run("serve", "--store", str(store), "--verify-key", str(key), "--port", "0")
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_store_check_with_a_verify_key_names_what_a_verifying_server_would_refuse(
    signed_store: Path | str, keys: Keys, tmp_path: Path
) -> None:
    check = ("store", "check", "--store", str(signed_store), "--verify-key", str(keys.verify))
    code, out, err = run(*check)
    assert code == 0 and out.endswith("ok\n"), out + err
    (tmp_path / "demo.json").write_text(_tampered(DEMO.read_text()))
    assert import_org(signed_store, tmp_path / "demo.json", None)[0] == 0
    code, out, _ = run(*check)
    assert code == 1 and "problem   org `demo` version 2: not signed" in out
    assert run("store", "check", "--store", str(signed_store))[0] == 0  # no key: as before


def test_a_migrated_org_is_unsigned_until_exported_and_imported_again_with_the_key(
    signed_store: Path | str, keys: Keys, tmp_path: Path
) -> None:
    """A migration apply stores its result through replace_snapshot, unsigned: the signature
    of the version before must not be left to vouch for the new text."""
    with verifying(signed_store, keys.verify) as (client, state):
        store = OrgStore(signed_store)
        with store.transaction() as tx:
            store.replace_snapshot(tx, "demo", _tampered(store.export("demo")), 1)
        assert store.row("demo").signature is None
        state.reload_if_changed()
        assert "version 2: not signed" in client.get("/readyz").json()["refused"]["org:demo"]
        code, out, _ = run("org", "export", "demo", "--store", str(signed_store))
        assert code == 0
        (tmp_path / "demo.json").write_text(out)
        assert import_org(signed_store, tmp_path / "demo.json", keys.signing)[0] == 0
        store.close()
        state.reload_if_changed()
        assert client.get("/readyz").json()["orgs"] == {"demo": 3}
        assert decision(client, BEN_DELETES_INV_1)[1]["decision"] is True


@pytest.mark.slow
def test_a_fleet_of_sidecars_with_workers_verifies_in_every_worker(
    postgres_url: str, keys: Keys, tmp_path: Path
) -> None:
    """`authz serve --workers 2 --verify-key` on PostgreSQL: the workers share the state the
    server loaded, verify keys included, and each watches the store through connections of
    its own; a revocation imported unsigned is not served by any of them (not even from the
    older, signed snapshot)."""
    assert publish(postgres_url, POLICIES, keys.signing)[0] == 0
    assert import_org(postgres_url, DEMO, keys.signing)[0] == 0
    args = ("--store", postgres_url, "--verify-key", str(keys.verify), "--workers", "2")
    with serving(*args) as port:
        ask = json.dumps(ELI_CREATES_ESTIMATE).encode()

        def answer() -> tuple[int, dict[str, Any]]:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/access/v1/evaluation",
                data=ask,
                headers={"content-type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        for _ in range(6):
            status, body = answer()
            assert status == 200 and body["decision"] is True
        data = json.loads(DEMO.read_text())
        for user in data["users"]:
            if user["id"] == "eli":
                user["enrolments"] = []  # the revocation
        (tmp_path / "revoked.json").write_text(json.dumps(data))
        code, _, err = import_org(postgres_url, tmp_path / "revoked.json", None)
        assert code == 0 and "is not signed" in err
        deadline = time.monotonic() + 10
        while any(answer()[0] != 503 for _ in range(6)):
            assert time.monotonic() < deadline, "a worker still serves the org"
            time.sleep(0.1)

        def ready() -> dict[str, Any]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
                return dict(json.loads(resp.read()))

        while any("org:demo" not in ready()["refused"] for _ in range(6)):  # every worker
            assert time.monotonic() < deadline, "a worker's /readyz does not name the refusal"
            time.sleep(0.1)
        said = ready()
        assert "org `demo` version 2: not signed" in said["refused"]["org:demo"]
        assert said["store"]["signatures"]["verified"] is True


def test_migrate_apply_with_the_signing_key_stores_the_migrated_org_signed(
    store_at: Path | str, keys: Keys, tmp_path: Path
) -> None:
    assert publish(store_at, POLICIES, keys.signing)[0] == 0
    assert import_org(store_at, LEGACY_ORG, keys.signing)[0] == 0
    plan_file = tmp_path / "plan.json"
    code, _, err = run(
        "migrate", "plan", "--org", "legacy", "--store", str(store_at), "--usage",
        str(POLICIES / "examples" / "legacy-usage.csv"), "--as-of", "2026-11-25",
        "--out", str(plan_file),
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run(
        "migrate", "apply", "--org", "legacy", "--plan", str(plan_file), "--store", str(store_at),
        "--as", "olga", "--signing-key", str(keys.signing),
    )  # fmt: skip
    assert code == 0 and "now version 2" in out, err
    with verifying(store_at, keys.verify) as (client, _):
        ready = client.get("/readyz").json()
        assert ready["orgs"] == {"legacy": 2} and ready["refused"] == {}
