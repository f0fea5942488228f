"""The SQLite driver: the embedded default, a file beside the sidecar.

One connection per thread, WAL, and `BEGIN IMMEDIATE` as the store's writer lock. Notices
are not sent: sidecars on one file poll.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

from suite_authz.engine.core.reading import file_kind
from suite_authz.engine.store.db import StoreError, StoreUnreachable, Tx, statements


class SqliteDatabase:
    driver = "sqlite"
    timeout = 5.0  # busy_timeout

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """`read_only`: the store must exist, and nothing is created or written (`authz
        store check`); else a missing store is created, its owner's alone."""
        self.path = path
        self.where = str(path)
        self.read_only = read_only
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            if not self._regular_file():
                if read_only:
                    raise StoreError(f"{path}: no store there (nothing was created)")
                self._create()
            self._connection()
        except OSError as exc:
            raise StoreError(f"{path}: cannot open the org store: {exc.strerror}") from None
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the org store: {exc}") from None

    def _regular_file(self) -> bool:
        """Whether a store file is there; a directory, device, FIFO or socket in its place is
        refused by name (SQLite would fail on it later, with a message naming none)."""
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            if os.path.islink(self.path):  # SQLite would make its target, 0644
                raise StoreError(f"{self.path}: not a store: a symlink to a missing file") from None
            return False
        if not stat.S_ISREG(mode):
            raise StoreError(f"{self.path}: not a store: {file_kind(mode)}, not a regular file")
        return True

    def _create(self) -> None:
        """The store holds the masking, page-token and plan-signing keys: made 0600 (and its
        directories 0700) before SQLite opens it, since SQLite makes a new file 0644 less the
        umask. SQLite gives the -wal and -shm files the database file's own mode."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
        with suppress(FileExistsError):  # made meanwhile by another process: theirs stands
            os.close(os.open(self.path, flags, 0o600))

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection: one shared connection would let a reader on one thread
        see another thread's transaction before it commits."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            if self.read_only:
                # mode=ro: SQLite neither creates the file nor writes to it
                uri = f"file:{quote(str(self.path.absolute()))}?mode=ro"
                db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            else:
                db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._wal(db)
            db.execute("PRAGMA busy_timeout=5000")
            self._local.db = db
            with self._lock:
                self._opened.append(db)
        return db

    def _wal(self, db: sqlite3.Connection) -> None:
        """WAL, retried while the store is locked: SQLite answers "database is locked" to a
        journal mode change at once, without waiting out the busy timeout, while another
        connection holds a lock, as when sidecars start together on a new store and one of
        them is creating its tables (1 in 20 in test_a_new_store_is_made_at_the_current_
        version_once_however_many_open_it once the schema had a third step)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self._connection().execute(sql, tuple(params)).fetchall())
        except sqlite3.OperationalError as exc:  # gone, unreadable, locked past the timeout
            raise StoreUnreachable(f"{self.where}: cannot read the store: {exc}") from None
        except sqlite3.Error as exc:
            raise StoreError(f"{self.where}: cannot read the store: {exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """All or nothing: BEGIN IMMEDIATE (the writer lock) ... COMMIT, or ROLLBACK."""
        db = self._connection()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.where}: cannot write to the store: {exc}") from None
        try:
            yield db
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise StoreError(f"{self.where}: cannot write to the store: {exc}") from None
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise StoreError(f"{self.where}: cannot write to the store: {exc}") from None

    def notify(self, tx: Tx, change: dict[str, object]) -> None:
        """Sidecars over one SQLite file poll it: there is no one to tell."""

    def tables(self, tx: Tx | None = None) -> set[str]:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        rows = tx.execute(sql).fetchall() if tx is not None else self.read(sql)
        return {str(r[0]) for r in rows}

    def script(self, tx: Tx, sql: str) -> None:
        for statement in statements(sql):
            tx.execute(statement)

    def journal_mode(self) -> str:
        return str(self.read("PRAGMA journal_mode")[0][0])

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for db in opened:
            db.close()
        self._local = threading.local()
