"""Published policy sets: immutable versions in the store, one of them active.

Production serves a set that was validated whole and stored in one transaction, never files
that an editor, `cp` or a checkout may be half-way through writing (the way OPA serves
bundles). `publish` refuses a set that does not load, that lint faults, or under which a
stored org would not load; `activate` makes a stored version the served one (a rollback is an
activation of an older version) after checking the orgs again, since orgs change in between.
Who and when is kept for every publication and activation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from suite_authz.engine.core.decide import Engine
from suite_authz.engine.core.errors import AuthzError, PolicyError, one_line
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import (
    PolicySet,
    build_policies,
)
from suite_authz.engine.core.policy_files import PolicySource
from suite_authz.engine.review.lint import lint_source
from suite_authz.engine.store.db import StoreError, Tx
from suite_authz.engine.store.org_store import OrgStore, now_iso
from suite_authz.engine.store.signing import Signer, Verifier, policy_text


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    version: str
    published_at: str
    published_by: str
    active: bool
    files: int

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "published_at": self.published_at,
            "published_by": self.published_by,
            "active": self.active,
            "files": self.files,
        }


def check_servable(store: OrgStore, source: PolicySource) -> PolicySet:
    """The set built, or PolicyError listing everything that keeps it from being served."""
    if not source.servable:
        raise PolicyError(
            f"{source.directory}: borrows its schema from the directory above: a set kept to "
            "compare against (the old model in policies/legacy), never served"
        )
    policies = build_policies(source)
    problems = lint_source(source)
    for org_id in store.ids():
        try:
            Engine(policies, load_org(store.export(org_id), policies.catalogue))
        except AuthzError as exc:
            problems.append(f"stored org `{org_id}` does not load under this set: {exc}")
        except Exception as exc:  # whatever breaks, the set is not servable with this org
            problems.append(
                f"stored org `{org_id}` does not load under this set: {type(exc).__name__}: {exc}"
            )
    if problems:
        raise PolicyError(one_line("refused", problems), tuple(problems))
    return policies


def publish_policies(
    store: OrgStore,
    source: PolicySource,
    actor: str,
    activate: bool = True,
    signer: Signer | None = None,
) -> str:
    """Validate and store the set as a version (its content hash); activate it unless told
    not to. Publishing a set already stored stores nothing new, but its signature when
    `signer` is given (a version published before keys were used gets signed so). Returns
    the version."""
    policies = check_servable(store, source)
    text = policy_text(source)
    signature = signer.sign_policy(policies.version, text) if signer is not None else None
    now = now_iso()
    with store.transaction() as db:
        # an unsigned publication never takes a signature away
        keep = "UPDATE SET signature = excluded.signature" if signer is not None else "NOTHING"
        db.execute(
            "INSERT INTO policy_sets (version, source, published_at, published_by, seq, "
            "signature) SELECT ?, ?, ?, ?, COALESCE(MAX(seq), 0) + 1, ? FROM policy_sets "
            f"WHERE true ON CONFLICT (version) DO {keep}",
            (policies.version, text, now, actor, signature),
        )
        if activate and _active(store, db) != policies.version:
            _activation(store, db, policies.version, now, actor)
    return policies.version


def _activation(store: OrgStore, db: Tx, version: str, at: str, actor: str) -> None:
    db.execute(
        "INSERT INTO policy_activations (version, activated_at, activated_by) VALUES (?, ?, ?)",
        (version, at, actor),
    )
    store.announce(db, {"policy": version})


def activate_policy_version(store: OrgStore, version: str, actor: str) -> str:
    """Serve a stored version from now on (a rollback names an older one). Returns it whole."""
    full = resolve_policy_version(store, version)
    check_servable(store, stored_source(store, full))
    with store.transaction() as db:
        _activation(store, db, full, now_iso(), actor)
    return full


def policy_signature(store: OrgStore, version: str) -> str | None:
    rows = store.read("SELECT signature FROM policy_sets WHERE version = ?", (version,))
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


def check_signed(store: OrgStore, policies: PolicySet, verifier: Verifier) -> None:
    """UnverifiedRow unless the stored version `policies` was built from is signed by one of
    `verifier`'s keys over the very texts it was built from."""
    if policies.source is None:
        raise StoreError(f"policy version {policies.version}: built from no texts to verify")
    signature = policy_signature(store, policies.version)
    verifier.check_policy(policies.version, policy_text(policies.source), signature)


def active_version(store: OrgStore) -> str | None:
    """The served version: one indexed read, cheap enough to poll every second."""
    return _active(store)


def _active(store: OrgStore, db: Tx | None = None) -> str | None:
    rows = store.read("SELECT version FROM policy_activations ORDER BY seq DESC LIMIT 1", (), db)
    return str(rows[0][0]) if rows else None


def resolve_policy_version(store: OrgStore, version: str) -> str:
    """A version named in full or by a unique prefix (at least 4 characters)."""
    if len(version) < 4 or not all(c in "0123456789abcdef" for c in version):
        raise StoreError(f"policy version `{version}`: give at least 4 hex digits")
    rows = store.read("SELECT version FROM policy_sets WHERE version LIKE ?", (version + "%",))
    if not rows:
        raise StoreError(f"policy version `{version}`: not in the store (`authz policy list`)")
    if len(rows) > 1:
        raise StoreError(f"policy version `{version}`: names {len(rows)} versions, give more")
    return str(rows[0][0])


def stored_source(store: OrgStore, version: str) -> PolicySource:
    rows = store.read("SELECT source FROM policy_sets WHERE version = ?", (version,))
    if not rows:
        raise StoreError(f"policy version `{version}`: not in the store")
    try:
        data = json.loads(rows[0][0])
    except ValueError:
        raise StoreError(f"policy version `{version}`: the stored text is not JSON") from None
    source = PolicySource.from_json(data, Path(f"<policy {version}>"))
    if source.digest() != version:  # a row edited behind our back is not that version
        raise StoreError(f"policy version `{version}`: its stored texts do not match its hash")
    return source


def policy_versions(store: OrgStore) -> list[PolicyVersion]:
    """Every stored version, newest first."""
    active = _active(store)
    out = []
    for version, source, at, by in store.read(
        "SELECT version, source, published_at, published_by FROM policy_sets ORDER BY seq DESC"
    ):
        data = json.loads(source)
        files = len(data.get("cedar", {})) + len(data.get("polar", {})) + 2
        out.append(PolicyVersion(str(version), str(at), str(by), version == active, files))
    return out
