"""An example CRM schema for list views filtered by a plan (docs/api.md, "Filtering a list view in
your database"): one table per record type, a row per record, a column per attribute a plan
may read, NULL where the record has no such attribute. Loaded from an org the way the
planner reads it (`record_attrs` of the record's entity), so a default the engine fills in is
stored as the engine sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from suite_authz.engine.core import Engine
from suite_authz.engine.core.entities import EntityLookup
from suite_authz.engine.core.plan import record_attrs

# A record's attributes as the org snapshot names them: the paths a plan's condition reads.
ATTRIBUTES = ("status", "submitted_by", "folder", "title", "module")


def table_name(kind: str) -> str:
    """A record type's table: its name in the plural (`invoices`, `sales_orders`), as
    `authz plan` names it in the SQL it prints."""
    return kind + ("es" if kind.endswith("s") else "s")


def crm_table(metadata: sa.MetaData, kind: str, prefix: str = "") -> sa.Table:
    """The table of one record type (`invoices`, `reports`, ...): its id, then one nullable
    text column per attribute."""
    return sa.Table(
        f"{prefix}{table_name(kind)}",
        metadata,
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=True),
        sa.Column("submitted_by", sa.Text, nullable=True),  # a user id
        sa.Column("folder", sa.Text, nullable=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("module", sa.Text, nullable=True),
    )


def plan_columns(table: sa.Table) -> dict[str, ColumnElement[Any]]:
    """The mapping `where` takes: each path a plan reads, to its column."""
    return {name: table.c[name] for name in ATTRIBUTES}


def crm_tables(metadata: sa.MetaData, engine: Engine, prefix: str = "") -> dict[str, sa.Table]:
    """A table for each record type of the engine's catalogue."""
    kinds = sorted(
        kind for kind in engine.policies.catalogue.modules if kind not in ("user", "org")
    )
    return {kind: crm_table(metadata, kind, prefix) for kind in kinds}


def rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Each record of the engine's org as a row of its type's table, attributes as the
    planner reads them. An attribute the schema has no column for is an error here, not a
    column silently left out (a plan reading it could not be translated)."""
    lookup = EntityLookup(engine.index)
    found: dict[str, list[dict[str, Any]]] = {}
    for record in engine.org.records:
        entity_type = engine.policies.catalogue.modules[record.type].entity
        entity = lookup(entity_type, record.id)
        if entity is None:
            raise LookupError(f"no entity for {record.type}:{record.id}")
        attrs = record_attrs(entity)
        unknown = sorted(set(attrs) - set(ATTRIBUTES))
        if unknown:
            raise ValueError(f"{record.type}:{record.id} has attributes with no column: {unknown}")
        row = {"id": record.id, **{name: attrs.get(name) for name in ATTRIBUTES}}
        found.setdefault(record.type, []).append(row)
    return found


def load(connection: sa.Connection, tables: Mapping[str, sa.Table], engine: Engine) -> None:
    for kind, records in rows(engine).items():
        connection.execute(sa.insert(tables[kind]), records)
