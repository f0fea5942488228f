"""Which driver a store's location opens: a postgresql:// URL PostgreSQL, a path SQLite.

psycopg is imported only when a PostgreSQL store is opened: a command on a SQLite store (or
none) never pays for it.
"""

from __future__ import annotations

from pathlib import Path

from suite_authz.engine.store.db import Database, PoolSettings, StoreError, is_postgres
from suite_authz.engine.store.sqlite import SqliteDatabase


def open_database(
    location: str | Path, pool: PoolSettings | None = None, *, read_only: bool = False
) -> Database:
    """`read_only`: a SQLite store must exist and is opened read-only (a PostgreSQL store is
    only read by its callers, and connecting creates nothing)."""
    if is_postgres(location):
        from suite_authz.engine.store.postgres import PostgresDatabase

        return PostgresDatabase(str(location), pool or PoolSettings())
    if isinstance(location, str) and "://" in location:
        raise StoreError(
            f"--store {location}: not a store: give a SQLite file's path or a postgresql:// URL"
        )
    return SqliteDatabase(Path(location), read_only=read_only)
