"""`plan_resources` against a real `authz serve` on loopback, then `plan_sql.where` in a real
SELECT: for every user and action of the demo org on four record types, the plan the sidecar
serves is the engine's (its kind and redactions), is accepted by the client's strict reader,
and its clause selects (SQLite, the example CRM schema of tests/crm_schema.py) exactly the
records the sidecar's resource search lists and the engine allows one by one. The per-org and
root paths and the asyncio client answer alike; a sidecar that cannot plan (the Polar backend
plans nothing) answers 422, raised as Unplannable."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from suite_authz.client import AsyncAuthzClient, AuthzClient, Unplannable
from suite_authz.client.plan_sql import where
from suite_authz.engine.core import RECORD_ACTIONS, Engine, Request
from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from tests.api.processes import serving
from tests.conftest import DEMO, POLICIES
from tests.crm_schema import crm_tables, load, plan_columns, rows

LEGACY = POLICIES / "examples" / "legacy-org.json"
# the record types whose plans read each attribute: a status and who submitted it (approvals,
# and records with no submitter: NULL), a folder, a title (the engine's own tests cover every
# type record by record; this one covers the wire)
KINDS = {"estimate", "invoice", "report", "dashboard"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("plans") / "s.sqlite3"
    catalogue = load_policies().catalogue
    for org in (DEMO, LEGACY):
        OrgStore(path).import_snapshot(org.read_text(), catalogue)
    return str(path)


@pytest.fixture(scope="module")
def port(store: str) -> Iterator[int]:
    with serving("--store", store) as p:
        yield p


def test_every_served_plan_selects_what_the_search_lists(port: int) -> None:
    engine = Engine.load(DEMO)
    metadata = sa.MetaData()
    tables = crm_tables(metadata, engine)
    db = sa.create_engine("sqlite://")
    with db.begin() as connection:
        metadata.create_all(connection)
        load(connection, tables, engine)
    kinds = sorted(KINDS)
    assert set(rows(engine)) >= KINDS
    users = [u.id for u in engine.org.users]
    found = []
    with AuthzClient(f"http://127.0.0.1:{port}/demo") as authz, db.connect() as connection:
        for user, action, kind in itertools.product(users, sorted(RECORD_ACTIONS), kinds):
            plan = authz.plan_resources(user, action, kind)
            expected = engine.plan(Request(user, action, kind)).to_dict()
            # the same plan as the engine's, up to the order of and/or's args (which follows
            # the order Cedar gives its residuals in)
            for key in ("kind", "subject", "action", "resource_type", "redact_fields"):
                assert plan.get(key) == expected.get(key), (user, action, kind, key)
            table = tables[kind]
            query = sa.select(table.c.id).where(where(plan["condition"], plan_columns(table)))
            selected = set(connection.scalars(query))
            listed = {r["id"] for r in authz.search_resources(user, action, kind, limit=1000)}
            # and, apart from the sidecar (whose search now answers from the plan too), the
            # records the engine allows one by one
            decided = {
                r.id
                for r in engine.org.records
                if r.type == kind and engine.decide(Request(user, action, kind, r.id)).allowed
            }
            if not selected == listed == decided:
                found.append(f"{user} {action} {kind}: {selected} {listed} {decided}")
    db.dispose()
    assert found == []


def test_the_root_path_and_the_asyncio_client_plan_alike(port: int) -> None:
    with AuthzClient(f"http://127.0.0.1:{port}/legacy") as authz:
        per_org = authz.plan_resources("olga", "view", "estimate")

    async def ask() -> dict[str, Any]:
        async with AsyncAuthzClient(f"http://127.0.0.1:{port}") as authz:
            return await authz.plan_resources("olga", "view", "estimate", context={"org": "legacy"})

    assert asyncio.run(ask()) == per_org and per_org["subject"] == "olga"


def test_a_user_the_org_lacks_gets_a_never_plan_saying_why(port: int) -> None:
    with AuthzClient(f"http://127.0.0.1:{port}/demo") as authz:
        plan = authz.plan_resources("nobody", "view", "invoice")
    assert plan["kind"] == "never" and plan["condition"] == {"op": "false"}
    assert any("nobody" in reason for reason in plan["reasons"])


def test_a_sidecar_that_cannot_plan_is_unplannable_never_an_empty_plan(store: str) -> None:
    with (
        serving("--store", store, "--backend", "polar") as polar,
        AuthzClient(f"http://127.0.0.1:{polar}/demo", raise_errors=False) as authz,
        pytest.raises(Unplannable) as caught,
    ):
        authz.plan_resources("asha", "view", "invoice")
    assert caught.value.status == 422 and "search/resource" in str(caught.value)
