"""The store's schema, as a numbered list of migrations, each one text for both database engines.

Version 1 is the layout of the first release (SQLite only, no version table: a store with an
`orgs` table and no `store_schema` table is at version 1). Every later version is one step
here, applied in one transaction by `authz store upgrade`, and recorded in `store_schema`. A
process refuses a store whose schema is newer than it knows (an older sidecar beside a newer
fleet must not misread it) or older (until upgraded), with a message saying which command to
run; a store with no tables at all is created at the current version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    """What the two databases spell differently in the schema: the rest is the same text."""

    counter: str  # a table's own increasing key (SQLite's AUTOINCREMENT never reuses one)
    binary: str
    big: str  # an integer column added later (SQLite's INTEGER is already 64-bit)
    # Migration 2's numbering of the sets published before it: only a SQLite store can have
    # any (the first release ran on SQLite alone), in its rowid order.
    number_published: str


SQLITE = Dialect(
    counter="INTEGER PRIMARY KEY AUTOINCREMENT",
    binary="BLOB",
    big="INTEGER",
    number_published="UPDATE policy_sets SET seq = rowid;\n",
)
POSTGRES = Dialect(
    counter="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    binary="BYTEA",
    big="BIGINT",
    number_published="",
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One step, written once: `ddl` names each Dialect field in braces. A SQLite store keeps
    its CREATE and ALTER texts as given (sqlite_master), so a change to their spelling here
    is a change to every store's schema."""

    version: int
    what: str
    ddl: str

    def text(self, dialect: Dialect) -> str:
        return self.ddl.format_map(asdict(dialect))

    @property
    def sqlite(self) -> str:
        return self.text(SQLITE)

    @property
    def postgres(self) -> str:
        return self.text(POSTGRES)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "orgs, published policy sets and their activations, secrets, the audit table",
        """
CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    snapshot    TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE TABLE policy_sets (
    version      TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    published_at TEXT NOT NULL,
    published_by TEXT NOT NULL
);
CREATE TABLE policy_activations (
    seq          {counter},
    version      TEXT NOT NULL REFERENCES policy_sets(version),
    activated_at TEXT NOT NULL,
    activated_by TEXT NOT NULL
);
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value {binary} NOT NULL
);
CREATE TABLE audit (
    seq    {counter},
    org_id TEXT NOT NULL,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
""",
    ),
    Migration(
        2,
        "the schema's own version; published sets in publication order (SQLite's rowid is no "
        "order another engine has); the audit read by org and action through an index",
        """
ALTER TABLE policy_sets ADD COLUMN seq {big};
{number_published}CREATE UNIQUE INDEX policy_sets_seq ON policy_sets (seq);
CREATE INDEX audit_org_action ON audit (org_id, action, seq);
""",
    ),
    Migration(
        3,
        "a signature beside each org snapshot and published policy set (engine/store/signing.py); "
        "rows stored before stay unsigned until signed again",
        """
ALTER TABLE orgs ADD COLUMN signature TEXT;
ALTER TABLE policy_sets ADD COLUMN signature TEXT;
""",
    ),
    Migration(
        4,
        "the change sets applied to orgs (`authz org apply`), kept beside the snapshot each made, "
        "so that a sidecar brings its org up to date without reading the snapshot whole",
        """
CREATE TABLE org_changes (
    org_id     TEXT NOT NULL,
    version    {big} NOT NULL,
    changes    TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    signature  TEXT,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (org_id, version)
);
""",
    ),
)

STORE_SCHEMA = MIGRATIONS[-1].version

# The table that records which migrations were applied (made by the first upgrade past 1).
VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS store_schema (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL,
    what       TEXT NOT NULL
)
"""


def pending(version: int) -> list[Migration]:
    """The migrations a store at `version` still needs, in order."""
    return [m for m in MIGRATIONS if m.version > version]
