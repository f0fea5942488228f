"""A reload never serves half-written policy files, never lets a
refused edit hold back a revocation, and never hangs on what it finds in the policy folder.
Each test failed on 4b6dd84."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store import StoreUnreachable
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from suite_authz.server.state import State
from tests.api.conftest import evaluation
from tests.conftest import DEMO, POLICIES

LEGACY = POLICIES / "examples" / "legacy-org.json"
# D7: the demo org makes `discount` read-only on invoices for Books integration users.
READ_ONLY_EDIT = {
    **evaluation("asha", "edit", "invoice:inv-1"),
    "resource": {"type": "invoice", "id": "inv-1", "properties": {"fields": ["discount"]}},
}


def _decision(client: TestClient, body: dict[str, object]) -> bool:
    r = client.post("/access/v1/evaluation", json=body)
    assert r.status_code == 200, r.text
    return bool(r.json()["decision"])


def _revoke_asha(store: Path) -> None:
    data = json.loads(DEMO.read_text())
    asha = next(u for u in data["users"] if u["id"] == "asha")
    del asha["enrolments"]  # her only seat
    OrgStore(store).import_snapshot(json.dumps(data), load_policies().catalogue)


@pytest.fixture
def settling(served: tuple[TestClient, State, Path]) -> tuple[TestClient, State, Path]:
    """A development server over a policy folder, polled by hand as its watcher would."""
    served[1].settle = True
    return served


def test_an_emptied_policy_file_is_never_served(
    served: tuple[TestClient, State, Path],
) -> None:
    client, state, tmp = served
    assert _decision(client, READ_ONLY_EDIT) is False
    (tmp / "policies" / "fields.cedar").write_text("")  # what open(..., "w") leaves first
    assert state.reload_if_changed() is False
    assert _decision(client, READ_ONLY_EDIT) is False
    assert "holds no policy" in (state.last_error or "")


def test_a_file_cut_short_or_moved_away_is_not_taken_until_it_settles(
    settling: tuple[TestClient, State, Path],
) -> None:
    client, state, tmp = settling
    target = tmp / "policies" / "fields.cedar"
    full = target.read_text()
    cut = full[: full.index("@id", full.index("@id") + 1)]  # the first policy only
    for partial in (cut, None, cut):
        if partial is None:
            target.unlink()  # moved away, as a checkout does before writing
        else:
            target.write_text(partial)
        assert state.reload_if_changed() is False  # seen once: maybe still being written
        assert _decision(client, READ_ONLY_EDIT) is False
    target.write_text(full)  # the writer finishes
    state.reload_if_changed()
    state.reload_if_changed()
    assert _decision(client, READ_ONLY_EDIT) is False


def test_a_refused_policy_edit_never_holds_back_a_revocation(
    served: tuple[TestClient, State, Path],
) -> None:
    client, state, tmp = served
    ask = evaluation("asha", "create", "estimate")
    assert _decision(client, ask) is True
    broken = tmp / "policies" / "integration_users.cedar"
    broken.write_text(
        broken.read_text() + "\npermit (principal, action, resource) when { oops };\n"
    )
    assert state.reload_if_changed() is False  # the edit is refused
    _revoke_asha(tmp / "orgs.sqlite3")
    assert state.reload_if_changed() is True  # ... and the org is taken all the same
    assert _decision(client, ask) is False
    assert state.metrics.reload_failures == 1
    state.reload_if_changed()
    assert state.metrics.reload_failures == 1  # counted once, not once per poll


def test_one_broken_stored_org_never_holds_back_the_others(tmp_path: Path) -> None:
    store = tmp_path / "orgs.sqlite3"
    catalogue = load_policies().catalogue
    OrgStore(store).import_snapshot(DEMO.read_text(), catalogue)
    OrgStore(store).import_snapshot(LEGACY.read_text(), catalogue)
    app, state = build(ServeConfig(store=str(store), reload_interval=0))
    with TestClient(app) as client, sqlite3.connect(store) as db:
        ask = {**evaluation("asha", "create", "estimate"), "context": {"org": "demo"}}
        legacy = {**evaluation("olga", "view", "invoice"), "context": {"org": "legacy"}}
        assert client.post("/access/v1/evaluation", json=legacy).status_code == 200
        db.execute(  # written behind the store's back: a snapshot that does not load
            "UPDATE orgs SET snapshot = '{}', sha256 = 'x', version = 2 WHERE id = 'legacy'"
        )
        db.commit()
        _revoke_asha(store)
        assert state.reload_if_changed() is True
        assert _decision(client, ask) is False  # demo's revocation is served
        # legacy's stored snapshot is version 2 and does not load: never answered from 1
        r = client.post("/access/v1/evaluation", json=legacy)
        assert r.status_code == 503 and "org `legacy`" in r.json()["message"]
        ready = client.get("/readyz").json()
        assert ready["orgs"] == {"demo": 2}
        assert "org:legacy" in ready["refused"]
        state.reload_if_changed()
        assert state.metrics.reload_failures == 1  # counted once
        OrgStore(store).import_snapshot(LEGACY.read_text(), load_policies().catalogue)
        assert state.reload_if_changed() is True  # mended: served again
        assert client.post("/access/v1/evaluation", json=legacy).status_code == 200
        assert "org:legacy" not in client.get("/readyz").json()["refused"]


def test_a_policy_set_an_org_does_not_load_under_serves_the_others_and_not_it(
    served: tuple[TestClient, State, Path],
) -> None:
    """A catalogue that drops a module the org uses: the set is taken (it loads on its own),
    and the org is not answered from the old set, which may be what the new one revokes."""
    client, state, tmp = served
    catalogue = tmp / "policies" / "modules.json"
    data = json.loads(catalogue.read_text())
    del data["modules"]["dashboard"]
    catalogue.write_text(json.dumps(data))
    assert state.reload_if_changed() is True
    r = client.post("/access/v1/evaluation", json=evaluation("asha", "create", "estimate"))
    assert r.status_code == 503
    assert "org:demo" in client.get("/readyz").json()["refused"]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "outside"])
def test_special_files_in_the_policy_folder_are_refused_not_read(
    served: tuple[TestClient, State, Path], kind: str
) -> None:
    client, state, tmp = served
    target = tmp / "policies" / "extra.cedar"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev-zero":
        target.symlink_to("/dev/zero")
    else:
        outside = tmp / "elsewhere.cedar"
        outside.write_text((POLICIES / "fields.cedar").read_text().replace('"', '"x-', 1))
        target.symlink_to(outside)
    assert state.reload_if_changed() is False
    assert _decision(client, READ_ONLY_EDIT) is False
    assert "extra.cedar" in (state.last_error or "")


def test_with_nothing_published_the_server_serves_the_shipped_set(tmp_path: Path) -> None:
    store = tmp_path / "orgs.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    app, state = build(ServeConfig(store=str(store), reload_interval=0))
    with TestClient(app) as client:
        assert client.get("/readyz").json()["policy_source"] == "shipped"
        assert state.reload_if_changed() is False


def test_a_watcher_that_stopped_polling_is_not_ready(
    served: tuple[TestClient, State, Path],
) -> None:
    client, state, _ = served
    assert client.get("/readyz").status_code == 200
    state.watching, state.interval = True, 1.0
    state.last_poll -= 60  # as if a poll had hung for a minute
    r = client.get("/readyz")
    assert r.status_code == 503 and "stalled" in r.json()["message"]
    state.reload_if_changed()
    assert client.get("/readyz").status_code == 200


NO_BOOKS_INTEGRATION_CREATE = """
@id("no-integration-creates")
@rule("D4")
@reason("integration users create nothing for now")
@missing("a membership")
forbid (principal, action == Action::"create", resource)
when { principal has books && !principal.books.member };
"""


def test_a_reload_never_answers_from_the_classes_of_the_policies_before(
    tmp_path: Path,
) -> None:
    """The class cache belongs to one policy version and one org snapshot."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies, ignore=shutil.ignore_patterns("history"))
    store = tmp_path / "orgs.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies(policies).catalogue)
    app, state = build(
        ServeConfig(store=str(store), policies=str(policies), reload_interval=0, decision_cache=0)
    )
    with TestClient(app) as client:
        ask = evaluation("asha", "create", "estimate")
        assert _decision(client, ask) is True
        assert _decision(client, ask) is True  # the second from the class cache
        ready = client.get("/readyz").json()
        assert ready["class_cache"]["demo"]["on"] is True
        metrics = client.get("/metrics").text
        assert "authz_class_cache_hits_total 0.0" not in metrics
        (policies / "extra.cedar").write_text(NO_BOOKS_INTEGRATION_CREATE)
        assert state.reload_if_changed() is True
        assert _decision(client, ask) is False  # the new version's class, not the old one's
        assert _decision(client, evaluation("eli", "create", "estimate")) is False
        (policies / "extra.cedar").unlink()
        assert state.reload_if_changed() is True
        assert _decision(client, ask) is True


