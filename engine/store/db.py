"""The two databases a store can live in, behind one small interface.

The store's own logic (engine/store/org_store.py, publication.py, migration/apply.py) writes
its SQL once,
with `?` placeholders and what SQLite and PostgreSQL both understand, and asks a `Database`
for three things: rows of a read, a write transaction that holds the store's one writer lock
(so that two imports, activations or migration applies never interleave, whichever process
or machine runs them), and a change notice sent when that transaction commits.

- SQLite (a file path; the embedded default): one connection per thread, WAL, and
  `BEGIN IMMEDIATE` as the writer lock. Notices are not sent: sidecars on one file poll.
- PostgreSQL (a `postgresql://` URL; engine/store/postgres.py): a connection pool, a
  transaction-scoped advisory lock as the writer lock, NOTIFY as the notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from suite_authz.engine.core.errors import AuthzError, Unavailable

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StoreError(AuthzError):
    """The store cannot be opened or does not hold what was asked for."""


class StoreUnreachable(StoreError, Unavailable):
    """The store's database did not answer (down, unreachable, or too slow): nothing was
    read or written. A server keeps answering from what it last loaded."""


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """A write transaction: statements with `?` placeholders, committed together or not."""

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor: ...


class Database(Protocol):
    driver: str  # "sqlite" or "postgres"
    where: str  # for messages: the path, or the URL without its password
    timeout: float  # the longest one statement may wait before it fails

    def read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    def transaction(self) -> AbstractContextManager[Tx]: ...

    def notify(self, tx: Tx, change: dict[str, object]) -> None: ...

    def tables(self, tx: Tx | None = None) -> set[str]: ...

    def script(self, tx: Tx, sql: str) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """How a PostgreSQL store is reached (SQLite ignores these)."""

    min_size: int = 1
    max_size: int = 4
    # a statement that runs longer is cancelled: a stuck database must not stall a reload
    statement_timeout: float = 5.0
    # how long to wait for a connection (new or from the pool) before calling it unreachable
    connect_timeout: float = 5.0


def is_postgres(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def statements(sql: str) -> list[str]:
    """A migration's statements (ours never hold a `;` inside a literal)."""
    return [s.strip() for s in sql.split(";") if s.strip()]


@runtime_checkable
class Notices(Protocol):
    """A store that pushes its changes as they commit (PostgreSQL's LISTEN/NOTIFY), and can
    prove its listener alive with a heartbeat that comes back through the same channel."""

    def changes(self, timeout: float) -> list[dict[str, Any]]: ...

    def heartbeat(self, n: int) -> None: ...

    def drop_listener(self) -> None: ...
