"""A query plan in words and as SQL, for whoever writes the list view.

The SQL is for the example schema (docs/api.md, "Filtering a list view in your database"):
one table per record type named after it in the plural, one column per attribute the plan
reads. It is shown, never run: literals are quoted here for reading, and a program builds its
filter from the JSON tree with bound parameters (the client's SQLAlchemy adapter).
"""

from __future__ import annotations

from typing import Any

COLUMNS = ("status", "submitted_by", "folder", "title", "module")


def table_of(kind: str) -> str:
    return kind + ("es" if kind.endswith("s") else "s")


def sql(tree: dict[str, Any]) -> str:
    """The tree as a WHERE clause, with NULL read as the plan reads it: `not (status = x)`
    admits a record with no status, which `NOT (status = 'x')` alone would drop."""
    op = tree["op"]
    if op in ("true", "false"):
        return op.upper()
    if op == "and":
        return " AND ".join(f"({sql(a)})" for a in tree["args"])
    if op == "or":
        return " OR ".join(f"({sql(a)})" for a in tree["args"])
    if op == "not":
        return _negated(tree["arg"])
    return _leaf(tree)


def _leaf(tree: dict[str, Any]) -> str:
    column = _column(tree["path"])
    if tree["op"] == "eq":
        return f"{column} = {_literal(tree['value'])}"
    if tree["op"] == "in":
        return f"{column} IN ({', '.join(_literal(v) for v in tree['values'])})"
    if tree["op"] == "is_null":
        return f"{column} IS NULL"
    raise ValueError(f"a plan's tree has an operator this renderer does not know: {tree['op']}")


def _negated(tree: dict[str, Any]) -> str:
    op = tree["op"]
    if op in ("true", "false"):
        return "FALSE" if op == "true" else "TRUE"
    if op == "not":
        return sql(tree["arg"])
    if op == "and":
        return " OR ".join(f"({_negated(a)})" for a in tree["args"])
    if op == "or":
        return " AND ".join(f"({_negated(a)})" for a in tree["args"])
    if op == "is_null":
        return f"{_column(tree['path'])} IS NOT NULL"
    column = _column(tree["path"])
    inner = (
        _leaf(tree).replace(" = ", " <> ", 1)
        if op == "eq"
        else _leaf(tree).replace(" IN ", " NOT IN ", 1)
    )
    return f"{inner} OR {column} IS NULL"


def _column(path: str) -> str:
    if path not in COLUMNS:
        raise ValueError(f"the example schema has no column for the attribute `{path}`")
    return path


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
