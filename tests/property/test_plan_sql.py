"""A plan as a WHERE clause (suite_authz.client.plan_sql.where) selects, in a real database, exactly
the records the engine allows one by one: on SQLite and on PostgreSQL (a schema of its own,
tests/postgres.py; skipped saying why when no server is there, failed under
$AUTHZ_TEST_REQUIRE_POSTGRES), with the example CRM schema (tests/crm_schema.py) loaded
from the demo org and from generated orgs. Every plan passes through the client's strict
reader first, as the sidecar's answer would.

The null semantics are checked on their own: for any tree over rows with NULLs, the clause
admits the rows the plan's own `holds` admits; a translation that writes SQL's `NOT` over a
comparison drops the NULL rows, and the same check says so. An unknown path or operator, or
a malformed node, raises: never a clause that admits more."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from suite_authz.client import _wire, plan_sql
from suite_authz.client.plan_sql import PlanError, where
from suite_authz.engine.core import RECORD_ACTIONS, Engine, Request
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.plan import (
    FALSE,
    TRUE,
    And,
    Condition,
    Eq,
    In,
    IsNull,
    Not,
    Or,
    holds,
)
from suite_authz.engine.core.policies import load_policies
from tests.conftest import DEMO, GENERATED, POLICIES
from tests.crm_schema import ATTRIBUTES, crm_table, crm_tables, load, plan_columns, rows
from tests.postgres import fresh_schema
from tests.strategies import orgs

POLICY_SET = load_policies(POLICIES)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = sa.create_engine("sqlite://")
        yield engine
        engine.dispose()
        return
    with fresh_schema() as url:  # skips (or fails, when required) without a server
        _, _, rest = url.partition("://")
        engine = sa.create_engine(f"postgresql+psycopg://{rest}")
        try:
            yield engine
        finally:
            engine.dispose()


# -- the plan selects what the engine allows ------------------------------------------------


def mismatches(db: sa.Engine, engine: Engine, channel: str = "crm") -> list[str]:
    """Each (user, action, record type) whose rows, selected with the plan's clause, differ
    from the records the engine allows one by one on that channel."""
    metadata = sa.MetaData()
    tables = crm_tables(metadata, engine, prefix=f"p{uuid.uuid4().hex[:8]}_")
    records = rows(engine)
    found = []
    with db.begin() as connection:
        metadata.create_all(connection)
        load(connection, tables, engine)
    try:
        with db.connect() as connection:
            for user, action, kind in itertools.product(
                [u.id for u in engine.org.users], sorted(RECORD_ACTIONS), sorted(records)
            ):
                plan = engine.plan(Request(user, action, kind, None, channel))
                answer = _wire.plan(json.loads(json.dumps(plan.to_dict())), user, action, kind)
                table = tables[kind]
                clause = where(answer["condition"], plan_columns(table))
                selected = set(connection.scalars(sa.select(table.c.id).where(clause)))
                allowed = {
                    row["id"]
                    for row in records[kind]
                    if engine.decide(
                        Request(user, action, kind, row["id"], channel), probe=False
                    ).allowed
                }
                if selected != allowed:
                    found.append(
                        f"{user} {action} {kind} ({channel}): selected {sorted(selected)}, "
                        f"allowed {sorted(allowed)}, condition {answer['condition']}"
                    )
    finally:
        metadata.drop_all(db)
    return found


def test_every_plan_on_the_demo_org_selects_what_the_engine_allows(db: sa.Engine) -> None:
    engine = Engine.load(DEMO)
    assert any(row["submitted_by"] is None for row in rows(engine)["estimate"])  # NULLs loaded
    assert mismatches(db, engine) == []


@settings(max_examples=8)
@given(orgs(), st.sampled_from(["crm", "direct"]))
def test_on_generated_orgs_the_plans_select_what_the_engine_allows(
    db: sa.Engine, org: dict[str, Any], channel: str
) -> None:
    GENERATED["plans in sql"] += 1
    engine = Engine(POLICY_SET, load_org(org, POLICY_SET.catalogue), "cedar")
    assert mismatches(db, engine, channel) == []


# -- null semantics, on their own -----------------------------------------------------------

PATHS = ("status", "submitted_by")
VALUES = ("draft", "void", "fay", "dana")
# every combination of a NULL or a value in each column
GRID = [
    {"id": f"g{n}", "status": status, "submitted_by": by}
    for n, (status, by) in enumerate(itertools.product((None, "draft", "void"), (None, "fay")))
]


@pytest.fixture(scope="module")
def grid(db: sa.Engine) -> Iterator[tuple[sa.Engine, sa.Table]]:
    metadata = sa.MetaData()
    table = crm_table(metadata, "record", prefix=f"g{uuid.uuid4().hex[:8]}_")
    with db.begin() as connection:
        metadata.create_all(connection)
        full = [{name: row.get(name) for name in ("id", *ATTRIBUTES)} for row in GRID]
        connection.execute(sa.insert(table), full)
    yield db, table
    metadata.drop_all(db)


def condition(node: Mapping[str, Any]) -> Condition:
    """The engine's condition for a tree (to ask its own `holds`)."""
    match node["op"]:
        case "true":
            return TRUE
        case "false":
            return FALSE
        case "eq":
            return Eq(node["path"], node["value"])
        case "in":
            return In(node["path"], tuple(node["values"]))
        case "is_null":
            return IsNull(node["path"])
        case "not":
            return Not(condition(node["arg"]))
        case "and":
            return And(tuple(condition(a) for a in node["args"]))
        case "or":
            return Or(tuple(condition(a) for a in node["args"]))
    raise ValueError(node)


def selected(grid: tuple[sa.Engine, sa.Table], tree: Mapping[str, Any]) -> set[str]:
    db, table = grid
    with db.connect() as connection:
        query = sa.select(table.c.id).where(where(tree, plan_columns(table)))
        return set(connection.scalars(query))


