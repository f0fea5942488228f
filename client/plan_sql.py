"""A plan's condition as a SQLAlchemy 2 Core WHERE clause: a list view filters in its own
database (`pip install 'suite-authz-client[sqlalchemy]'`; the client itself never needs
SQLAlchemy, which only this module imports).

    plan = authz.plan_resources(user_id, "view", "invoice")
    columns = {"status": invoices.c.status, "submitted_by": invoices.c.submitted_by}
    rows = db.execute(select(invoices.c.id).where(where(plan["condition"], columns)))

The clause admits a row exactly when the plan admits the record, with the plan's null
semantics: an attribute a record lacks is NULL; `eq` and `in` are false on it, and `not` is
plain boolean negation, so `not (status = "void")` admits a row whose status is NULL. SQL's
own `NOT (status = 'void')` is NULL there and would drop it, so no `NOT` is ever written
over a comparison: negation is pushed down to the leaves (De Morgan), and a negated leaf is
written out whole (`status != 'void' OR status IS NULL`). A path the mapping lacks, an
operator or a node this module does not know, raise PlanError: never a clause that admits
more than the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from . import _wire


class PlanError(ValueError):
    """The tree cannot be made a WHERE clause exactly: the message names the path or operator
    (or the malformed node)."""


def where(tree: Any, columns: Mapping[str, ColumnElement[Any]]) -> ColumnElement[bool]:
    """`tree` (a plan's `condition`) as a boolean clause over `columns`, one per path the tree
    reads (`status`, `submitted_by`, `folder`, `title`, `module`: the record's attributes as
    the org names them). The whole tree is checked before anything is built."""
    try:
        _wire.tree(tree)
    except _wire.Refused as exc:
        raise PlanError(str(exc)) from None
    missing = sorted(_paths(tree) - set(columns))
    if missing:
        mapped = ", ".join(sorted(columns)) or "nothing"
        raise PlanError(
            f"the plan reads {', '.join(f'`{p}`' for p in missing)}, which the column mapping "
            f"does not have (it maps {mapped})"
        )
    return _clause(tree, columns, negate=False)


def _paths(node: Mapping[str, Any]) -> set[str]:
    if "path" in node:
        return {node["path"]}
    found: set[str] = set()
    for child in node.get("args", [node["arg"]] if "arg" in node else []):
        found |= _paths(child)
    return found


def _clause(
    node: Mapping[str, Any], columns: Mapping[str, ColumnElement[Any]], *, negate: bool
) -> ColumnElement[bool]:
    """The clause that is TRUE exactly when the node holds (or, with `negate`, exactly when it
    does not): on a NULL it is FALSE or NULL when the node does not hold, and never NULL when
    it does, so that AND and OR of such clauses stay exact."""
    op = node["op"]
    if op in ("true", "false"):
        return sa.true() if (op == "true") != negate else sa.false()
    if op == "not":
        return _clause(node["arg"], columns, negate=not negate)
    if op in ("and", "or"):
        parts = [_clause(arg, columns, negate=negate) for arg in node["args"]]
        # De Morgan: not (a and b) is (not a) or (not b)
        return sa.and_(*parts) if (op == "and") != negate else sa.or_(*parts)
    column = columns[node["path"]]
    if op == "is_null":
        return column.is_not(None) if negate else column.is_(None)
    if op == "eq":
        value = node["value"]
        return sa.or_(column != value, column.is_(None)) if negate else column == value
    if op == "in":
        values = list(node["values"])
        if not values:  # in nothing: false, whatever the column holds
            return sa.true() if negate else sa.false()
        return sa.or_(column.not_in(values), column.is_(None)) if negate else column.in_(values)
    raise PlanError(f"unknown operator `{op}`")  # _wire.tree lets none through; kept closed
