"""The org store: org snapshots, several orgs, versioned; in one SQLite file (WAL) or in
PostgreSQL for a fleet of sidecars (engine/store/db.py: the same SQL and semantics on both).

A snapshot is validated whole before it is written, and written in one transaction, so a bad
snapshot leaves what was stored before exactly as it was. The text is kept as imported, so an
export gives back exactly what came in. Every write announces itself when it commits (NOTIFY on
PostgreSQL), so that sidecars listening reload at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from dataclasses import replace as replace_
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from suite_authz.engine.core.catalogue import Catalogue
from suite_authz.engine.core.errors import Conflict, InvalidOrg, one_line
from suite_authz.engine.core.model import (
    Org,
    check_references,
    load_org,
    stored_org,
    validate_org,
)
from suite_authz.engine.core.org_changes import apply_changes, parse_change_set
from suite_authz.engine.core.reading import decode_json
from suite_authz.engine.store.db import (
    Database,
    Notices,
    PoolSettings,
    StoreError,
    Tx,
    is_postgres,
)
from suite_authz.engine.store.drivers import open_database
from suite_authz.engine.store.schema import STORE_SCHEMA, VERSION_TABLE, pending
from suite_authz.engine.store.signing import Signer, UnverifiedRow, Verifier

DEFAULT_STORE = Path(".authz") / "orgs.sqlite3"
# Change sets kept per org (the newest): a sidecar further behind loads the snapshot whole.
KEEP_CHANGES = 256
STORE_ENV = "AUTHZ_STORE"


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


class StoreSchemaError(StoreError):
    """The store's schema is not the one this release reads: older (upgrade it) or newer."""


class StaleSnapshot(StoreError, Conflict):
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
    signed: bool = False
    # stored unsigned over a signed version: servers verifying signatures will not serve it
    unsigned_over_signed: bool = False


@dataclass(frozen=True, slots=True)
class OrgRow:
    """An org's row as a server reads it, in one read: what it serves, and what vouches."""

    id: str
    version: int
    text: str
    sha256: str
    signature: str | None

    def check(self, verifier: Verifier | None) -> None:
        """UnverifiedRow unless the text is the one its hash (and, given keys, its
        signature) names: a row edited behind the store's back is never served."""
        where = f"org `{self.id}` version {self.version}"
        if hashlib.sha256(self.text.encode()).hexdigest() != self.sha256:
            raise UnverifiedRow(f"{where}: its text does not match its sha256: not served")
        if verifier is not None:
            verifier.check_org(self.id, self.version, self.text, self.signature)


@dataclass(frozen=True, slots=True)
class AppliedChange:
    """What `authz org apply` stored: the org's version before and after, and its size now."""

    id: str
    base_version: int
    version: int
    changes: int
    users: int
    records: int
    signed: bool = False
    unchanged: bool = False  # the org already was as the change set makes it: nothing written


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """A change set as stored beside the version it made."""

    org_id: str
    version: int
    text: str
    sha256: str
    signature: str | None

    def check(self, verifier: Verifier | None) -> None:
        """UnverifiedRow unless the text is the one its hash (and, given keys, its signature)
        names: a change edited behind the store's back is never applied."""
        if hashlib.sha256(self.text.encode()).hexdigest() != self.sha256:
            raise UnverifiedRow(
                f"the change making org `{self.org_id}` version {self.version}: its text does "
                "not match its sha256: not applied"
            )
        if verifier is not None:
            verifier.check_change(self.org_id, self.version, self.text, self.signature)


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


def _shape(text: str, where: str) -> Org:
    """The checks an org snapshot passes with no policy set: JSON, and the org's shape."""
    prefix = f"{where}: " if where else ""
    return validate_org(decode_json(text, prefix, InvalidOrg), prefix)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


StoreLocation = str | Path  # a SQLite file's path, or a postgresql:// URL


def default_store_path() -> StoreLocation:
    return store_location(os.environ.get(STORE_ENV) or DEFAULT_STORE)


