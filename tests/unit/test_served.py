"""The served set from a store alone (engine/serving/served_set.py): no server, no thread, no HTTP.
What is
refused is a typed value (kind, id, cause), a refused policy text leaves the last good set
serving, and an org whose newer snapshot is refused is not served rather than answered from
the older one."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from suite_authz.engine.core import AuthzError, Engine, PolicySet
from suite_authz.engine.serving import (
    Cause,
    LoadOptions,
    NotServed,
    load_served,
    next_orgs,
    next_policies,
)
from suite_authz.engine.sources import PolicyRef
from suite_authz.engine.store.org_store import OrgStore
from tests.api.test_reload import NO_BOOKS_INTEGRATION_CREATE
from tests.conftest import DEMO, POLICIES

OPTIONS = LoadOptions("cedar")


def _acme() -> str:
    """The demo org under another id: a second org, so that one refused leaves one served."""
    data = json.loads(DEMO.read_text())
    data["id"] = "acme"
    return json.dumps(data, indent=2)


@pytest.fixture
def store(tmp_path: Path, policies: PolicySet) -> OrgStore:
    store = OrgStore(tmp_path / "orgs.sqlite3")
    store.import_snapshot(DEMO.read_text(), policies.catalogue)
    store.import_snapshot(_acme(), policies.catalogue)
    return store


def _write_row(store: OrgStore, org_id: str, text: str, *, rehash: bool) -> None:
    """Replace the org's row behind the store's back, as the next version; its sha256 made to
    match (a row the store vouches for) or left stale (one edited without it)."""
    version = store.version(org_id)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with store.transaction() as tx:
        if rehash:
            tx.execute(
                "UPDATE orgs SET snapshot = ?, version = ?, sha256 = ? WHERE id = ?",
                (text, version + 1, digest, org_id),
            )
        else:
            tx.execute(
                "UPDATE orgs SET snapshot = ?, version = ? WHERE id = ?",
                (text, version + 1, org_id),
            )


@pytest.mark.parametrize(
    ("text", "rehash", "cause"),
    [
        (_acme().replace('"ben"', '"benjamin"'), False, Cause.BAD_HASH),
        (DEMO.read_text(), True, Cause.MISLABELED),  # the demo org's text under acme's id
        ('{"id": "acme"}', True, Cause.INVALID),
    ],
    ids=["bad-hash", "mislabeled", "invalid-snapshot"],
)
def test_a_refused_org_is_a_typed_refusal_and_the_others_are_served(
    store: OrgStore, text: str, rehash: bool, cause: Cause
) -> None:
    _write_row(store, "acme", text, rehash=rehash)
    served = load_served(store, PolicyRef.shipped(), None, OPTIONS)
    assert set(served.engines) == {"demo"}
    refusal = served.org_refusals["acme"]
    assert (refusal.kind, refusal.id, refusal.cause, refusal.version) == ("org", "acme", cause, 2)
    assert refusal.tampered is (cause is Cause.BAD_HASH)
    assert served.refused_orgs == {"acme"}
    assert list(served.refused) == ["org:acme"]  # the label /readyz has always shown
    assert served.policy_refusal is None


def test_nothing_to_serve_raises(store: OrgStore) -> None:
    for org_id in ("demo", "acme"):
        _write_row(store, org_id, '{"id": "x"}', rehash=True)
    with pytest.raises(AuthzError, match="no org loads"):
        load_served(store, PolicyRef.shipped(), None, OPTIONS)


def test_a_refused_policy_text_leaves_the_last_good_set_serving(
    store: OrgStore, tmp_path: Path
) -> None:
    directory = tmp_path / "policies"
    shutil.copytree(POLICIES, directory, ignore=shutil.ignore_patterns("history"))
    ref = PolicyRef.directory(directory)
    served = load_served(store, ref, None, OPTIONS)
    (directory / "extra.cedar").write_text("permit(principal, action, resource) when {")
    after = next_policies(served, store, ref, None, OPTIONS, str(directory))
    assert after.policies is served.policies and after.engines is served.engines
    refusal = after.policy_refusal
    assert refusal is not None
    assert (refusal.kind, refusal.id, refusal.cause) == ("policy", str(directory), Cause.INVALID)
    assert after.refused == {"policy": refusal.reason}
    # mended and changed: a new set, every org loaded under it, the refusal history
    (directory / "extra.cedar").write_text(NO_BOOKS_INTEGRATION_CREATE)
    mended = next_policies(after, store, ref, None, OPTIONS, str(directory))
    assert mended.policies is not served.policies
    assert set(mended.engines) == {"demo", "acme"} and mended.policy_refusal is None


def test_an_org_whose_newer_snapshot_is_refused_is_not_served(store: OrgStore) -> None:
    served = load_served(store, PolicyRef.shipped(), None, OPTIONS)
    assert isinstance(served.engine_for("demo"), Engine)
    _write_row(store, "demo", DEMO.read_text().replace('"ben"', '"benjamin"'), rehash=False)
    after, changed = next_orgs(served, store, None, OPTIONS)
    assert changed and "demo" not in after.engines and "demo" not in after.org_versions
    found = after.engine_for("demo")
    assert isinstance(found, NotServed)  # never the engine built from version 1
    assert (found.org, found.refusal.cause, found.refusal.version) == ("demo", Cause.BAD_HASH, 2)
    assert after.refused["org:demo"].startswith("version 2 not served: ")
    assert "not served now" in found.message
    assert after.engine_for("acme") is served.engines["acme"]  # the other org untouched
    with pytest.raises(AuthzError, match="several orgs"):
        after.engine_for(None)
    with pytest.raises(AuthzError, match="not an org served here"):
        after.engine_for("nobody")
    # the same store again: nothing differs, the same set comes back
    again, changed = next_orgs(after, store, None, OPTIONS, lambda org, version: True)
    assert again is after and not changed


def test_an_org_gone_from_the_store_is_served_no_more(store: OrgStore) -> None:
    served = load_served(store, PolicyRef.shipped(), None, OPTIONS)
    with store.transaction() as tx:
        tx.execute("DELETE FROM orgs WHERE id = ?", ("acme",))
    after, changed = next_orgs(served, store, None, OPTIONS)
    assert changed and set(after.engines) == {"demo"}
    assert after.engine_for(None) is served.engines["demo"]  # the one org left
