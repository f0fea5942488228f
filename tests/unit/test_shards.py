"""Orgs over a fleet (engine/serving/shards.py): an org's shard is the same everywhere, shards
share the orgs evenly, a shard added takes only its share, and a sidecar's selection loads and
keeps only its shard's orgs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from suite_authz.engine.core import AuthzError, PolicySet
from suite_authz.engine.serving import LoadOptions, OrgSelection, Shard, load_served, next_orgs
from suite_authz.engine.serving.shards import MAX_SHARDS, shard_of
from suite_authz.engine.sources import PolicyRef
from suite_authz.engine.store.org_store import OrgStore
from tests.conftest import DEMO

IDS = [f"org-{n}" for n in range(30_000)]


def test_an_org_s_shard_is_pinned() -> None:
    """The function itself is the fleet's contract (load balancer tables are made from it on
    other machines): a change of it would route every org to the wrong sidecar."""
    assert {o: shard_of(o, 3) for o in ("demo", "acme", "tenant-00", "tenant-02")} == {
        "demo": 2, "acme": 2, "tenant-00": 3, "tenant-02": 1
    }  # fmt: skip
    assert [shard_of(f"o{i}", 7) for i in range(10)] == [1, 1, 6, 6, 3, 4, 1, 5, 2, 2]
    assert shard_of("demo", 1) == 1


def test_shards_share_the_orgs_evenly() -> None:
    counts = Counter(shard_of(o, 5) for o in IDS)
    assert set(counts) == {1, 2, 3, 4, 5}
    assert all(abs(n - 6_000) < 600 for n in counts.values()), counts


def test_a_shard_added_takes_only_its_share_and_one_removed_gives_only_its_own() -> None:
    before = {o: shard_of(o, 4) for o in IDS}
    after = {o: shard_of(o, 5) for o in IDS}
    moved = [o for o in IDS if before[o] != after[o]]
    assert all(after[o] == 5 for o in moved)  # every org that moves goes to the new shard
    assert abs(len(moved) / len(IDS) - 1 / 5) < 0.02
    # shard 5 taken away again: only its orgs move, back where they were
    assert {o: shard_of(o, 4) for o in moved} == {o: before[o] for o in moved}


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "3", "a/b", "1/3/5", "-1/3", "", "1 /3x",
                                  f"1/{MAX_SHARDS + 1}"])  # fmt: skip
def test_a_bad_shard_is_refused_by_name(text: str) -> None:
    with pytest.raises(AuthzError, match=r"--shard .*: give I/N"):
        Shard.parse(text)


def test_a_selection_names_orgs_a_shard_or_both() -> None:
    two = Shard.parse("2/3")
    assert str(two) == "2/3" and two.holds("demo") and not two.holds("tenant-02")
    assert OrgSelection.of(None, two).among(["demo", "tenant-02", "acme"]) == ["demo", "acme"]
    assert OrgSelection.of(["tenant-02", "demo"]).among(["x"]) == ["tenant-02", "demo"]
    assert OrgSelection.of(["tenant-02", "demo"], two).among([]) == ["demo"]
    assert OrgSelection.of().selects("anything")
    said = OrgSelection.of(None, two).misrouted("tenant-02")
    assert said == "org `tenant-02` is served by shard 1/3, this is 2/3"
    assert OrgSelection.of(None, two).misrouted("demo") is None
    assert OrgSelection.of().misrouted("tenant-02") is None


def _org(org_id: str) -> str:
    data = json.loads(DEMO.read_text())
    data["id"] = org_id
    return json.dumps(data)


def test_a_sharded_selection_loads_its_orgs_and_takes_new_ones_as_they_come(
    tmp_path: Path, policies: PolicySet
) -> None:
    store = OrgStore(tmp_path / "orgs.sqlite3")
    for org_id in ("demo", "tenant-02", "acme"):
        store.import_snapshot(_org(org_id), policies.catalogue)
    one, two = OrgSelection.of(None, Shard(1, 3)), OrgSelection.of(None, Shard(2, 3))
    options = LoadOptions("cedar")
    served = load_served(store, PolicyRef.shipped(), two, options)
    assert set(served.engines) == {"demo", "acme"}
    assert set(load_served(store, PolicyRef.shipped(), one, options).engines) == {"tenant-02"}
    # a shard with no org yet starts, serving nothing until one falls to it
    assert load_served(store, PolicyRef.shipped(), OrgSelection.of(None, Shard(3, 3)),
                       options).engines == {}  # fmt: skip
    for org_id in ("tenant-00", "tenant-06", "tenant-10"):  # shards 3, 2 and 1
        store.import_snapshot(_org(org_id), policies.catalogue)
    after, changed = next_orgs(served, store, two, options)
    assert changed and set(after.engines) == {"demo", "acme", "tenant-06"}
    assert next_orgs(after, store, two, options) == (after, False)