def admitted(tree: Mapping[str, Any]) -> set[str]:
    return {row["id"] for row in GRID if holds(condition(tree), row)}


def _leaf(op: str) -> st.SearchStrategy[dict[str, Any]]:
    paths = st.sampled_from(PATHS)
    if op == "eq":
        return st.builds(
            lambda p, v: {"op": op, "path": p, "value": v}, paths, st.sampled_from(VALUES)
        )
    if op == "in":
        values = st.lists(st.sampled_from(VALUES), max_size=3)
        return st.builds(lambda p, vs: {"op": op, "path": p, "values": vs}, paths, values)
    if op == "is_null":
        return st.builds(lambda p: {"op": op, "path": p}, paths)
    return st.just({"op": op})


TREES = st.recursive(
    st.one_of([_leaf(op) for op in ("eq", "in", "is_null", "true", "false")]),
    lambda kids: st.one_of(
        st.builds(lambda a: {"op": "not", "arg": a}, kids),
        st.builds(lambda xs: {"op": "and", "args": xs}, st.lists(kids, min_size=1, max_size=3)),
        st.builds(lambda xs: {"op": "or", "args": xs}, st.lists(kids, min_size=1, max_size=3)),
    ),
    max_leaves=8,
)


@settings(max_examples=150)
@given(TREES)
def test_any_tree_selects_the_rows_the_plan_semantics_admit(
    grid: tuple[sa.Engine, sa.Table], tree: dict[str, Any]
) -> None:
    assert selected(grid, tree) == admitted(tree)


NOT_VOID = {"op": "not", "arg": {"op": "eq", "path": "status", "value": "void"}}
NULL_CASES = [
    (NOT_VOID, {"g0", "g1", "g2", "g3"}),  # a NULL status is not "void": admitted
    (
        {"op": "not", "arg": {"op": "in", "path": "status", "values": ["draft", "void"]}},
        {"g0", "g1"},
    ),
    ({"op": "not", "arg": {"op": "is_null", "path": "submitted_by"}}, {"g1", "g3", "g5"}),
    (  # De Morgan: not (status = draft and submitted_by = fay), NULLs on either side admitted
        {
            "op": "not",
            "arg": {
                "op": "and",
                "args": [
                    {"op": "eq", "path": "status", "value": "draft"},
                    {"op": "eq", "path": "submitted_by", "value": "fay"},
                ],
            },
        },
        {"g0", "g1", "g2", "g4", "g5"},
    ),
    (
        {"op": "not", "arg": {"op": "in", "path": "status", "values": []}},
        {f"g{n}" for n in range(6)},
    ),
    ({"op": "in", "path": "status", "values": []}, set()),
    ({"op": "true"}, {f"g{n}" for n in range(6)}),
    ({"op": "not", "arg": {"op": "true"}}, set()),
]


@pytest.mark.parametrize(("tree", "expected"), NULL_CASES)
def test_a_negated_leaf_admits_the_rows_whose_column_is_null(
    grid: tuple[sa.Engine, sa.Table], tree: dict[str, Any], expected: set[str]
) -> None:
    assert admitted(tree) == expected  # the plan's semantics, as the engine reads them
    assert selected(grid, tree) == expected


def test_a_translation_writing_sql_not_drops_the_null_rows_and_is_caught(
    grid: tuple[sa.Engine, sa.Table], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`NOT (status = 'void')` is NULL where status is NULL, so SQL's NOT over the plain
    clause loses those rows: the comparison with the plan's semantics sees it."""
    exact = plan_sql._clause

    def naive(node: Mapping[str, Any], columns: Any, *, negate: bool) -> Any:
        if node["op"] == "not":
            return sa.not_(exact(node["arg"], columns, negate=False))
        return exact(node, columns, negate=negate)

    monkeypatch.setattr(plan_sql, "_clause", naive)
    assert selected(grid, NOT_VOID) == {"g2", "g3"}  # the NULL-status rows g0, g1 are gone
    assert selected(grid, NOT_VOID) != admitted(NOT_VOID)


# -- what cannot be translated exactly raises ------------------------------------------------

COLUMNS = plan_columns(crm_table(sa.MetaData(), "invoice"))


@pytest.mark.parametrize(
    ("tree", "why"),
    [
        ({"op": "eq", "path": "owner", "value": "fay"}, "reads `owner`, which the column mapping"),
        (
            {"op": "or", "args": [{"op": "true"}, {"op": "is_null", "path": "region"}]},
            "`region`",
        ),
        ({"op": "like", "path": "title", "value": "Sub%"}, 'unknown operator "like"'),
        ({"op": "not", "arg": {"op": "xor", "args": []}}, "condition.arg: unknown operator"),
        ({"op": "eq", "path": "status", "value": "x", "negate": True}, "`eq` takes the keys"),
        ({"op": "and", "args": []}, "`args` is not a non-empty list"),
        ({"op": "in", "path": "status", "values": [None]}, "`values` is not a list"),
        ("status = 'draft'", "not an object"),
    ],
)
def test_an_unknown_path_or_operator_or_a_malformed_node_raises(tree: Any, why: str) -> None:
    with pytest.raises(PlanError) as caught:
        where(tree, COLUMNS)
    assert why in str(caught.value)


def test_an_unknown_path_is_named_even_when_the_tree_would_never_read_it() -> None:
    """`true or region is null` admits everything whatever `region` is; it still raises, so a
    mapping missing a column is found on the first plan that names it, not on a later one."""
    with pytest.raises(PlanError, match="`region`"):
        where({"op": "or", "args": [{"op": "true"}, {"op": "is_null", "path": "region"}]}, {})
