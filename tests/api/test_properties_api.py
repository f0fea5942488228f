"""Property: whatever JSON arrives, the API answers 200 or 400, never an error page, and an
allow only for a well-formed request about a known user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from tests.conftest import DEMO

USERS = ["asha", "ben", "chen", "olivia", "nobody", 'x" || true || "', ""]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=8),
    st.sampled_from([*USERS, "view", "edit", "estimate", "est-1", "crm"]),
)
entity = st.one_of(
    scalars,
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["user", "estimate", "invoice", "group"]) | scalars,
            "id": st.sampled_from([*USERS, "est-1", "inv-1"]) | scalars,
            "name": st.sampled_from(["view", "create", "delete", "erase"]) | scalars,
            "properties": st.dictionaries(st.text(max_size=6), scalars, max_size=2),
        },
    ),
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "subject": entity,
        "action": entity,
        "resource": entity,
        "context": st.one_of(
            scalars,
            st.dictionaries(
                st.sampled_from(["channel", "explain", "org", "acting_as", "sender", "product"]),
                scalars,
                max_size=3,
            ),
        ),
        "evaluations": st.one_of(
            scalars,
            st.lists(
                st.dictionaries(
                    st.sampled_from(["subject", "action", "resource"]), entity, max_size=3
                ),
                max_size=3,
            ),
        ),
        "page": st.one_of(scalars, st.dictionaries(st.sampled_from(["limit", "token"]), scalars)),
    },
)
PATHS = [
    "/access/v1/evaluation",
    "/access/v1/evaluations",
    "/access/v1/search/resource",
    "/access/v1/search/subject",
    "/access/v1/search/action",
]


def _client(tmp: Path) -> TestClient:
    store = tmp / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    app, _ = build(ServeConfig(store=str(store), reload_interval=0))
    return TestClient(app)


def test_any_json_gets_200_or_400_and_no_unfounded_allow(tmp_path: Path) -> None:
    client = _client(tmp_path)

    @settings(
        suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=400
    )
    @given(st.sampled_from(PATHS), bodies)
    def check(path: str, body: dict[str, Any]) -> None:
        r = client.post(path, json=body)
        assert r.status_code in (200, 400), (r.status_code, r.text)
        out = r.json()
        if r.status_code == 400:
            assert "decision" not in out and out["message"]
            return
        decisions = out.get("evaluations", [out]) if "results" not in out else []
        for d in decisions:
            assert isinstance(d["decision"], bool)
            if d["decision"]:
                assert d["context"]["acting_as"]["user"] in USERS[:4]

    with client:
        check()
