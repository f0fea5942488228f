"""Load engine pieces for a command, turning load errors into exit code 2.

`--org` means one thing in every command: an org, named by its id in the store (`--store`,
else $AUTHZ_STORE, else .authz/orgs.sqlite3), or by the path of a snapshot file. A value that
ends in `.json`, holds a `/`, or names an existing file is a file; anything else is an id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from suite_authz.cli.exits import CommandFailed
from suite_authz.engine.core import AuthzError, Engine, Org, PolicySet, load_org
from suite_authz.engine.sources import PolicyRef, Resolved, Source, resolve_policies
from suite_authz.engine.store import STORE_ENV, OrgStore, StoreLocation, default_store_path

ORG_RULE = "an org id in the store, or a snapshot file (a path: ending .json or holding a /)"


@dataclass(frozen=True, slots=True)
class OrgRef:
    """What `--org` was given, read by ORG_RULE."""

    value: str

    @property
    def file(self) -> Path | None:
        v = self.value
        if v.lower().endswith(".json") or "/" in v or os.sep in v or Path(v).is_file():
            return Path(v)
        return None

    @property
    def label(self) -> str:
        return self.file.stem if self.file is not None else self.value

    def stored_id(self, why: str) -> str:
        """The id, for a command that works on the store only (`why` says what it does)."""
        if self.file is not None:
            raise CommandFailed(
                f"--org {self.value}: {why} works on an org in the store, named by its id; "
                f"import the file first: authz org import {self.value}"
            )
        return self.value


class OrgRefType(click.ParamType):
    name = "ORG"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, OrgRef):
            return value
        if not isinstance(value, str) or not value:
            self.fail("needs an org id or a snapshot file", param, ctx)
        return OrgRef(value)


ORG = OrgRefType()


def org_source(ref: OrgRef, store_path: StoreLocation | None) -> tuple[Path | str, str]:
    """The snapshot to load (a file's path, or the stored text) and where it came from."""
    if ref.file is not None:
        if not ref.file.exists():
            raise CommandFailed(f"--org {ref.value}: no such snapshot file")
        # a FIFO or device is there, and refused by name when read (engine/core/reading.py)
        return ref.file, str(ref.file)
    store = open_store(ref, store_path)
    try:
        _, text = store.snapshot(ref.value)
    except AuthzError as exc:
        raise CommandFailed(f"--org {ref.value}: {exc} (a snapshot file needs its path)") from None
    finally:
        store.close()
    return text, f"org `{ref.value}` in {store.where}"


def open_store(ref: OrgRef, store_path: StoreLocation | None) -> OrgStore:
    """The store an org id is looked up in: it must exist (a lookup never creates one)."""
    path = store_path or default_store_path()
    if isinstance(path, Path) and not path.is_file() and ref.file is not None:
        raise CommandFailed(
            f"--store {path}: no such org store (its active policy version decides)"
        )
    if isinstance(path, Path) and not path.is_file():
        raise CommandFailed(
            f"--org {ref.value}: no org store at {path} to find org `{ref.value}` in "
            "(`authz org import FILE` makes one; or give --org a snapshot file's path)"
        )
    return OrgStore(path)


def load_org_ref(ref: OrgRef, store_path: StoreLocation | None, policies: PolicySet) -> Org:
    source, where = org_source(ref, store_path)
    try:
        return load_org(source, policies.catalogue, where if isinstance(source, str) else "")
    except AuthzError as exc:
        raise CommandFailed(exc) from None


def decision_ref(ref: OrgRef, policies: PolicyRef, store_path: StoreLocation | None) -> PolicyRef:
    """The store's active version is a default only where a store is in play: an org named by
    its id, or --store (or $AUTHZ_STORE) given; an org file alone decides with the shipped
    set, as a sidecar over an empty store would."""
    store_given = store_path is not None or bool(os.environ.get(STORE_ENV))
    if policies.kind is Source.ACTIVE and ref.file is not None and not store_given:
        return PolicyRef.shipped()
    return policies


def resolve_for(ref: OrgRef, policies: PolicyRef, store_path: StoreLocation | None) -> Resolved:
    """The policy set a command decides `ref`'s requests with (see decision_ref)."""
    chosen = decision_ref(ref, policies, store_path)
    if chosen.kind not in (Source.ACTIVE, Source.STORED):
        return resolve_policies(chosen)
    store = open_store(ref, store_path)
    try:
        return resolve_policies(chosen, store)
    finally:
        store.close()


def load_engine(
    ref: OrgRef, policies: PolicyRef, store_path: StoreLocation | None, backend: str = "cedar"
) -> tuple[Engine, Resolved]:
    """The org's engine under the set `policies` names, and that set as resolved."""
    resolved = resolve_for(ref, policies, store_path)
    org = load_org_ref(ref, store_path, resolved.policies)
    return Engine(resolved.policies, org, backend), resolved
