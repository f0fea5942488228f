"""`authz org apply`: a change set stored as the org's next version beside the snapshot it
makes, and a sidecar that applies it to the engine it serves instead of loading the org again,
loading it whole whenever the change cannot be trusted or is not there to apply."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from suite_authz.engine.core import Engine, InvalidOrg, PolicySet, Request, load_org, load_policies
from suite_authz.engine.core.org_changes import apply_changes, parse_change_set
from suite_authz.engine.serving import LoadOptions, Refusal, ServedSet, load_served, next_orgs
from suite_authz.engine.serving import served_set as served_module
from suite_authz.engine.sources import PolicyRef
from suite_authz.engine.store.check import check_store
from suite_authz.engine.store.org_store import KEEP_CHANGES, OrgStore, StaleSnapshot
from suite_authz.engine.store.signing import generate_keys, load_signer, load_verifier
from suite_authz.server.reload import Reloader
from tests.api.test_reloader import Counted
from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES

REVOKE_DANA = {"op": "user", "id": "dana", "set": {"memberships": [], "enrolments": []}}
DANA_VIEWS = Request("dana", "view", "invoice", "inv-1", channel="direct")


def change(*ops: dict[str, Any], base: int | None = None) -> str:
    body: dict[str, Any] = {"org": "demo", "changes": list(ops)}
    if base is not None:
        body["base_version"] = base
    return json.dumps(body)


@pytest.fixture
def demo_store(store_at: Path | str, policies: PolicySet) -> OrgStore:
    store = OrgStore(store_at)
    store.import_snapshot(DEMO.read_text(), policies.catalogue)
    return store


def served(store: OrgStore, **options: Any) -> ServedSet:
    return load_served(store, PolicyRef.shipped(), None, LoadOptions("cedar", **options))


def engine_of(after: ServedSet) -> Engine:
    engine = after.engines["demo"]
    assert isinstance(engine, Engine)
    return engine


# -- the store -------------------------------------------------------------------------------


def test_a_change_is_the_next_version_with_its_change_set_kept_beside_it(
    demo_store: OrgStore, policies: PolicySet
) -> None:
    done = demo_store.apply_change_set(change(REVOKE_DANA), policies.catalogue, "rev.json")
    assert (done.base_version, done.version, done.changes, done.users) == (1, 2, 1, 8)
    dana = next(u for u in json.loads(demo_store.export("demo"))["users"] if u["id"] == "dana")
    assert dana["memberships"] == [] and dana["email"] == "dana@demo.example"
    [row] = demo_store.changes_after("demo", 1)
    assert row.version == 2 and json.loads(row.text)["changes"][0]["id"] == "dana"
    row.check(None)
    [entry] = demo_store.audit("demo", "org.apply")
    assert entry.detail["version"] == 2 and entry.detail["source"] == "rev.json"
    # the same change again makes nothing
    again = demo_store.apply_change_set(change(REVOKE_DANA), policies.catalogue)
    assert again.unchanged and demo_store.version("demo") == 2


def test_a_refused_change_writes_nothing(demo_store: OrgStore, policies: PolicySet) -> None:
    before = demo_store.export("demo")
    bad = change(
        {"op": "user", "id": "ben", "set": {"profile": "ghost"}},
        {"op": "record", "type": "estimate", "id": "est-9", "set": {"submitted_by": "nobody"}},
    )
    with pytest.raises(InvalidOrg) as info:
        demo_store.apply_change_set(bad, policies.catalogue, "bad.json")
    assert info.value.problems == (
        "bad.json: changes[0].set.profile: user `ben` names profile `ghost`, which profiles "
        "does not hold",
        "bad.json: changes[1].set.submitted_by: estimate `est-9` names `nobody`, which users "
        "does not hold",
    )
    with pytest.raises(StaleSnapshot, match="written against version 3, and the store holds"):
        demo_store.apply_change_set(change(REVOKE_DANA, base=3), policies.catalogue)
    with pytest.raises(InvalidOrg, match="changes: list should have at least 1 item"):
        demo_store.apply_change_set(change(), policies.catalogue)
    assert demo_store.export("demo") == before and demo_store.changes_after("demo", 0) == []
    assert demo_store.audit("demo", "org.apply") == []


def test_store_check_checks_the_kept_change_sets(demo_store: OrgStore, policies: PolicySet) -> None:
    demo_store.apply_change_set(change(REVOKE_DANA), policies.catalogue)
    assert check_store(demo_store).ok
    with demo_store.transaction() as tx:
        tx.execute("UPDATE org_changes SET changes = ?", (change(),))
    report = check_store(demo_store)
    assert report.problems == [
        "the change making org `demo` version 2: its text does not match its sha256: not applied"
    ]


def test_only_the_newest_change_sets_are_kept(
    demo_store: OrgStore, policies: PolicySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("suite_authz.engine.store.org_store.KEEP_CHANGES", 2)
    for name in ("a", "b", "c"):
        ops = {"op": "user", "id": "ben", "set": {"name": name}}
        demo_store.apply_change_set(change(ops), policies.catalogue)
    assert [r.version for r in demo_store.changes_after("demo", 0)] == [3, 4]
    assert KEEP_CHANGES > 2


# -- the sidecar -----------------------------------------------------------------------------


def test_a_sidecar_applies_the_change_without_loading_the_org_again(
    demo_store: OrgStore, policies: PolicySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = served(demo_store, class_cache=64)
    assert engine_of(before).decide(DANA_VIEWS).allowed
    demo_store.apply_change_set(change(REVOKE_DANA), policies.catalogue)
    loads: list[str] = []
    real = served_module.load_engine
    monkeypatch.setattr(
        served_module, "load_engine", lambda *a, **k: loads.append(a[2]) or real(*a, **k)
    )
    after, changed = next_orgs(before, demo_store, None, LoadOptions("cedar", class_cache=64))
    assert changed and after.org_versions["demo"] == 2 and loads == []
    engine = engine_of(after)
    assert engine.overlay() is not None
    assert not engine.decide(DANA_VIEWS).allowed
    fresh = Engine(policies, engine.org)
    for subject in ("asha", "chen", "dana", "fay"):
        for rid in ("est-1", "inv-1"):
            kind = "estimate" if rid.startswith("est") else "invoice"
            asked = Request(subject, "view", kind, rid)
            assert engine.decide(asked) == fresh.decide(asked)


@pytest.mark.parametrize("how", ["imported", "tampered", "pruned"])
def test_a_version_with_no_trusted_change_set_is_loaded_whole(
    demo_store: OrgStore, policies: PolicySet, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = served(demo_store)
    demo_store.apply_change_set(change(REVOKE_DANA), policies.catalogue)
    if how == "imported":  # a whole snapshot lands after the change
        data = json.loads(demo_store.export("demo"))
        data["name"] = "renamed"
        demo_store.import_snapshot(json.dumps(data), policies.catalogue)
    elif how == "tampered":  # a change set edited behind the store's back: ben kept
        with demo_store.transaction() as tx:
            tx.execute("UPDATE org_changes SET changes = ? WHERE org_id = 'demo'", (change(),))
    else:
        with demo_store.transaction() as tx:
            tx.execute("DELETE FROM org_changes")
    loads: list[str] = []
    real = served_module.load_engine
    monkeypatch.setattr(
        served_module, "load_engine", lambda *a, **k: loads.append(a[2]) or real(*a, **k)
    )
    after, changed = next_orgs(before, demo_store, None, LoadOptions("cedar"))
    assert changed and loads == ["demo"]
    assert engine_of(after).overlay() is None
    assert not engine_of(after).decide(DANA_VIEWS).allowed


def test_with_verify_keys_only_a_signed_change_is_applied(
    demo_store: OrgStore, policies: PolicySet, tmp_path: Path
) -> None:
    private, public, _ = generate_keys(tmp_path / "k")
    signer, verifier = load_signer(private), load_verifier([public])
    demo_store.import_snapshot(DEMO.read_text(), policies.catalogue, signer=signer)
    options = LoadOptions("cedar", verifier=verifier)
    before = load_served(demo_store, PolicyRef.shipped(), None, options)
    demo_store.apply_change_set(change(REVOKE_DANA), policies.catalogue, signer=signer)
    after, _ = next_orgs(before, demo_store, None, options)
    assert engine_of(after).overlay() is not None  # signed: applied as a change
    assert not engine_of(after).decide(DANA_VIEWS).allowed
    # unsigned: not applied as a change; the whole row is refused too (it is unsigned)
    demo_store.apply_change_set(
        change({"op": "user", "id": "ben", "set": {"name": "B"}}), policies.catalogue
    )
    later, _ = next_orgs(after, demo_store, None, options)
    assert "demo" not in later.engines and later.org_refusals["demo"].tampered


def test_many_changes_are_parsed_whole_again_off_the_watcher(
    demo_store: OrgStore, policies: PolicySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(served_module, "COMPACT_AFTER", 1)
    counted = Counted()
    reloader = Reloader(demo_store, PolicyRef.shipped(), None, LoadOptions("cedar"), counted)
    reloader.load()
    demo_store.apply_change_set(change(REVOKE_DANA), policies.catalogue)
    assert reloader.reload_if_changed()
    assert reloader.compact() == 0  # one changed entity: not yet
    asha = {"op": "user", "id": "asha", "set": {"name": "Asha R."}}
    demo_store.apply_change_set(change(asha), policies.catalogue)
    assert reloader.reload_if_changed()
    overlaid = reloader.served
    assert overlaid is not None and engine_of(overlaid).overlay() is not None
    # a change lands while the org is parsed: the parse is brought up to it before the swap
    real = served_module.load_engine

    def meanwhile(*args: Any, **kwargs: Any) -> Any:
        built = real(*args, **kwargs)
        fay = {"op": "user", "id": "fay", "set": {"memberships": []}}
        demo_store.apply_change_set(change(fay), policies.catalogue)
        assert reloader.reload_if_changed()
        return built

    monkeypatch.setattr(served_module, "load_engine", meanwhile)
    assert reloader.compact() == 0  # built at version 3; the served org moved to 4 meanwhile
    monkeypatch.setattr(served_module, "load_engine", real)
    reloader._to_compact["demo"] = None
    assert reloader.compact() == 1
    now = reloader.served
    assert now is not None and now.org_versions["demo"] == 4
    engine = engine_of(now)
    assert engine.overlay() is None
    assert engine.org == Engine(policies, engine.org).org
    assert not engine.decide(DANA_VIEWS).allowed
    counts = counted.counts
    assert (counts["org_updated:change"], counts["org_updated:reparsed"]) == (3, 1)


def test_authz_org_apply(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite3"
    assert run("org", "import", str(DEMO), "--store", str(store))[0] == 0
    file = tmp_path / "rev.json"
    file.write_text(change(REVOKE_DANA))
    code, out, err = run("org", "apply", str(file), "--store", str(store))
    assert code == 0, err
    assert (
        out == f"applied 1 change to org `demo`: version 1 -> 2 (8 users, 13 records) in {store}\n"
    )
    code, out, _ = run("org", "apply", str(file), "--store", str(store), "--format", "json")
    assert code == 0 and json.loads(out)["unchanged"] is True
    file.write_text(change({"op": "remove_user", "id": "ghost"}))
    code, _, err = run("org", "apply", str(file), "--store", str(store))
    assert code == 2 and f"{file}: changes[0].id: the org holds no user `ghost`" in err
    file.write_text(change(REVOKE_DANA, base=1))
    code, _, err = run("org", "apply", str(file), "--store", str(store))
    assert code == 1 and "the store holds version 2" in err


# -- found by an outside review (helper session, at 9b501c9) ----------------------------------


def test_a_changed_engine_plans_as_a_fresh_one(policies: PolicySet) -> None:
    """A query plan asks Cedar with the resource unknown, and its principal spelt as a string:
    the overlay must find what that principal reaches (it raised TypeError: every plan and
    resource search of a changed org was a 500)."""
    org = load_org(DEMO, policies.catalogue)
    engine = Engine(policies, org)
    engine.decide(DANA_VIEWS)
    fay = {"op": "user", "id": "fay", "set": {"memberships": []}}
    change_set = parse_change_set(change(REVOKE_DANA, fay))
    changed = engine.changed(apply_changes(org, change_set, policies.catalogue))
    assert changed.overlay() is not None
    fresh = Engine(policies, changed.org)
    for subject in ("chen", "dana", "fay", "olivia"):
        for action in ("view", "approve"):
            asked = Request(subject, action, "invoice", channel="direct")
            assert changed.plan(asked) == fresh.plan(asked)


def test_a_limit_cedar_cannot_hold_is_refused_and_no_error_dumps_entities(
    demo_store: OrgStore, policies: PolicySet
) -> None:
    """Cedar's Long is 64-bit: a larger migration limit was stored, then every decision of the
    changed engine was a deny whose error held the org's entity JSON (users' emails)."""
    huge = {"op": "org", "set": {"migration": {"limit": 2**63}}}
    with pytest.raises(InvalidOrg, match=r"changes\[0\]\.set\.migration\.limit"):
        demo_store.apply_change_set(change(huge), policies.catalogue)
    data = json.loads(DEMO.read_text())
    data["migration"] = {"limit": 2**63}
    with pytest.raises(InvalidOrg, match=r"migration\.limit"):
        load_org(data, policies.catalogue)
    assert demo_store.version("demo") == 1


def test_apply_refuses_what_a_whole_load_under_the_same_policies_refuses(
    demo_store: OrgStore, policies: PolicySet, tmp_path: Path
) -> None:
    """The stored org is not trusted to fit the policies the change is checked against (they
    may be another set than the one it was stored under): the org a change makes is checked
    whole, as `authz org import` would check it."""
    narrowed = tmp_path / "policies"
    shutil.copytree(POLICIES, narrowed, ignore=shutil.ignore_patterns("history", "examples"))
    modules = json.loads((narrowed / "modules.json").read_text())
    fields = modules["modules"]["invoice"]["fields"]
    fields.remove("discount")
    (narrowed / "modules.json").write_text(json.dumps(modules))
    catalogue = load_policies(narrowed).catalogue
    with pytest.raises(InvalidOrg):  # the demo org names invoice.discount
        load_org(DEMO, catalogue)
    with pytest.raises(InvalidOrg, match="discount"):
        demo_store.apply_change_set(change(REVOKE_DANA), catalogue)
    assert demo_store.version("demo") == 1


def test_a_base_version_must_be_a_number(demo_store: OrgStore, policies: PolicySet) -> None:
    body = json.dumps({"org": "demo", "base_version": True, "changes": [REVOKE_DANA]})
    with pytest.raises(InvalidOrg, match="base_version"):
        demo_store.apply_change_set(body, policies.catalogue)


def test_an_org_that_does_not_load_whole_after_its_changes_is_not_served(
    demo_store: OrgStore, policies: PolicySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail closed: when the org parsed whole again refuses to load at the version served
    over changes, the org is refused, as a whole load of that version would be, rather than
    answered on over the overlay (the review found compaction failing silently)."""
    monkeypatch.setattr(served_module, "COMPACT_AFTER", 0)
    reloader = Reloader(demo_store, PolicyRef.shipped(), None, LoadOptions("cedar"), Counted())
    reloader.load()
    demo_store.apply_change_set(change(REVOKE_DANA), policies.catalogue)
    assert reloader.reload_if_changed()
    refused = Refusal("org", "demo", "does not fit the policy schema", version=2)
    monkeypatch.setattr(served_module, "load_engine", lambda *a, **k: refused)
    assert reloader.compact() == 0
    now = reloader.served
    assert now is not None and "demo" not in now.engines
    assert now.org_refusals["demo"].newer and "does not fit" in now.refused["org:demo"]
    assert not reloader.reload_if_changed()  # refused once: not tried again on every poll


def test_a_poll_holds_the_swap_lock_so_a_compaction_cannot_be_undone(
    demo_store: OrgStore, policies: PolicySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher builds its next set from the set it read, then publishes it: a compaction
    swapped in between (an org taken out because its whole parse is refused) would be undone
    by that publish, the org served again over its overlay. A poll holds the lock a
    compaction's swap takes, from its read to its publish."""
    from suite_authz.server import reload as reload_module

    reloader = Reloader(demo_store, PolicyRef.shipped(), None, LoadOptions("cedar"), Counted())
    reloader.load()
    demo_store.apply_change_set(change(REVOKE_DANA), policies.catalogue)
    held: list[bool] = []
    real = reload_module.next_orgs

    def polling(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        probe = threading.Thread(target=lambda: held.append(not _free(reloader._lock)))
        probe.start()
        probe.join()
        return result

    monkeypatch.setattr(reload_module, "next_orgs", polling)
    assert reloader.reload_if_changed()
    assert held == [True]


def _free(lock: Any) -> bool:
    if lock.acquire(blocking=False):
        lock.release()
        return True
    return False
