"""/readyz says which shard a sidecar serves and which orgs it answers over change sets."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.testclient import TestClient

from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.state import State


def test_readyz_says_what_is_answered_over_change_sets(
    served: tuple[TestClient, State, Path],
) -> None:
    client, state, tmp_path = served
    ready = client.get("/readyz").json()
    assert ready["shard"] is None and ready["changes_overlaid"] == {}
    store = OrgStore(tmp_path / "orgs.sqlite3")
    store.apply_change_set(
        json.dumps({"org": "demo", "changes": [REVOKE_DANA]}),
        state.reloader.served.policies.catalogue,
    )  # type: ignore[union-attr]
    assert state.reload_if_changed()
    ready = client.get("/readyz").json()
    # dana's user entity; her seats were memberships, so the org's count did not change
    assert ready["changes_overlaid"] == {"demo": {"entities": 1, "shared": False}}
    assert ready["orgs"] == {"demo": 2}


REVOKE_DANA = {"op": "user", "id": "dana", "set": {"memberships": []}}
