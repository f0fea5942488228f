"""The org store: validated whole, versioned, exported exactly as imported."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from suite_authz.engine.core import InvalidOrg
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.migration import StalePlan
from suite_authz.engine.migration.apply import Applied, apply_plan
from suite_authz.engine.store.org_store import OrgStore, StaleSnapshot, StoredOrg, StoreError
from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES
from tests.migration_support import LEGACY, legacy_plan


def test_export_gives_back_exactly_what_was_imported(
    store_at: Path | str, policies: PolicySet
) -> None:
    store = OrgStore(store_at)
    text = DEMO.read_text()
    stored = store.import_snapshot(text, policies.catalogue)
    assert (stored.id, stored.version, stored.users) == ("demo", 1, 8)
    assert store.export("demo") == text


def test_reimport_of_a_change_is_the_next_version_and_same_text_changes_nothing(
    store_at: Path | str, policies: PolicySet
) -> None:
    store = OrgStore(store_at)
    text = DEMO.read_text()
    store.import_snapshot(text, policies.catalogue)
    assert store.import_snapshot(text, policies.catalogue).version == 1
    data = json.loads(text)
    data["name"] = "renamed"
    assert store.import_snapshot(json.dumps(data), policies.catalogue).version == 2


def test_bad_snapshot_is_refused_and_the_stored_one_stays(
    store_at: Path | str, policies: PolicySet
) -> None:
    store = OrgStore(store_at)
    text = DEMO.read_text()
    store.import_snapshot(text, policies.catalogue)
    data = json.loads(text)
    data["users"][0]["enrolments"][0]["product"] = "bookz"
    with pytest.raises(InvalidOrg) as info:
        store.import_snapshot(json.dumps(data), policies.catalogue, where="bad.json")
    assert info.value.problems[0].startswith("bad.json: users[0].enrolments[0].product:")
    assert store.export("demo") == text and store.version("demo") == 1


def test_unknown_org_names_the_known_ones(store_at: Path | str, policies: PolicySet) -> None:
    store = OrgStore(store_at)
    store.import_snapshot(DEMO.read_text(), policies.catalogue)
    with pytest.raises(StoreError, match="no org `nope` \\(known: `demo`\\)"):
        store.export("nope")


def test_store_is_one_file_in_wal_mode(tmp_path: Path) -> None:
    store = OrgStore(tmp_path / "s.sqlite3")
    assert store.read("PRAGMA journal_mode") == [("wal",)]


def test_cli_import_list_export(tmp_path: Path, store_at: Path | str) -> None:
    path = str(store_at)
    code, out, _ = run("org", "import", str(DEMO), "--store", path)
    assert code == 0 and "imported org `demo` version 1 (8 users, 13 records)" in out
    code, out, _ = run("org", "list", "--store", path)
    assert code == 0 and out.startswith("demo\tversion 1\t8 users")
    code, out, _ = run("org", "export", "demo", "--store", path)
    assert code == 0 and out == DEMO.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    code, _, err = run("org", "import", str(bad), "--store", path)
    assert code == 2 and f"{bad}: id: required field is missing" in err
    code, _, err = run("org", "export", "ghost", "--store", path)
    assert code == 2 and "no org `ghost`" in err


def _orgs_in(directory: Path, count: int) -> list[Path]:
    directory.mkdir()
    out = []
    for n in range(count):
        org = json.loads(DEMO.read_text())
        org["id"] = f"tenant-{n:02d}"
        out.append(directory / f"tenant-{n:02d}.json")
        out[-1].write_text(json.dumps(org))
    return out


def test_many_snapshots_and_a_directory_import_in_one_process(
    tmp_path: Path, store_at: Path | str
) -> None:
    files = _orgs_in(tmp_path / "orgs", 3)
    extra = tmp_path / "extra.json"
    extra.write_text(DEMO.read_text())
    code, out, _ = run(  # a directory and a file
        "org", "import", str(tmp_path / "orgs"), str(extra), "--store", str(store_at)
    )
    assert code == 0, out
    assert [line.split("`")[1] for line in out.splitlines()] == [
        "tenant-00", "tenant-01", "tenant-02", "demo"
    ]  # fmt: skip
    assert set(OrgStore(store_at).ids()) == {"tenant-00", "tenant-01",
                                                               "tenant-02", "demo"}  # fmt: skip
    code, out, _ = run("org", "import", *map(str, files), "--store", str(store_at),
                       "--format", "json")  # fmt: skip
    assert code == 0 and [o["unchanged"] for o in json.loads(out)] == [True, True, True]


def test_a_refused_snapshot_among_many_is_named_and_the_others_land(
    tmp_path: Path, store_at: Path | str
) -> None:
    files = _orgs_in(tmp_path / "orgs", 2)
    bad = tmp_path / "orgs" / "tenant-01b.json"  # between the two: the second still lands
    bad.write_text("{}")
    code, out, err = run("org", "import", str(tmp_path / "orgs"), "--store", str(store_at))
    assert code == 2
    assert f"{bad}: id: required field is missing" in err
    assert "1 of 3 snapshots refused, 2 imported" in err
    assert set(OrgStore(store_at).ids()) == {"tenant-00", "tenant-01"}
    assert all(f"`{f.stem}`" in out for f in files)


def test_a_directory_with_no_snapshot_is_refused_by_name(
    tmp_path: Path, store_at: Path | str
) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run("org", "import", str(tmp_path / "empty"), "--store", str(store_at))
    assert code == 2 and f"{tmp_path / 'empty'}: a directory with no *.json snapshot" in err
    code, _, err = run("org", "import", "--store", str(store_at))
    assert code == 2 and "Missing argument 'FILES...'" in err


def test_snapshot_reads_version_and_text_together(
    store_at: Path | str, policies: PolicySet
) -> None:
    store = OrgStore(store_at)
    text = DEMO.read_text()
    store.import_snapshot(text, policies.catalogue)
    data = json.loads(text)
    data["name"] = "renamed"
    store.import_snapshot(json.dumps(data), policies.catalogue)
    assert store.snapshot("demo") == (2, json.dumps(data))
    with pytest.raises(StoreError, match="no org `nope`"):
        store.snapshot("nope")


def test_reimporting_an_older_snapshot_is_refused_and_a_migration_is_not_undone(
    tmp_path: Path,
    store_at: Path | str,
) -> None:
    """`make run` twice used to re-import the legacy org over its migrated version."""
    store, plan = str(store_at), str(tmp_path / "plan.json")
    legacy = str(POLICIES / "examples" / "legacy-org.json")
    usage = str(POLICIES / "examples" / "legacy-usage.csv")
    assert run("org", "import", legacy, "--store", store)[0] == 0
    code, out, _ = run("org", "import", legacy, "--store", store)
    assert code == 0 and "nothing changed" in out
    assert run("migrate", "plan", "--org", "legacy", "--usage", usage, "--as-of", "2026-11-25",
               "--store", store, "--out", plan)[0] == 0  # fmt: skip
    assert run("migrate", "apply", "--org", "legacy", "--plan", plan, "--as", "olga",
               "--store", store)[0] == 0  # fmt: skip
    migrated = OrgStore(store).export("legacy")

    code, _, err = run("org", "import", legacy, "--store", store)
    assert code == 1
    assert "is version 1 of the org, and a migration has applied over it since" in err
    assert "by olga, making version 2" in err and "--replace" in err
    assert OrgStore(store).export("legacy") == migrated

    code, out, _ = run("org", "import", legacy, "--store", store, "--replace")
    assert code == 0 and "version 3" in out


def test_going_back_to_an_earlier_snapshot_by_import_is_an_ordinary_edit(
    store_at: Path | str, policies: PolicySet
) -> None:
    """A seat granted by one import and revoked by the next, whose text is the first one's:
    never blocked (a refused edit must not hold back a revocation)."""
    store = OrgStore(store_at)
    without = DEMO.read_text()
    data = json.loads(without)
    data["users"][0]["enrolments"].append({"product": "subscriptions"})
    store.import_snapshot(without, policies.catalogue)
    store.import_snapshot(json.dumps(data), policies.catalogue)
    back = store.import_snapshot(without, policies.catalogue)
    assert back.version == 3 and store.export("demo") == without


def _exported(at: str) -> str:
    data = json.loads(DEMO.read_text())
    data["exported_at"] = at
    data["name"] = f"demo as of {at}"
    return json.dumps(data)


def test_a_snapshot_exported_before_the_stored_one_is_refused(
    store_at: Path | str, policies: PolicySet
) -> None:
    store = OrgStore(store_at)
    store.import_snapshot(_exported("2026-11-25T10:00:00Z"), policies.catalogue)
    with pytest.raises(StaleSnapshot, match="was exported at 2026-11-25T09:00:00Z, before"):
        store.import_snapshot(_exported("2026-11-25T09:00:00Z"), policies.catalogue)
    assert store.version("demo") == 1
    later = store.import_snapshot(_exported("2026-11-25T10:00:01+00:00"), policies.catalogue)
    assert later.version == 2
    forced = store.import_snapshot(
        _exported("2026-11-25T09:00:00Z"), policies.catalogue, replace=True
    )
    assert forced.version == 3


def test_an_export_time_must_carry_its_offset(store_at: Path | str, policies: PolicySet) -> None:
    store = OrgStore(store_at)
    with pytest.raises(InvalidOrg, match=r"exported_at: .*must carry its offset"):
        store.import_snapshot(_exported("2026-11-25T10:00:00"), policies.catalogue)


def test_org_import_checks_against_the_policies_it_is_given(
    tmp_path: Path, store_at: Path | str
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies, ignore=shutil.ignore_patterns("history"))
    catalogue = json.loads((policies / "modules.json").read_text())
    del catalogue["modules"]["estimate"]  # the demo org holds estimates
    (policies / "modules.json").write_text(json.dumps(catalogue))
    store = str(store_at)
    code, _, err = run("org", "import", str(DEMO), "--store", store, "--policies", str(policies))
    assert code == 2 and "module `estimate` is not part of Books" in err
    assert run("org", "import", str(DEMO), "--store", store)[0] == 0


def _together(*calls: Callable[[], object]) -> list[object]:
    """Run the calls on threads at once; each one's result or the exception it raised."""
    results: list[object] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def one(i: int) -> None:
        start.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_imports_of_one_org_get_distinct_versions(
    store_at: Path | str, policies: PolicySet
) -> None:
    """Two processes (two stores open on one database) import changes to one org at once."""
    OrgStore(store_at).import_snapshot(DEMO.read_text(), policies.catalogue)
    texts = []
    for n in range(6):
        data = json.loads(DEMO.read_text())
        data["name"] = f"edit {n}"
        texts.append(json.dumps(data))
    stores = [OrgStore(store_at) for _ in texts]
    results = _together(
        *[
            lambda s=s, t=t: s.import_snapshot(t, policies.catalogue)
            for s, t in zip(stores, texts, strict=True)
        ]
    )
    versions = sorted(r.version for r in results if isinstance(r, StoredOrg))
    assert versions == [2, 3, 4, 5, 6, 7]
    store = OrgStore(store_at)
    imports = [e.detail["version"] for e in store.audit("demo", "org.import")]
    assert sorted(imports) == [1, 2, 3, 4, 5, 6, 7]
    assert store.version("demo") == 7


