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
from dataclasses import replace as replace_
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from suite_authz.engine.catalogue import Catalogue
from suite_authz.engine.errors import AuthzError
from suite_authz.engine.model import Org, load_org

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
CREATE TABLE IF NOT EXISTS policy_sets (
    version      TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    published_at TEXT NOT NULL,
    published_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_activations (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    version      TEXT NOT NULL REFERENCES policy_sets(version),
    activated_at TEXT NOT NULL,
    activated_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
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


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


class StoreError(AuthzError):
    """The store cannot be opened or does not hold what was asked for."""


class StaleSnapshot(StoreError):
    """An import of a snapshot the org held before: refused unless asked to replace."""


@dataclass(frozen=True, slots=True)
class StoredOrg:
    id: str
    version: int
    sha256: str
    imported_at: str
    users: int
    records: int
    unchanged: bool = False  # an import of the text already stored: nothing was written


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    org_id: str
    at: str
    actor: str
    action: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "org": self.org_id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "detail": self.detail,
        }


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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

    def read(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only query, for the modules that keep their own tables here."""
        try:
            return list(self._db.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot read the store: {exc}") from None

    def secret(self, name: str) -> bytes:
        """A random per-deployment key kept in the store (made on first use), shared by every
        server over it: page tokens and masked log values stay valid across restarts."""
        rows = self.read("SELECT value FROM secrets WHERE name = ?", (name,))
        if rows:
            return bytes(rows[0][0])
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)",
                (name, os.urandom(32)),
            )
        return bytes(self.read("SELECT value FROM secrets WHERE name = ?", (name,))[0][0])

    def import_snapshot(
        self,
        text: str,
        catalogue: Catalogue,
        where: str = "",
        *,
        replace: bool = False,
        actor: str = "import",
    ) -> StoredOrg:
        """Validate, then store as the org's next version. Raises InvalidOrg untouched.

        The same text as the stored version changes nothing (`unchanged`). A text the org held
        before (an older version: re-importing it would quietly undo what came after, such as
        a migration) is refused with StaleSnapshot unless `replace`."""
        org = load_org(text, catalogue, where)
        digest = hashlib.sha256(text.encode()).hexdigest()
        now = now_iso()
        with self.transaction() as db:
            row = db.execute("SELECT version, sha256 FROM orgs WHERE id = ?", (org.id,)).fetchone()
            if row is not None and row[1] == digest:
                return replace_(self.describe(org.id), unchanged=True)
            current = 0 if row is None else int(row[0])
            stale = None if replace or row is None else self._stale(db, org, digest, current)
            if stale is not None:
                raise StaleSnapshot(
                    f"org `{org.id}`: {where or 'this snapshot'} {stale}: not replaced; pass "
                    f"--replace to store it anyway, as version {current + 1}"
                )
            version = current + 1
            db.execute(
                "INSERT INTO orgs (id, snapshot, sha256, version, imported_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "snapshot = excluded.snapshot, sha256 = excluded.sha256, "
                "version = excluded.version, imported_at = excluded.imported_at",
                (org.id, text, digest, version, now),
            )
            self.append_audit(
                db,
                org.id,
                actor,
                "org.import",
                {"version": version, "sha256": digest, "source": where, "replaced": replace},
            )
        return self.describe(org.id)

    @staticmethod
    def _stale(db: sqlite3.Connection, org: Org, digest: str, current: int) -> str | None:
        """Why importing `org` would put the store back in time, or None.

        Older: exported before the stored version was (both carry `exported_at`). Or a text
        imported before that a migration has applied over since: importing it again would
        quietly undo the migration. A text the org merely held before, with no migration
        since, is taken: going back to an earlier state by import (re-granting, or revoking
        what a later import granted) is an ordinary edit and must never be blocked."""
        stored = db.execute("SELECT snapshot FROM orgs WHERE id = ?", (org.id,)).fetchone()[0]
        before = json.loads(stored).get("exported_at")
        if isinstance(before, str) and org.exported and org.exported < _instant(before):
            return (
                f"was exported at {org.exported_at}, before the stored version {current} "
                f"(exported at {before})"
            )
        imported = db.execute(
            "SELECT seq, detail FROM audit WHERE org_id = ? AND action = 'org.import' "
            "ORDER BY seq DESC",
            (org.id,),
        ).fetchall()
        last = next((r for r in imported if json.loads(r[1]).get("sha256") == digest), None)
        if last is None:
            return None
        since = db.execute(
            "SELECT at, actor, detail FROM audit WHERE org_id = ? AND seq > ? "
            "AND action = 'migration.apply' ORDER BY seq LIMIT 1",
            (org.id, last[0]),
        ).fetchone()
        if since is None:
            return None
        version = json.loads(last[1]).get("version")
        return (
            f"is version {version} of the org, and a migration has applied over it since "
            f"(at {since[0]}, by {since[1]}, making version "
            f"{json.loads(since[2]).get('version_after')}); the store holds version {current}"
        )

    def replace_snapshot(
        self, db: sqlite3.Connection, org_id: str, text: str, expected_version: int
    ) -> int:
        """Inside a transaction: store `text` as the org's next version, provided the stored
        version is still `expected_version`. Returns the new version."""
        row = db.execute("SELECT version FROM orgs WHERE id = ?", (org_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no org `{org_id}` (known: {self._known()})")
        if int(row[0]) != expected_version:
            raise StoreError(
                f"{self.path}: org `{org_id}` is at version {row[0]}, not {expected_version}"
            )
        version = expected_version + 1
        db.execute(
            "UPDATE orgs SET snapshot = ?, sha256 = ?, version = ?, imported_at = ? WHERE id = ?",
            (text, hashlib.sha256(text.encode()).hexdigest(), version, now_iso(), org_id),
        )
        return version

    def append_audit(
        self, db: sqlite3.Connection, org_id: str, actor: str, action: str, detail: dict[str, Any]
    ) -> None:
        """Inside a transaction: one audit entry, written with what it records or not at all."""
        db.execute(
            "INSERT INTO audit (org_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            (org_id, now_iso(), actor, action, json.dumps(detail, sort_keys=True)),
        )

    def audit(self, org_id: str, action: str | None = None) -> list[AuditEntry]:
        """The org's audit entries, oldest first; only those of `action` when given."""
        rows = self._db.execute(
            "SELECT seq, org_id, at, actor, action, detail FROM audit WHERE org_id = ? "
            "AND (? IS NULL OR action = ?) ORDER BY seq",
            (org_id, action, action),
        ).fetchall()
        return [AuditEntry(int(r[0]), r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def export(self, org_id: str) -> str:
        return self.snapshot(org_id)[1]

    def snapshot(self, org_id: str) -> tuple[int, str]:
        """The org's version and its text, read together: a plan must name the version of the
        text it was made from, even with an import landing in between."""
        row = self._db.execute(
            "SELECT version, snapshot FROM orgs WHERE id = ?", (org_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no org `{org_id}` (known: {self._known()})")
        return int(row[0]), str(row[1])

    def load(self, org_id: str, catalogue: Catalogue) -> Org:
        return load_org(self.export(org_id), catalogue)

    def version(self, org_id: str) -> int:
        row = self._db.execute("SELECT version FROM orgs WHERE id = ?", (org_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no org `{org_id}` (known: {self._known()})")
        return int(row[0])

    def ids(self) -> list[str]:
        return [str(r[0]) for r in self._db.execute("SELECT id FROM orgs ORDER BY id")]

    def describe(self, org_id: str) -> StoredOrg:
        """Version, digest, import time and size of a stored org (its text is not validated
        again: it was, whole, when it was imported)."""
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