def test_a_frozen_heap_still_lets_go_of_the_engines_a_reload_replaced(
    served: tuple[TestClient, State, Path],
) -> None:
    """`authz serve` freezes what a load built (gc.freeze), so that collections
    under load do not walk a big org; a reload must still free the engines it replaced, or
    every revocation would leak an org's worth of memory."""
    import gc
    import weakref

    client, state, tmp = served
    state.freeze_heap = True
    try:
        state.load()
        assert gc.get_freeze_count() > 0
        engine = state.engine_for("demo")
        engine.cycle = engine  # type: ignore[attr-defined]  # only the cyclic collector frees it
        state.load()  # frozen now, cycle and all
        old = weakref.ref(engine)
        del engine
        _revoke_asha(tmp / "orgs.sqlite3")
        assert state.reload_if_changed() is True
        assert old() is None  # collected before the rest was frozen again
        assert _decision(client, evaluation("asha", "create", "estimate")) is False
    finally:
        state.freeze_heap = False
        gc.unfreeze()


def test_a_policy_the_class_key_cannot_read_turns_the_cache_off_at_load_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Never a guessed key; the operator hears it at load and in /readyz."""
    from tests.unit.test_class_cache import COMPUTED

    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies, ignore=shutil.ignore_patterns("history"))
    (policies / "extra.cedar").write_text(COMPUTED)
    store = tmp_path / "orgs.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies(policies).catalogue)
    with caplog.at_level("WARNING", logger="authz.server"):
        app, _ = build(ServeConfig(store=str(store), policies=str(policies), reload_interval=0))
    assert "class cache off: policy `computed-chain`" in caplog.text
    with TestClient(app) as client:
        ready = client.get("/readyz").json()["class_cache"]["demo"]
        assert ready["on"] is False and "computed value" in ready["reason"]
        assert _decision(client, evaluation("asha", "create", "estimate")) is True


@pytest.mark.parametrize("failing", [("versions", "snapshot", "read"), ("snapshot", "row")])
def test_a_store_that_stops_answering_leaves_what_was_loaded_served_and_readyz_degraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: tuple[str, ...]
) -> None:
    """Neither the policy set nor an org is refused for it (a refusal is kept until the text
    changes, and would stop an org being served): the poll fails, and the next one that
    answers catches up. The second case is the store going away between a poll's two reads
    (the versions read, the new snapshot not): before the fleet work that refused the org, and
    every evaluation of it was a 503 until the next import."""
    store = tmp_path / "orgs.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    app, state = build(ServeConfig(store=str(store), reload_interval=0))
    ask = evaluation("asha", "create", "estimate")
    with TestClient(app) as client:
        assert _decision(client, ask) is True
        _revoke_asha(store)

        def gone(*args: object, **kwargs: object) -> object:
            raise StoreUnreachable(f"{store}: cannot read the store: disk I/O error")

        for what in failing:
            monkeypatch.setattr(state.store, what, gone)
        assert state.reload_if_changed() is False
        assert state.reload_if_changed() is False
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert ready.json()["store"]["reachable"] is False
        assert "disk I/O error" in ready.json()["store"]["error"]
        assert ready.json()["refused"] == {} and ready.json()["orgs"] == {"demo": 1}
        assert _decision(client, ask) is True  # what was loaded, until the store answers
        metrics = client.get("/metrics").text
        assert "authz_store_outages_total 1.0" in metrics  # once per outage, not per poll
        assert "authz_store_reachable 0.0" in metrics
        monkeypatch.undo()
        assert state.reload_if_changed() is True
        assert client.get("/readyz").json()["status"] == "ready"
        assert _decision(client, ask) is False  # caught up: the revocation
