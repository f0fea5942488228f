"""Which policy set decides: one typed reference, one resolution.

Every door (the CLI's commands, the sidecar, the admin page, the review tools) turns what it
was given into a `PolicyRef` and calls `resolve`; nothing else chooses a set or reads one.
Two doors that resolve the same reference over the same store decide with the same set, and
each can say which it was (`Resolved.version`, `Resolved.source`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from suite_authz.engine.core.catalogue import Catalogue, parse_catalogue
from suite_authz.engine.core.errors import PolicyError
from suite_authz.engine.core.policies import PolicySet, build_policies, default_policies_dir
from suite_authz.engine.core.policy_files import (
    CATALOGUE_FILE,
    policy_stamp,
    read_source,
    schema_home,
)
from suite_authz.engine.sources.revisions import is_revision, policy_dir
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.engine.store.publication import (
    active_version,
    resolve_policy_version,
    stored_source,
)


class Source(StrEnum):
    """Where a set comes from: the words `policy_source` says in every output."""

    SHIPPED = "shipped"  # the set installed with authz
    DIRECTORY = "directory"  # a directory of policy files, as it is on disk
    GIT = "git"  # a git revision's policies/
    HISTORY = "history"  # a dated set of the shipped history (policies/history/NAME)
    ACTIVE = "store"  # the store's active published version: what a sidecar serves
    STORED = "stored"  # a published version named by its hash


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """A policy set, named: `kind` and, but for SHIPPED and ACTIVE, a `value` (a directory,
    a revision, a history entry, a version hash)."""

    kind: Source
    value: str = ""

    @classmethod
    def shipped(cls) -> PolicyRef:
        return cls(Source.SHIPPED)

    @classmethod
    def active(cls) -> PolicyRef:
        return cls(Source.ACTIVE)

    @classmethod
    def directory(cls, path: Path | str) -> PolicyRef:
        return cls(Source.DIRECTORY, str(path))

    @classmethod
    def parse(cls, spec: str) -> PolicyRef:
        """A set as a review or a page names it: `shipped`, `active`, `history:NAME`,
        `store:VERSION`, `git:REVISION`, a directory, else a git revision (whose policies/ is
        taken). A bare name that is both a directory and a revision is refused."""
        kind, sep, name = spec.partition(":")
        if spec == "shipped":
            return cls.shipped()
        if spec == "active":
            return cls.active()
        if sep and kind == "history" and name:
            return cls(Source.HISTORY, name)
        if sep and kind == "store" and name:
            return cls(Source.STORED, name)
        if sep and kind == "git" and name:
            return cls(Source.GIT, name)
        if Path(spec).is_dir():
            # a bare name that is also a revision is ambiguous: a change under review could
            # add a directory named like its base (`origin/main/`) to be compared with itself
            if not spec.startswith(("/", "./", "../")) and is_revision(spec):
                raise PolicyError(
                    f"`{spec}` is both a directory and a git revision: say `git:{spec}` for "
                    f"the revision or `./{spec}` for the directory"
                )
            return cls.directory(spec)
        return cls(Source.GIT, spec)

    def path(self) -> Path:
        """The directory of files behind a SHIPPED, DIRECTORY or HISTORY reference (what
        lint and fmt read), else PolicyError: a stored set has no files to format."""
        if self.kind is Source.SHIPPED:
            return default_policies_dir()
        if self.kind is Source.DIRECTORY:
            return check_directory(Path(self.value))
        if self.kind is Source.HISTORY:
            return history_dir(self.value)
        raise PolicyError(f"`{self.key}`: not a directory of policy files")

    @property
    def key(self) -> str:
        """The spec `parse` reads back into this reference."""
        return {
            Source.SHIPPED: "shipped",
            Source.ACTIVE: "active",
            Source.HISTORY: f"history:{self.value}",
            Source.STORED: f"store:{self.value}",
        }.get(self.kind, self.value)


@dataclass(frozen=True, slots=True)
class Resolved:
    """The set a reference names, and what it turned out to be: `source` is where the set
    came from (an ACTIVE reference over a store with no published version is SHIPPED, as the
    sidecar serves it); `stamp` changes when the set may have (a directory's files, the
    store's version), for a poller."""

    policies: PolicySet
    ref: PolicyRef
    source: Source
    stamp: object = None

    @property
    def version(self) -> str:
        return self.policies.version

    def describe(self) -> str:
        """One phrase for an output's `version` line."""
        if self.source is Source.ACTIVE:
            return "the store's active version"
        if self.ref.kind is Source.ACTIVE:
            return "the shipped set; the store has no active version"
        return {
            Source.SHIPPED: "the shipped set",
            Source.DIRECTORY: f"directory {self.ref.value}",
            Source.GIT: f"git revision {self.ref.value}",
            Source.HISTORY: f"shipped history {self.ref.value}",
            Source.STORED: f"stored version {self.policies.version}",
        }[self.source]


def resolve_policies(
    ref: PolicyRef, store: OrgStore | None = None, workdir: Path | None = None
) -> Resolved:
    """Build the set `ref` names. ACTIVE and STORED read `store`; GIT extracts into `workdir`
    (a temporary directory when none is given). Raises PolicyError (or the store's error)
    naming what is wrong; never falls back to another set than the one named, but for ACTIVE
    over a store that has published none, which is the shipped set, as a sidecar serves."""
    kind = ref.kind
    if kind is Source.SHIPPED:
        return Resolved(build_policies(read_source(default_policies_dir())), ref, kind)
    if kind is Source.DIRECTORY:
        directory = check_directory(Path(ref.value))
        before = policy_stamp(directory)
        policies = build_policies(read_source(directory))
        if policy_stamp(directory) != before:  # an editor or a checkout mid-write: not this set
            raise PolicyError(f"{directory}: changed while being read")
        return Resolved(policies, ref, kind, before)
    if kind is Source.HISTORY:
        return Resolved(build_policies(read_source(history_dir(ref.value))), ref, kind)
    if kind is Source.GIT:
        if workdir is not None:
            return Resolved(build_policies(read_source(policy_dir(ref.value, workdir))), ref, kind)
        with tempfile.TemporaryDirectory(prefix="authz-rev-") as work:
            source = read_source(policy_dir(ref.value, Path(work)))
            return Resolved(build_policies(source), ref, kind)
    if store is None:
        raise PolicyError(f"`{ref.key}`: names a set in a store, and no store was given")
    if kind is Source.STORED:
        named = resolve_policy_version(store, ref.value)
        return Resolved(build_policies(stored_source(store, named)), ref, kind, named)
    active = active_version(store)
    if active is None:
        shipped = build_policies(read_source(default_policies_dir()))
        return Resolved(shipped, ref, Source.SHIPPED)
    return Resolved(build_policies(stored_source(store, active)), ref, Source.ACTIVE, active)


def resolve_catalogue(ref: PolicyRef, store: OrgStore | None = None) -> Catalogue:
    """The module catalogue of the set `ref` names, without building the set: what an org
    must load under (an import checks it against what is served)."""
    if ref.kind is Source.ACTIVE and store is not None:
        version = active_version(store)
        if version is not None:
            text = stored_source(store, version).catalogue
            return parse_catalogue(text, f"policy set {version}")
        ref = PolicyRef.shipped()
    if ref.kind in (Source.SHIPPED, Source.DIRECTORY, Source.HISTORY):
        directory = ref.path()
        source = read_source(directory)
        return parse_catalogue(source.catalogue, str(schema_home(directory) / CATALOGUE_FILE))
    return resolve_policies(ref, store).policies.catalogue


def check_directory(path: Path) -> Path:
    """A policy directory that exists and holds .cedar files, else PolicyError saying which
    of the three it is not: a typo in a path is never an empty, passing set."""
    if not path.exists():
        raise PolicyError(f"{path}: no such directory")
    if not path.is_dir():
        raise PolicyError(f"{path}: not a directory")
    try:
        found = any(p.name.endswith(".cedar") for p in path.iterdir())
    except OSError as exc:
        raise PolicyError(f"{path}: cannot list: {exc.strerror}") from None
    if not found:
        raise PolicyError(f"{path}: holds no .cedar file: not a policy directory")
    return path


def history_names() -> list[str]:
    """The dated sets of the shipped history, oldest first."""
    history = default_policies_dir() / "history"
    if not history.is_dir():
        return []
    return sorted(p.name for p in history.iterdir() if p.is_dir())


def history_dir(name: str) -> Path:
    if name not in history_names():
        known = ", ".join(history_names()) or "none"
        raise PolicyError(f"`history:{name}`: no such set in the shipped history ({known})")
    return default_policies_dir() / "history" / name