def store_location(value: str | Path) -> StoreLocation:
    """A URL stays a string (a Path would fold its `//`, and a URL of another database must
    be refused, not made a file of); anything else is a file's path."""
    return str(value) if is_postgres(value) or "://" in str(value) else Path(value)


class OrgStore:
    def __init__(
        self,
        location: StoreLocation | None = None,
        pool: PoolSettings | None = None,
        *,
        schema_check: bool = True,
        read_only: bool = False,
    ) -> None:
        """Open the store at `location` (default: $AUTHZ_STORE, else .authz/orgs.sqlite3). A
        store with no tables is created at the current schema; one at another schema version
        is refused (StoreSchemaError) unless `schema_check` is off (`authz store upgrade` and
        `authz store check` open it so). `read_only`: the store must exist, and nothing is
        created or written (`authz store check`)."""
        self.location = store_location(location) if location is not None else default_store_path()
        self._pool, self._read_only = pool, read_only
        self.db: Database = open_database(self.location, pool, read_only=read_only)
        self.where = self.db.where
        if schema_check:
            try:
                self._check_schema()
            except BaseException:
                self.db.close()
                raise

    @property
    def driver(self) -> str:
        return self.db.driver

    def notices(self) -> Notices | None:
        """The store's change feed when its driver pushes changes (PostgreSQL); None: a
        reader polls (SQLite)."""
        return self.db if isinstance(self.db, Notices) else None

    @property
    def timeout(self) -> float:
        return self.db.timeout

    def close(self) -> None:
        self.db.close()

    def reopen(self) -> None:
        """The same store through a connection (or pool) of this process's own: a forked
        worker's, since a connection never crosses a fork (the parent closed its own)."""
        self.db = open_database(self.location, self._pool, read_only=self._read_only)
        self.where = self.db.where

    # -- the schema -------------------------------------------------------------------------

    def schema_version(self, tx: Tx | None = None) -> int:
        """0 for a store with no tables; 1 for the first release's layout (no version table)."""
        tables = self.db.tables(tx)
        if "store_schema" in tables:
            return int(self.read("SELECT MAX(version) FROM store_schema", (), tx)[0][0] or 1)
        return 1 if "orgs" in tables else 0

    def _check_schema(self) -> None:
        version = self.schema_version()
        if version == 0:
            self.upgrade()
        elif version > STORE_SCHEMA:
            raise StoreSchemaError(
                f"{self.where}: the store's schema is version {version}, newer than this authz "
                f"reads (up to {STORE_SCHEMA}): a newer release upgraded it; run that release here"
            )
        elif version < STORE_SCHEMA:
            raise StoreSchemaError(
                f"{self.where}: the store's schema is version {version}, this authz reads "
                f"version {STORE_SCHEMA}: run `authz store upgrade --store {self.where}` (nothing "
                "stored is lost; sidecars of the older release must be stopped first)"
            )

    def upgrade(self) -> list[tuple[int, str]]:
        """Apply every pending schema migration in one transaction; the (version, what) of
        each applied. A store newer than this release is refused, never touched."""
        with self.transaction() as tx:
            version = self.schema_version(tx)
            if version > STORE_SCHEMA:
                raise StoreSchemaError(
                    f"{self.where}: the store's schema is version {version}, newer than this "
                    f"authz knows (up to {STORE_SCHEMA}): nothing was changed"
                )
            steps = pending(version)
            now = now_iso()
            for step in steps:
                self.db.script(tx, step.sqlite if self.driver == "sqlite" else step.postgres)
            if steps:
                tx.execute(VERSION_TABLE)
                if version == 1:  # a first-release store: record the layout it had
                    tx.execute(
                        "INSERT INTO store_schema (version, applied_at, what) VALUES (?, ?, ?)",
                        (1, now, "the first release's layout, found in place"),
                    )
                for step in steps:
                    tx.execute(
                        "INSERT INTO store_schema (version, applied_at, what) VALUES (?, ?, ?)",
                        (step.version, now, step.what),
                    )
        return [(step.version, step.what) for step in steps]

    # -- transactions -----------------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[Tx]:
        """All or nothing, holding the store's one writer lock (whatever process holds it)."""
        return self.db.transaction()

    def announce(self, tx: Tx, change: dict[str, object]) -> None:
        """Inside a transaction: tell listening sidecars of this change once it commits."""
        self.db.notify(tx, change)

    def read(
        self, sql: str, params: Sequence[object] = (), tx: Tx | None = None
    ) -> list[tuple[Any, ...]]:
        """Rows of one read-only query (inside `tx` when given: what it has written so far)."""
        if tx is not None:
            return list(tx.execute(sql, params).fetchall())
        return self.db.read(sql, params)

    def secret(self, name: str) -> bytes:
        """A random per-deployment key kept in the store (made on first use), shared by every
        server over it: page tokens and masked log values stay valid across restarts."""
        rows = self.read("SELECT value FROM secrets WHERE name = ?", (name,))
        if rows:
            return bytes(rows[0][0])
        with self.transaction() as db:
            db.execute(
                "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (name, os.urandom(32)),
            )
        return bytes(self.read("SELECT value FROM secrets WHERE name = ?", (name,))[0][0])

    def import_snapshot(
        self,
        text: str,
        catalogue: Catalogue | None,
        where: str = "",
        *,
        replace: bool = False,
        actor: str = "import",
        signer: Signer | None = None,
    ) -> StoredOrg:
        """Validate, then store as the org's next version. Raises InvalidOrg untouched.

        The same text as the stored version changes nothing (`unchanged`). A text the org held
        before (an older version: re-importing it would quietly undo what came after, such as
        a migration) is refused with StaleSnapshot unless `replace`.

        `catalogue` None: no policy set could be loaded to check the org against (the
        store's active version is corrupt), so only what needs none is checked, the JSON and
        the org's shape. A revocation must land even then: refusing it would
        leave the revoked user allowed by every server still holding the older org.

        `signer`: the row is stored with its signature. The text already stored but not signed
        by this key is stored again as the next version, signed: a server that refused the
        unsigned version retries only a new one."""
        org = load_org(text, catalogue, where) if catalogue is not None else _shape(text, where)
        digest = hashlib.sha256(text.encode()).hexdigest()
        now = now_iso()
        with self.transaction() as db:
            row = db.execute(
                "SELECT version, sha256, signature FROM orgs WHERE id = ?", (org.id,)
            ).fetchone()
            if row is not None and row[1] == digest and _signed_by(signer, org.id, text, row):
                return replace_(self.describe(org.id, db), unchanged=True)
            current = 0 if row is None else int(row[0])
            resign = row is not None and row[1] == digest
            stale = (
                None if replace or resign or row is None else self._stale(db, org, digest, current)
            )
            if stale is not None:
                raise StaleSnapshot(
                    f"org `{org.id}`: {where or 'this snapshot'} {stale}: not replaced; pass "
                    f"--replace to store it anyway, as version {current + 1}"
                )
            version = current + 1
            signature = signer.sign_org(org.id, version, text) if signer is not None else None
            db.execute(
                "INSERT INTO orgs (id, snapshot, sha256, version, imported_at, signature) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "snapshot = excluded.snapshot, sha256 = excluded.sha256, "
                "version = excluded.version, imported_at = excluded.imported_at, "
                "signature = excluded.signature",
                (org.id, text, digest, version, now, signature),
            )
            detail = {"version": version, "sha256": digest, "source": where, "replaced": replace}
            if signature is not None:
                detail["signed_by"] = signature.split(":")[1]
            self.append_audit(db, org.id, actor, "org.import", detail)
            self.announce(db, {"org": org.id, "version": version})
            # read inside the transaction: after it, a concurrent import may have landed, and
            # its version would be reported as this one's
            stored = self.describe(org.id, db)
        was_signed = row is not None and row[2] is not None
        return replace_(stored, unsigned_over_signed=was_signed and not signature)

    @staticmethod
    def _stale(db: Tx, org: Org, digest: str, current: int) -> str | None:
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
        self,
        db: Tx,
        org_id: str,
        text: str,
        expected_version: int,
        signer: Signer | None = None,
    ) -> int:
        """Inside a transaction: store `text` as the org's next version, provided the stored
        version is still `expected_version`, signed by `signer` if given (else unsigned: a
        signature of the version before would vouch for another text). Returns the new
        version."""
        row = db.execute("SELECT version FROM orgs WHERE id = ?", (org_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.where}: no org `{org_id}` (known: {self._known()})")
        if int(row[0]) != expected_version:
            raise StoreError(
                f"{self.where}: org `{org_id}` is at version {row[0]}, not {expected_version}"
            )
        version = expected_version + 1
        signature = signer.sign_org(org_id, version, text) if signer is not None else None
        digest = hashlib.sha256(text.encode()).hexdigest()
        db.execute(
            "UPDATE orgs SET snapshot = ?, sha256 = ?, version = ?, imported_at = ?, "
            "signature = ? WHERE id = ?",
            (text, digest, version, now_iso(), signature, org_id),
        )
        self.announce(db, {"org": org_id, "version": version})
        return version

    def apply_change_set(
        self,
        text: str,
        catalogue: Catalogue,
        where: str = "",
        *,
        actor: str = "apply",
        signer: Signer | None = None,
    ) -> AppliedChange:
        """Apply a change set (engine/core/org_changes.py) to the org it names, in one
        transaction: the org's next version is the snapshot the change makes (signed by
        `signer`, if given), and the change set is kept beside it, so that a sidecar serving
        the version before applies the change alone. Raises InvalidOrg for a change set that
        does not apply, StaleSnapshot when it names a `base_version` the org is no longer
        at; either way nothing is written."""
        change_set = parse_change_set(text, where)
        org_id = change_set.org
        canonical = json.dumps(
            change_set.model_dump(mode="json", exclude_none=True), sort_keys=True
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        with self.transaction() as db:
            current, stored = self.snapshot(org_id, db)
            if change_set.base_version not in (None, current):
                raise StaleSnapshot(
                    f"org `{org_id}`: {where or 'the change set'} was written against version "
                    f"{change_set.base_version}, and the store holds version {current}: not "
                    "applied; write it against the org as it is now"
                )
            org = stored_org(stored, f"org `{org_id}` version {current}")
            applied = apply_changes(org, change_set, catalogue, where)
            # the stored org is checked whole under these policies too: it may have been
            # stored under others, and what is written must be what an import would take
            problems = [f"{where}: " * bool(where) + f"after the changes: {p}"
                        for p in check_references(applied.org, catalogue)]  # fmt: skip
            if problems:
                raise InvalidOrg(one_line("invalid change set", problems), tuple(problems))
            if applied.org == org:  # nothing to change: no version is made for nothing
                return AppliedChange(
                    org_id, current, current, 0, len(org.users), len(org.records), unchanged=True
                )
            after = applied.org.model_dump_json(exclude_none=True)
            version = self.replace_snapshot(db, org_id, after, current, signer)
            signature = signer.sign_change(org_id, version, canonical) if signer else None
            db.execute(
                "INSERT INTO org_changes (org_id, version, changes, sha256, signature, applied_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (org_id, version, canonical, digest, signature, now_iso()),
            )
            db.execute(  # older changes: a sidecar that far behind loads the snapshot whole
                "DELETE FROM org_changes WHERE org_id = ? AND version <= ?",
                (org_id, version - KEEP_CHANGES),
            )
            detail: dict[str, Any] = {
                "version": version,
                "sha256": hashlib.sha256(after.encode()).hexdigest(),
                "changes": len(change_set.changes),
                "changes_sha256": digest,
                "source": where,
            }
            if signature is not None:
                detail["signed_by"] = signature.split(":")[1]
            self.append_audit(db, org_id, actor, "org.apply", detail)
        return AppliedChange(
            org_id,
            current,
            version,
            len(change_set.changes),
            len(applied.org.users),
            len(applied.org.records),
            signed=signature is not None,
        )

    def changes_after(self, org_id: str, version: int) -> list[ChangeRow]:
        """The change sets that made the org's versions after `version`, in order: as many as
        are kept, and only those (a version an import made has none)."""
        rows = self.read(
            "SELECT version, changes, sha256, signature FROM org_changes "
            "WHERE org_id = ? AND version > ? ORDER BY version",
            (org_id, version),
        )
        return [ChangeRow(org_id, int(r[0]), str(r[1]), str(r[2]), r[3]) for r in rows]

    def append_audit(
        self, db: Tx, org_id: str, actor: str, action: str, detail: dict[str, Any]
    ) -> None:
        """Inside a transaction: one audit entry, written with what it records or not at all."""
        db.execute(
            "INSERT INTO audit (org_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            (org_id, now_iso(), actor, action, json.dumps(detail, sort_keys=True)),
        )

    def audit(self, org_id: str, action: str | None = None) -> list[AuditEntry]:
        """The org's audit entries, oldest first; only those of `action` when given."""
        sql = "SELECT seq, org_id, at, actor, action, detail FROM audit WHERE org_id = ?"
        if action is None:
            rows = self.read(sql + " ORDER BY seq", (org_id,))
        else:
            rows = self.read(sql + " AND action = ? ORDER BY seq", (org_id, action))
        return [AuditEntry(int(r[0]), r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def export(self, org_id: str) -> str:
        return self.snapshot(org_id)[1]

    def snapshot(self, org_id: str, tx: Tx | None = None) -> tuple[int, str]:
        """The org's version and its text, read together: a plan must name the version of the
        text it was made from, even with an import landing in between."""
        rows = self.read("SELECT version, snapshot FROM orgs WHERE id = ?", (org_id,), tx)
        row = rows[0] if rows else None
        if row is None:
            raise StoreError(f"{self.where}: no org `{org_id}` (known: {self._known()})")
        return int(row[0]), str(row[1])

    def row(self, org_id: str) -> OrgRow:
        """The org's row whole, in one read (what a server checks, then serves)."""
        rows = self.read(
            "SELECT version, snapshot, sha256, signature FROM orgs WHERE id = ?", (org_id,)
        )
        if not rows:
            raise StoreError(f"{self.where}: no org `{org_id}` (known: {self._known()})")
        version, text, digest, signature = rows[0]
        return OrgRow(org_id, int(version), str(text), str(digest), signature)

    def load(self, org_id: str, catalogue: Catalogue) -> Org:
        return load_org(self.export(org_id), catalogue)

    def version(self, org_id: str) -> int:
        rows = self.read("SELECT version FROM orgs WHERE id = ?", (org_id,))
        if not rows:
            raise StoreError(f"{self.where}: no org `{org_id}` (known: {self._known()})")
        return int(rows[0][0])

    def versions(self) -> dict[str, int]:
        """Every org's version: one indexed read, what a reload polls."""
        return {str(i): int(v) for i, v in self.read("SELECT id, version FROM orgs")}

    def ids(self) -> list[str]:
        return [str(r[0]) for r in self.read("SELECT id FROM orgs ORDER BY id")]

    def describe(self, org_id: str, tx: Tx | None = None) -> StoredOrg:
        """Version, digest, import time and size of a stored org (its text is not validated
        again: it was, whole, when it was imported)."""
        rows = self.read(
            "SELECT id, version, sha256, imported_at, snapshot, signature FROM orgs WHERE id = ?",
            (org_id,),
            tx,
        )
        row = rows[0] if rows else None
        if row is None:
            raise StoreError(f"{self.where}: no org `{org_id}` (known: {self._known()})")
        data = json.loads(row[4])
        return StoredOrg(
            str(row[0]),
            int(row[1]),
            str(row[2]),
            str(row[3]),
            len(data.get("users", [])),
            len(data.get("records", [])),
            signed=row[5] is not None,
        )

    def _known(self) -> str:
        return ", ".join(f"`{i}`" for i in self.ids()) or "none"


def _signed_by(signer: Signer | None, org_id: str, text: str, row: tuple[Any, ...]) -> bool:
    """Whether the stored row needs nothing from `signer`: none given, or signed by it."""
    if signer is None:
        return True
    try:
        signer.verifier.check_org(org_id, int(row[0]), text, row[2])
    except UnverifiedRow:
        return False
    return True
