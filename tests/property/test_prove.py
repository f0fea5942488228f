"""`make prove`: every property on every generated org, sharing the work they have in common.

Each property is its own test for `make test` (test_properties.py, test_differential.py,
test_migration_properties.py). For the deep run, generating an org and building its engine
cost more than most properties' own checks, so here one generated org serves every property of
its family: the record properties P1-P6 and the differential check on one org and one Cedar
engine (a check that changes the org works on a copy), the migration properties M1-M3 on one
org, one store and one memo of the rights the impact report and the checks both ask for.
Each check counts its own orgs, so `make prove` still reports orgs per property.

Each family runs as SHARDS tests of an equal share of the profile's examples, so that the two
cores `make prove -n 2` uses stay busy to the end; the counts add up per property.

Run with the `prove` marker only (`make prove`); `make test` deselects it.
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import suite_authz.engine.migration.impact as impact_module
from suite_authz.engine.core import Engine
from tests.conftest import SECONDS
from tests.property import test_migration_properties as m
from tests.property import test_properties as p
from tests.property.test_differential import POLICY_SET, check_agreement
from tests.strategies import orgs, record_requests

pytestmark = pytest.mark.prove
SHARDS = 4
SHARE = settings(max_examples=-(-settings().max_examples // SHARDS))  # rounded up
shards = pytest.mark.parametrize("shard", range(SHARDS))


@shards
@SHARE
@given(orgs(), st.data())
def test_record_properties_on_one_org(shard: int, org: dict[str, Any], data: st.DataObject) -> None:
    engine = p.engine_for(org)
    subject = data.draw(st.sampled_from([u["id"] for u in org["users"] if u["id"] != "owner"]))
    req = data.draw(record_requests(org, subject))
    timed("P1 non-interference", p.check_p1_non_interference, org, req, data, engine)
    timed("P1 books non-member bound", p.check_p1_books_bound, org, req, engine)
    timed("P2 no membership", p.check_p2_no_membership, copy.deepcopy(org), req)
    timed("P3 union", p.check_p3_union, copy.deepcopy(org), req)
    timed("P4 unified", p.check_p4_unified, copy.deepcopy(org), req)
    timed("P5 fail closed", p.check_p5_fail_closed, org, data.draw(p.JUNK_REQUEST), engine)
    timed("P5 own identity", p.check_p5_own_identity, org, req, engine)
    timed("P6 decision cache", p.check_p6_cache, org, data, engine)
    timed("differential cedar/polar", check_agreement, POLICY_SET, org, data, engine)


@shards
@SHARE
@given(
    m.migrating_orgs(), st.sampled_from(("replace_snapshot", "append_audit")), st.integers(0, 99)
)
def test_migration_properties_on_one_org(
    shard: int, case: tuple[dict[str, Any], list[dict[str, Any]], date], where: str, pick: int
) -> None:
    org, usage, as_of = case
    with shared_rights(), tempfile.TemporaryDirectory() as folder:
        timed("M3 legacy cedar/polar", m.check_m3_legacy, org, pick)
        store = m._store(folder, org)
        # M2 leaves the store as it was (that is its property), so M1 starts from the same org.
        timed("M2 migration failure", m.check_m2_failure, store, org, usage, as_of, where)
        timed("M1 migration apply", m.check_m1_apply, store, org, usage, as_of)


def timed(name: str, check: Callable[..., None], *args: Any) -> None:
    started = time.perf_counter()
    try:
        check(*args)
    finally:
        SECONDS[name] += time.perf_counter() - started


@contextmanager
def shared_rights() -> Iterator[None]:
    """Within one org's checks, ask each (policy set, backend, org, lender) for rights once:
    the impact report, M1's own check and M3 ask the same questions of the same orgs."""
    original = impact_module.rights_by_user
    memo: dict[tuple[str, str, str, str | None], Any] = {}

    def remembered(engine: Engine, borrowed_from: str | None = None) -> Any:
        key = (
            engine.version,
            engine.backend.name,
            engine.org.model_dump_json(),
            borrowed_from,
        )
        if key not in memo:
            memo[key] = original(engine, borrowed_from)
        return copy.deepcopy(memo[key])

    impact_module.rights_by_user = remembered  # type: ignore[assignment]
    m.rights_by_user = remembered  # type: ignore[assignment]
    try:
        yield
    finally:
        impact_module.rights_by_user = original
        m.rights_by_user = original