def test_concurrent_applies_of_one_plan_apply_it_once(
    store_at: Path | str, policies: PolicySet
) -> None:
    """Two sidecars are asked to apply one plan at the same moment. Both find it not applied
    yet and wait for the writer lock (held here until both do): exactly one applies it, the
    other is refused as stale (a 409 from the API), and the org moves by one version."""
    first = OrgStore(store_at)
    first.import_snapshot(LEGACY.read_text(), policies.catalogue)
    plan = legacy_plan(first, policies)
    stores = [OrgStore(store_at), OrgStore(store_at)]
    waiting = threading.Semaphore(0)
    for s in stores:
        original = s.transaction

        def entering(original: Callable[[], Any] = original) -> Any:
            waiting.release()
            return original()

        s.transaction = entering  # type: ignore[method-assign]
    release = threading.Event()

    def hold_the_lock() -> None:
        with first.transaction():
            release.wait(30)

    def release_once_both_wait() -> None:
        # past this, both have found the plan not applied and asked for the lock
        assert waiting.acquire(timeout=30) and waiting.acquire(timeout=30)
        release.set()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    releaser = threading.Thread(target=release_once_both_wait)
    releaser.start()
    try:
        results = _together(
            lambda: apply_plan(stores[0], policies, plan, "olga"),
            lambda: apply_plan(stores[1], policies, plan, "olga"),
        )
    finally:
        release.set()
        holder.join()
        releaser.join()
    applied = [r for r in results if isinstance(r, Applied)]
    stale = [r for r in results if isinstance(r, StalePlan)]
    assert len(applied) == 1 and applied[0].changed and len(stale) == 1, results
    assert "plan is stale" in str(stale[0])
    assert OrgStore(store_at).version("legacy") == 2
    assert len(OrgStore(store_at).audit("legacy", "migration.apply")) == 1
