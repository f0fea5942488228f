"""The org store: org snapshots in one SQLite file (WAL), several orgs, versioned.

A snapshot is validated whole before it is written, and written in one transaction, so a bad
snapshot leaves what was stored before exactly as it was. The text is kept as imported, so an
export gives back exactly what came in.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.catalogue import Catalogue
from engine.errors import AuthzError
from engine.model import Org, load_org

DEFAULT_STORE = Path(".authz") / "orgs.sqlite3"
STORE_ENV = "AUTHZ_STORE"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orgs (
    id          TEXT PRIMARY KEY,
    snapshot    TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


class StoreError(AuthzError):
    """The store cannot be opened or does not hold what was asked for."""


@dataclass(frozen=True, slots=True)
class StoredOrg:
    id: str
    version: int
    sha256: str
    imported_at: str
    users: int
    records: int


def default_store_path() -> Path:
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


class OrgStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the org store: {exc}") from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing: BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def import_snapshot(self, text: str, catalogue: Catalogue, where: str = "") -> StoredOrg:
        """Validate, then store as the org's next version. Raises InvalidOrg untouched."""
        org = load_org(text, catalogue, where)
        digest = hashlib.sha256(text.encode()).hexdigest()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.transaction() as db:
            row = db.execute("SELECT version, sha256 FROM orgs WHERE id = ?", (org.id,)).fetchone()
            if row is not None and row[1] == digest:
                version = int(row[0])  # the same snapshot again changes nothing
            else:
                version = 1 if row is None else int(row[0]) + 1
                db.execute(
                    "INSERT INTO orgs (id, snapshot, sha256, version, imported_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                    "snapshot = excluded.snapshot, sha256 = excluded.sha256, "
                    "version = excluded.version, imported_at = excluded.imported_at",
                    (org.id, text, digest, version, now),
                )
        return self.describe(org.id, catalogue)

    def export(self, org_id: str) -> str:
        row = self._db.execute("SELECT snapshot FROM orgs WHERE id = ?", (org_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no org `{org_id}` (known: {self._known()})")
        return str(row[0])

    def load(self, org_id: str, catalogue: Catalogue) -> Org:
        return load_org(self.export(org_id), catalogue)

    def version(self, org_id: str) -> int:
        row = self._db.execute("SELECT version FROM orgs WHERE id = ?", (org_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no org `{org_id}` (known: {self._known()})")
        return int(row[0])

    def ids(self) -> list[str]:
        return [str(r[0]) for r in self._db.execute("SELECT id FROM orgs ORDER BY id")]

    def describe(self, org_id: str, catalogue: Catalogue) -> StoredOrg:
        row = self._db.execute(
            "SELECT id, version, sha256, imported_at, snapshot FROM orgs WHERE id = ?", (org_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no org `{org_id}` (known: {self._known()})")
        data = json.loads(row[4])
        return StoredOrg(
            str(row[0]),
            int(row[1]),
            str(row[2]),
            str(row[3]),
            len(data.get("users", [])),
            len(data.get("records", [])),
        )

    def _known(self) -> str:
        return ", ".join(f"`{i}`" for i in self.ids()) or "none"
