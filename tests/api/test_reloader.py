"""The reloader's contract (server/reload.py): every swap is published, in order, to every
observer, each told the set it replaced; a poll that changes nothing publishes nothing; a
refused text is counted once however many polls see it. Metrics and readiness are observers
like any other, so a swap they did not hear would be a gauge or a /readyz left behind."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from suite_authz.engine.core import PolicySet, Request
from suite_authz.engine.serving import LoadOptions, ServedSet
from suite_authz.engine.sources import PolicyRef
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.metrics import Metrics
from suite_authz.server.readiness import Readiness
from suite_authz.server.reload import Reloader
from tests.conftest import DEMO


class Counted:
    """What a reloader counts, kept to be read back."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def reloaded(self) -> None:
        self.counts["reloaded"] += 1

    def reload_failed(self) -> None:
        self.counts["reload_failed"] += 1

    def row_refused(self, kind: str) -> None:
        self.counts[f"row_refused:{kind}"] += 1

    def store_outage(self) -> None:
        self.counts["store_outage"] += 1

    def org_updated(self, how: str) -> None:
        self.counts[f"org_updated:{how}"] += 1


def _acme() -> str:
    data = json.loads(DEMO.read_text())
    data["id"] = "acme"
    return json.dumps(data, indent=2)


def _tamper(store: OrgStore, org_id: str) -> None:
    """The org's text edited behind the store's back: next version, sha256 left stale."""
    version, text = store.snapshot(org_id)
    with store.transaction() as tx:
        tx.execute(
            "UPDATE orgs SET snapshot = ?, version = ? WHERE id = ?",
            (text.replace('"ben"', '"benjamin"'), version + 1, org_id),
        )


def _mend(store: OrgStore, org_id: str) -> None:
    version, text = store.snapshot(org_id)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with store.transaction() as tx:
        tx.execute(
            "UPDATE orgs SET sha256 = ?, version = ? WHERE id = ?", (digest, version + 1, org_id)
        )


@pytest.fixture
def store(tmp_path: Path, policies: PolicySet) -> OrgStore:
    store = OrgStore(tmp_path / "orgs.sqlite3")
    store.import_snapshot(DEMO.read_text(), policies.catalogue)
    store.import_snapshot(_acme(), policies.catalogue)
    return store


def test_every_swap_is_published_in_order_to_every_observer(store: OrgStore) -> None:
    counted = Counted()
    reloader = Reloader(store, PolicyRef.shipped(), None, LoadOptions("cedar"), counted)
    heard: list[tuple[ServedSet | None, ServedSet]] = []
    also: list[ServedSet] = []
    reloader.subscribe(lambda old, new: heard.append((old, new)))
    reloader.subscribe(lambda old, new: also.append(new))

    first = reloader.load()
    assert heard == [(None, first)] and reloader.served is first

    assert reloader.reload_if_changed() is False  # nothing changed: nothing published
    assert len(heard) == 1

    _tamper(store, "acme")
    assert reloader.reload_if_changed() is True
    assert reloader.reload_if_changed() is False  # the same refused row: no swap, no count
    _mend(store, "acme")
    assert reloader.reload_if_changed() is True

    assert len(heard) == 3
    for (_, before), (old, _) in pairwise(heard):
        assert old is before  # each observer is told the set the swap replaced
    refused, mended = heard[1][1], heard[2][1]
    assert "acme" not in refused.engines and refused.refused_orgs == {"acme"}
    assert "acme" in mended.engines and not mended.refused_orgs
    assert reloader.served is mended and also == [first, refused, mended]
    assert counted.counts == {
        "reloaded": 2,
        "reload_failed": 1,
        "row_refused:org": 1,
        "org_updated:whole": 1,  # acme mended: loaded whole (an edited row has no change set)
    }


def test_a_refusal_is_counted_once_however_often_it_is_seen(store: OrgStore) -> None:
    _tamper(store, "acme")
    counted = Counted()
    reloader = Reloader(store, PolicyRef.shipped(), None, LoadOptions("cedar"), counted)
    reloader.load()
    reloader.load()  # fresh caches: every org tried again
    assert reloader.reload_if_changed() is False
    # the refusal once; the row the store vouched for wrongly once per attempt to load it
    assert counted.counts == {"reload_failed": 1, "row_refused:org": 2}


def _line(metrics: Metrics, name: str) -> str:
    return next(x for x in metrics.render().decode().splitlines() if x.startswith(name))


def test_metrics_and_readiness_hear_the_swaps(store: OrgStore) -> None:
    metrics = Metrics()
    options = LoadOptions("cedar", cache_size=100)
    reloader = Reloader(store, PolicyRef.shipped(), None, options, metrics)
    readiness = Readiness(reloader)
    reloader.subscribe(metrics.swapped)
    reloader.subscribe(readiness.swapped)
    first = reloader.load()
    assert readiness.problem(log_healthy=True) is None and readiness.last_error is None
    version = first.policies.version
    assert _line(metrics, "authz_policy_info") == f'authz_policy_info{{version="{version}"}} 1.0'
    acme = first.engines["acme"]
    for _ in range(3):  # two hits in the engine the swap below retires
        acme.decide(Request("asha", "view", "invoice", "inv-1"))

    _tamper(store, "acme")
    assert reloader.reload_if_changed() is True
    assert readiness.served is reloader.served
    assert (readiness.last_error or "").startswith("org:acme: version 2 not served: ")
    served = reloader.served
    assert served is not None
    assert readiness.details()["refused"] == {"org:acme": served.refused["org:acme"]}
    assert metrics.reload_failures == 1

    # the retired engine's hits were carried at the swap, though no engine holds them now
    assert (
        _line(metrics, "authz_decision_cache_hits_total") == "authz_decision_cache_hits_total 2.0"
    )

    _mend(store, "acme")
    assert reloader.reload_if_changed() is True
    assert readiness.last_error is None and readiness.details()["refused"] == {}
