"""authz plan: a list view's filter in words, as JSON and as SQL on the example schema. The SQL
it prints is run here, on SQLite tables holding the demo org's records, and must return the
records `authz explain`'s engine allows one by one: the renderer cannot drop a NULL row that
the plan admits (`not (status = x)` admits a record with no status) without this failing."""

from __future__ import annotations

import json
import sqlite3

import pytest

from suite_authz.cli.render_query_plan import COLUMNS, sql, table_of
from suite_authz.engine.core import RECORD_ACTIONS, Engine, Request
from suite_authz.engine.core.entities import EntityLookup
from suite_authz.engine.core.plan import record_attrs
from tests.cli.runner import run
from tests.conftest import DEMO


def plan(*words: str) -> tuple[int, str, str]:
    return run("plan", "--org", str(DEMO), *words)


def _database(engine: Engine) -> sqlite3.Connection:
    """The example schema: a table per record type, a column per attribute a plan reads; each
    record stored as the engine reads it (a record without a status has its default)."""
    db = sqlite3.connect(":memory:")
    lookup = EntityLookup(engine.index)
    modules = engine.policies.catalogue.modules
    for kind in modules:
        db.execute(f"CREATE TABLE {table_of(kind)} (id TEXT PRIMARY KEY, {', '.join(COLUMNS)})")
    for record in engine.org.records:
        entity = lookup(modules[record.type].entity, record.id)
        assert entity is not None
        attrs = record_attrs(entity)
        db.execute(
            f"INSERT INTO {table_of(record.type)} VALUES (?, {', '.join('?' * len(COLUMNS))})",
            [record.id, *(attrs.get(c) for c in COLUMNS)],
        )
    return db


def _allowed(engine: Engine, user: str, action: str, kind: str) -> set[str]:
    return {
        r.id
        for r in engine.org.records
        if r.type == kind and engine.decide(Request(user, action, kind, r.id)).allowed
    }


def test_the_sql_returns_what_the_engine_allows_record_by_record() -> None:
    """Every user, record action and type of the demo org, through the renderer the command
    prints with (the command itself, which loads the org each time, is run on a sample)."""
    engine = Engine.load(DEMO)
    db = _database(engine)
    # a row another system wrote, with no status at all
    db.execute("INSERT INTO invoices (id) VALUES ('inv-nostatus')")
    kinds = sorted({r.type for r in engine.org.records})
    for user in [u.id for u in engine.org.users]:
        for action in sorted(RECORD_ACTIONS):
            for kind in kinds:
                tree = engine.plan(Request(user, action, kind)).to_dict()["condition"]
                where = f"SELECT id FROM {table_of(kind)} WHERE {sql(tree)}"
                rows = {row[0] for row in db.execute(where)} - {"inv-nostatus"}
                assert rows == _allowed(engine, user, action, kind), (user, action, kind, where)


@pytest.mark.parametrize(
    ("user", "action", "kind"),
    [("asha", "edit", "invoice"), ("dana", "approve", "estimate"), ("eli", "view", "report")],
)
def test_the_printed_sql_is_the_filter(user: str, action: str, kind: str) -> None:
    engine = Engine.load(DEMO)
    code, out, err = plan("--subject", user, "--action", action, "--type", kind, "--format", "json")
    assert code == 0, err
    rows = {row[0] for row in _database(engine).execute(json.loads(out)["sql"])}
    assert rows == _allowed(engine, user, action, kind)


def test_a_null_the_plan_admits_is_a_row_the_sql_returns() -> None:
    tree = {"op": "not", "arg": {"op": "eq", "path": "status", "value": "pending_approval"}}
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE invoices (id TEXT, status TEXT)")
    db.executemany("INSERT INTO invoices VALUES (?, ?)", [("a", None), ("b", "pending_approval")])
    assert [r[0] for r in db.execute(f"SELECT id FROM invoices WHERE {sql(tree)}")] == ["a"]


def test_words_exit_codes_and_refusals() -> None:
    code, out, _ = plan("--subject", "asha", "--action", "edit", "--type", "invoice")
    assert code == 0
    assert 'status is not "pending_approval"' in out
    assert "WHERE status <> 'pending_approval' OR status IS NULL" in out
    code, out, _ = plan("--subject", "nobody", "--action", "view", "--type", "invoice")
    assert code == 1 and "may view no invoice record" in out and "unknown subject" in out
    code, _, err = plan("--subject", "asha", "--action", "view", "--type", "user")
    assert code == 2 and "not a finance record type" in err
    code, _, err = plan("--subject", "asha", "--action", "veiw", "--type", "invoice")
    assert code == 2 and "did you mean `view`" in err


@pytest.mark.parametrize(
    "tree",
    [{"op": "eq", "path": "amount", "value": 1}, {"op": "like", "path": "title", "value": "x"}],
)
def test_the_renderer_refuses_what_it_cannot_say(tree: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        sql(tree)
