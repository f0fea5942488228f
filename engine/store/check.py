"""`authz store check`: is what the store holds whole, and at which versions?

Read-only, on either engine. What it looks at: the schema version against this release's; the
database's own integrity check (SQLite); every org (its text parses, names the org it is
stored as, matches its digest, loads under the served catalogue); every published policy set
(its texts match the hash it is stored under); the active version (published); the audit (each
org's last import or apply names a version it has reached). Given verify keys, also that every
org row and policy version is signed by one of them: what a server run with those keys would
refuse, found before it is started with them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from suite_authz.engine.core.errors import AuthzError
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.org_changes import parse_change_set
from suite_authz.engine.sources.policy_ref import PolicyRef, resolve_catalogue
from suite_authz.engine.store.org_store import ChangeRow, OrgRow, OrgStore
from suite_authz.engine.store.publication import active_version, policy_signature, stored_source
from suite_authz.engine.store.schema import STORE_SCHEMA
from suite_authz.engine.store.signing import Verifier, policy_text


@dataclass
class StoreReport:
    driver: str
    where: str
    schema: int
    reads: int = STORE_SCHEMA
    orgs: dict[str, int] = field(default_factory=dict)  # id -> version
    policy_versions: int = 0
    active: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.schema == self.reads

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "driver": self.driver,
            "store": self.where,
            "schema": self.schema,
            "schema_this_release_reads": self.reads,
            "orgs": dict(sorted(self.orgs.items())),
            "policy_versions": self.policy_versions,
            "active_policy": self.active,
            "problems": self.problems,
        }


SIGNED_SCHEMA = 3  # the first schema with signatures


def check_store(store: OrgStore, verifier: Verifier | None = None) -> StoreReport:
    report = StoreReport(store.driver, store.where, store.schema_version())
    if verifier is not None and report.schema < SIGNED_SCHEMA:
        report.problems.append(
            f"schema version {report.schema} holds no signatures: nothing stored is signed"
        )
        verifier = None
    if report.schema != STORE_SCHEMA:
        verb = (
            "upgrade it: `authz store upgrade`"
            if report.schema < STORE_SCHEMA
            else "run a newer authz"
        )
        report.problems.append(
            f"schema version {report.schema}, this release reads {STORE_SCHEMA}: {verb}"
        )
        if report.schema < 1:
            return report
    if store.driver == "sqlite":
        result = [str(r[0]) for r in store.read("PRAGMA integrity_check")]
        if result != ["ok"]:
            report.problems += [f"sqlite integrity_check: {line}" for line in result]
    _check_policies(store, report, verifier)
    _check_orgs(store, report)
    if verifier is not None:
        _check_signed_orgs(store, report, verifier)
    if report.schema >= CHANGES_SCHEMA:
        _check_changes(store, report, verifier)
    return report


CHANGES_SCHEMA = 4  # the first schema with change sets kept beside snapshots


def _check_changes(store: OrgStore, report: StoreReport, verifier: Verifier | None) -> None:
    """Each kept change set matches its hash (and, given keys, its signature), is a change set,
    and made a version the org has reached: a sidecar would refuse any other and load whole."""
    for org_id, version, text, digest, signature in store.read(
        "SELECT org_id, version, changes, sha256, signature FROM org_changes "
        "ORDER BY org_id, version"
    ):
        row = ChangeRow(str(org_id), int(version), str(text), str(digest), signature)
        where = f"the change making org `{row.org_id}` version {row.version}"
        try:
            row.check(verifier)
            parse_change_set(row.text, where)
        except AuthzError as exc:
            report.problems.append(str(exc))
        if row.version > report.orgs.get(row.org_id, 0):
            report.problems.append(f"{where}: the org is not at that version")


def _check_policies(store: OrgStore, report: StoreReport, verifier: Verifier | None) -> None:
    versions = [str(r[0]) for r in store.read("SELECT version FROM policy_sets")]
    report.policy_versions = len(versions)
    for version in versions:
        try:
            source = stored_source(store, version)
            if verifier is not None:
                signature = policy_signature(store, version)
                verifier.check_policy(version, policy_text(source), signature)
        except AuthzError as exc:
            report.problems.append(str(exc))
    report.active = active_version(store)
    if report.active is not None and report.active not in versions:
        report.problems.append(f"the active policy version {report.active} is not stored")


def _check_orgs(store: OrgStore, report: StoreReport) -> None:
    try:
        catalogue = resolve_catalogue(PolicyRef.active(), store)
    except AuthzError as exc:
        report.problems.append(f"the served catalogue does not load: {exc}")
        catalogue = None
    for org_id, version, digest, text in store.read(
        "SELECT id, version, sha256, snapshot FROM orgs ORDER BY id"
    ):
        report.orgs[str(org_id)] = int(version)
        where = f"org `{org_id}` version {version}"
        if hashlib.sha256(str(text).encode()).hexdigest() != digest:
            report.problems.append(f"{where}: its text does not match its sha256")
        try:
            data = json.loads(text)
        except ValueError as exc:
            report.problems.append(f"{where}: its text is not JSON: {exc}")
            continue
        if not isinstance(data, dict) or data.get("id") != org_id:
            report.problems.append(f"{where}: its text names another org")
        elif catalogue is not None:
            try:
                load_org(data, catalogue, where)
            except AuthzError as exc:
                report.problems.append(f"{where}: does not load: {exc}")
        for entry in store.audit(str(org_id)):
            after = entry.detail.get("version_after", entry.detail.get("version"))
            recorded = entry.action in ("org.import", "org.apply", "migration.apply")
            if recorded and isinstance(after, int) and after > int(version):
                report.problems.append(
                    f"{where}: audit entry {entry.seq} ({entry.action}) names version "
                    f"{after}, later than the stored one"
                )


def _check_signed_orgs(store: OrgStore, report: StoreReport, verifier: Verifier) -> None:
    for org_id, version, digest, text, signature in store.read(
        "SELECT id, version, sha256, snapshot, signature FROM orgs ORDER BY id"
    ):
        row = OrgRow(str(org_id), int(version), str(text), str(digest), signature)
        try:
            verifier.check_org(row.id, row.version, row.text, row.signature)
        except AuthzError as exc:
            report.problems.append(str(exc))
