"""What a server serves, as one immutable value: a policy set, an engine per org, and what was
refused and why. Built from the store by the functions below, which read and build and
decide nothing about threads, clocks, metrics or HTTP: the server's reloader calls them, and
a test can call them on a store alone.

What is refused differs, on purpose. A policy set that does not load is refused and the last
good set keeps answering (a half-written file must not take the service down). An org whose
stored snapshot does not load under the served set is no longer served at all rather than
answered from an older snapshot: the store is the truth, and the newer snapshot may be the
revocation, so answering from the old one could be a stale allow.
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from suite_authz.engine.core.decide import Engine
from suite_authz.engine.core.errors import AuthzError, PolicyError, one_line
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.org_changes import apply_changes, parse_change_set
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.serving.shards import OrgSelection
from suite_authz.engine.sources.policy_ref import PolicyRef, Source, resolve_policies
from suite_authz.engine.store.db import StoreUnreachable
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.engine.store.publication import check_signed
from suite_authz.engine.store.signing import UnverifiedRow, Verifier

log = logging.getLogger("authz.server")


class Cause(StrEnum):
    """Why a row or a set is not served: a caller that counts tampering apart from mistakes
    (authz_rows_refused) asks this, never the message."""

    INVALID = "invalid"  # does not load: a parse error, an invalid snapshot, an unservable set
    BAD_HASH = "bad hash"  # an org row's text is not the one its sha256 names
    UNVERIFIED = "unverified"  # a signature missing or not verifying under the keys given
    MISLABELED = "mislabeled"  # an org row holding another org's text


@dataclass(frozen=True, slots=True)
class Refusal:
    """One thing not served. `id`: the org's id, or what the refused policy text was (a
    version, or a directory). `version`: the org row's version, when the store told it."""

    kind: Literal["policy", "org"]
    id: str
    reason: str
    cause: Cause = Cause.INVALID
    version: int | None = None
    # refused on a poll, after the org was loaded: the org is not served rather than answered
    # from the older snapshot, and /readyz says which version did it
    newer: bool = False

    @property
    def shown(self) -> str:
        """The reason as /readyz shows it."""
        return f"version {self.version} not served: {self.reason}" if self.newer else self.reason

    @property
    def label(self) -> str:
        """The name /readyz and the logs have always used: `policy`, or `org:ID`."""
        return "policy" if self.kind == "policy" else f"org:{self.id}"

    @property
    def tampered(self) -> bool:
        """The store vouched for a row wrongly (as opposed to a row that does not load)."""
        return self.cause in (Cause.BAD_HASH, Cause.UNVERIFIED)


@dataclass(frozen=True, slots=True)
class NotServed:
    """An org the store holds that is not served now: its snapshot was refused. A value, not
    an error: the HTTP layer decides what it answers (a 503: the org may be served again)."""

    org: str
    refusal: Refusal

    @property
    def message(self) -> str:
        return f"org `{self.org}` is not served now: its stored snapshot was refused"


@dataclass(frozen=True, slots=True)
class ServedSet:
    """Never changed once built: a request reads one whole set, whichever swap lands during it.
    `stamp`: what the policy set was read under (a directory's stamp), to tell an edit."""

    policies: PolicySet
    engines: Mapping[str, Engine]
    org_versions: Mapping[str, int]
    source: str  # Source.ACTIVE, DIRECTORY or SHIPPED's value
    policy_refusal: Refusal | None = None
    org_refusals: Mapping[str, Refusal] = field(default_factory=dict)
    stamp: object = field(default=None, compare=False)
    # derived once here, so that routing a request never builds a set
    refused_orgs: frozenset[str] = field(init=False, compare=False)
    # the engine a request naming no org gets: the one org, when only one is held
    sole: Engine | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "refused_orgs", frozenset(self.org_refusals))
        alone = len(self.engines) == 1 and not self.org_refusals
        object.__setattr__(self, "sole", next(iter(self.engines.values())) if alone else None)

    @property
    def refusals(self) -> tuple[Refusal, ...]:
        found = [*self.org_refusals.values()]
        if self.policy_refusal is not None:
            found.append(self.policy_refusal)
        return tuple(sorted(found, key=lambda r: r.label))

    @property
    def refused(self) -> dict[str, str]:
        """Each refusal's reason by its label, as /readyz shows them."""
        return {r.label: r.shown for r in self.refusals}

    def engine_for(self, org: object) -> Engine | NotServed:
        """The engine answering for `org` (None: the one org served, if only one). Raises
        AuthzError for an org not held here; never names the orgs served (a caller learns
        only about the org it named)."""
        if org is None:
            refused = self.refused_orgs
            if self.sole is not None:
                return self.sole
            if len(self.engines) + len(refused) > 1:
                raise AuthzError("context.org: required, this server serves several orgs")
            org = next(iter(refused))
        if isinstance(org, str):
            engine = self.engines.get(org)
            if engine is not None:
                return engine
            refusal = self.org_refusals.get(org)
            if refusal is not None:
                return NotServed(org, refusal)
        raise AuthzError("context.org: not an org served here")

    def with_policy_refusal(self, refusal: Refusal | None) -> ServedSet:
        """The same set, the refusal of a later policy text said (or, None, no longer)."""
        return replace(self, policy_refusal=refusal)


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How each org's engine is built, and which rows count as vouched for."""

    backend: str
    cache_size: int = 0
    class_cache: int = 0
    verifier: Verifier | None = None


@dataclass(frozen=True, slots=True)
class PolicyRead:
    policies: PolicySet
    source: str
    stamp: object


def read_policies(store: OrgStore, ref: PolicyRef, verifier: Verifier | None) -> PolicyRead:
    """The set `ref` names now. Raises as resolving does, and UnverifiedRow for a stored
    version the keys do not vouch for."""
    resolved = resolve_policies(ref, store)
    source = resolved.source.value
    if verifier is not None and resolved.source is Source.ACTIVE:
        check_signed(store, resolved.policies, verifier)
    return PolicyRead(resolved.policies, source, resolved.stamp)


def policy_refusal(what: str, exc: Exception) -> Refusal:
    cause = Cause.UNVERIFIED if isinstance(exc, UnverifiedRow) else Cause.INVALID
    return Refusal("policy", what, why(exc), cause)


def load_engine(
    store: OrgStore, policies: PolicySet, org_id: str, options: LoadOptions
) -> tuple[Engine, int] | Refusal:
    """The org's engine under `policies` and the version of the text it was built from (read
    together: an import landing in between must not label old text as new), or why not.
    Raises only StoreUnreachable: then nothing is known of the org."""
    version: int | None = None
    try:
        row = store.row(org_id)
        version = row.version
        try:
            row.check(options.verifier)
        except UnverifiedRow as exc:
            bad_hash = hashlib.sha256(row.text.encode()).hexdigest() != row.sha256
            return Refusal(
                "org", org_id, why(exc), Cause.BAD_HASH if bad_hash else Cause.UNVERIFIED, version
            )
        with collector_paused():
            org = load_org(row.text, policies.catalogue, f"org `{org_id}`")
            if org.id != org_id:  # a row copied under another org's id
                return Refusal(
                    "org",
                    org_id,
                    f"org `{org_id}` version {version}: its text is org `{org.id}`",
                    Cause.MISLABELED,
                    version,
                )
            engine = Engine(
                policies, org, options.backend, None, options.cache_size, options.class_cache
            )
    except StoreUnreachable:
        raise
    except Exception as exc:  # whatever breaks, this org is not served; others are
        if version is None:
            try:
                version = store.version(org_id)
            except AuthzError:
                version = None
        return Refusal("org", org_id, why(exc), Cause.INVALID, version)
    status = engine.class_cache()
    if options.class_cache and not status.on:  # asked for, and the policies do not allow it
        log.warning("org %s: class cache %s", org_id, status.reason)
    return engine, row.version


def load_orgs(
    store: OrgStore, policies: PolicySet, org_ids: Iterable[str], options: LoadOptions
) -> tuple[dict[str, Engine], dict[str, int], dict[str, Refusal]]:
    """Every org under `policies`; one that does not load never holds back the others."""
    engines: dict[str, Engine] = {}
    versions: dict[str, int] = {}
    refused: dict[str, Refusal] = {}
    for org_id in org_ids:
        loaded = load_engine(store, policies, org_id, options)
        if isinstance(loaded, Refusal):
            refused[org_id] = loaded
        else:
            engines[org_id], versions[org_id] = loaded
    return engines, versions, refused


Wanted = OrgSelection | Iterable[str] | None  # the orgs asked for: a selection, ids, or all


def selection_of(wanted: Wanted) -> OrgSelection:
    return wanted if isinstance(wanted, OrgSelection) else OrgSelection.of(wanted)


def org_ids(store: OrgStore, wanted: Wanted) -> list[str]:
    selection = selection_of(wanted)
    ids = selection.among(() if selection.ids else store.ids())
    if not ids and selection.shard is None:
        raise AuthzError("the store holds no org; `authz org import`")
    # a shard may hold no org yet: it serves those that fall to it once they are imported
    return ids


def build_served(
    store: OrgStore, read: PolicyRead, ids: Iterable[str], options: LoadOptions
) -> ServedSet:
    """Every org loaded under the set `read` gave."""
    engines, versions, refused = load_orgs(store, read.policies, ids, options)
    return ServedSet(read.policies, engines, versions, read.source, None, refused, read.stamp)


def load_served(store: OrgStore, ref: PolicyRef, wanted: Wanted, options: LoadOptions) -> ServedSet:
    """Everything from nothing (a start, or fresh caches). Raises when there is nothing to
    serve: the policy set does not load or is not servable, or no org loads."""
    read = read_policies(store, ref, options.verifier)
    if not read.policies.servable:
        raise PolicyError(
            f"{read.policies.directory}: borrows its schema from the directory above: a set "
            "kept to compare against (the old model in policies/legacy), never served"
        )
    served = build_served(store, read, org_ids(store, wanted), options)
    if served.org_refusals and not served.engines:
        raise PolicyError(
            one_line("no org loads", [f"{r.label}: {r.shown}" for r in served.refusals])
        )
    return served


def next_policies(
    served: ServedSet,
    store: OrgStore,
    ref: PolicyRef,
    wanted: Wanted,
    options: LoadOptions,
    what: str,
) -> ServedSet:
    """After the source changed: the new set with every org loaded under it; `served` itself
    (its stamp brought up to date) when the set read is the one served; or, when it does not
    load, `served` still, the last good set, saying the refusal (`what`: the text refused).
    Raises StoreUnreachable: nothing is known then."""
    try:
        read = read_policies(store, ref, options.verifier)
    except StoreUnreachable:
        raise
    except Exception as exc:
        return served.with_policy_refusal(policy_refusal(what, exc))
    if (read.policies.version, read.source) == (served.policies.version, served.source):
        return replace(served, stamp=read.stamp)  # touched, not changed
    return build_served(store, read, org_ids(store, wanted), options)


def next_orgs(
    served: ServedSet,
    store: OrgStore,
    wanted: Wanted,
    options: LoadOptions,
    skip: Callable[[str, int], bool] = lambda org, version: False,
) -> tuple[ServedSet, bool]:
    """Each org whose stored version is not the one served, loaded again under the served
    set; an org gone from the store is served no more. `skip(org, version)`: a text refused
    before, not tried again. The set (`served` itself when nothing differs), and whether an
    engine changed. Never answers from an older snapshot than the store holds: a version
    that does not load takes its org out."""
    selection = selection_of(wanted)
    current = {i: v for i, v in store.versions().items() if selection.selects(i)}
    engines, versions = dict(served.engines), dict(served.org_versions)
    refused = dict(served.org_refusals)
    changed = False
    for org_id in set(versions) - set(current):
        del engines[org_id], versions[org_id]
        changed = True
    for org_id, version in sorted(current.items()):
        if versions.get(org_id) == version or skip(org_id, version):
            continue
        loaded: tuple[Engine, int] | Refusal | None = None
        if org_id in engines:
            loaded = changed_engine(
                store, engines[org_id], org_id, versions[org_id], version, options
            )
        if loaded is None:
            loaded = load_engine(store, served.policies, org_id, options)
        if isinstance(loaded, Refusal):
            engines.pop(org_id, None)
            versions.pop(org_id, None)
            refused[org_id] = replace(loaded, version=version, newer=True)
        else:
            engines[org_id], versions[org_id] = loaded
            refused.pop(org_id, None)
        changed = True
    if not changed and refused == served.org_refusals:
        return served, False
    return replace(served, engines=engines, org_versions=versions, org_refusals=refused), changed


def changed_engine(
    store: OrgStore,
    engine: Engine,
    org_id: str,
    served: int,
    version: int,
    options: LoadOptions,
) -> tuple[Engine, int] | None:
    """`engine` (the org at version `served`) brought to `version` by the change sets the
    store keeps for each version between (`authz org apply`): an engine that shares what the
    changes left alone (`Engine.changed`), in milliseconds where a whole load takes seconds.
    None when a version between has no change set kept (an import made it, or it is older
    than the store keeps) or one does not apply here: the org is then loaded whole, which
    checks everything again. Raises StoreUnreachable."""
    rows = [r for r in store.changes_after(org_id, served) if r.version <= version]
    if [r.version for r in rows] != list(range(served + 1, version + 1)):
        return None
    try:
        for row in rows:
            row.check(options.verifier)
            change_set = parse_change_set(
                row.text, f"the change making org `{org_id}` version {row.version}"
            )
            with collector_paused():
                engine = engine.changed(
                    apply_changes(engine.org, change_set, engine.policies.catalogue)
                )
    except StoreUnreachable:
        raise
    except Exception as exc:  # the whole snapshot decides: it is checked, and signed alone
        log.warning("org %s: loading version %d whole: %s", org_id, version, why(exc))
        return None
    return engine, version


# A change answered over an overlay costs a request that reaches it a parse of its own
# entities: past this many changed entities, or once a shared one changed (every request
# then reaches it), the org is parsed whole again, off the watcher (`compacted`).
COMPACT_AFTER = 1000


def needs_compacting(engine: Engine) -> bool:
    overlay = engine.overlay()
    return overlay is not None and (overlay.everything or len(overlay.dirty) > COMPACT_AFTER)


def compacted(
    store: OrgStore, served: ServedSet, org_id: str, options: LoadOptions
) -> tuple[Engine, int] | Refusal | None:
    """The org parsed whole again under `served`'s policies and brought to the version
    `served` holds (by the stored change sets, if the store moved on meanwhile); a Refusal
    when the version served does not load whole (the changes made an org that is refused:
    it is then not served, as a whole load of it would not be); None when it cannot be
    told now (the org no longer served, or the store moved past the version served: the
    watcher loads that)."""
    want = served.org_versions.get(org_id)
    if want is None:
        return None
    loaded = load_engine(store, served.policies, org_id, options)
    if isinstance(loaded, Refusal):
        return replace(loaded, newer=True) if loaded.version == want else None
    if loaded[1] > want:
        return None
    engine, version = loaded
    if version < want:
        return changed_engine(store, engine, org_id, version, want, options)
    return engine, version


@contextmanager
def collector_paused() -> Iterator[None]:
    """A load allocates hundreds of thousands of objects that all live on, and every so many
    the collector walks them all, for nothing: paused, a 100,000-user org loads in 9.8 s
    instead of 16.4 (bench/bench_fleet.py's time until served). Cycles made meanwhile wait for
    the next collection (the one after each swap, with --freeze-heap)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def why(exc: Exception) -> str:
    if isinstance(exc, AuthzError):
        return str(exc)
    log.error("unexpected failure while loading", exc_info=exc)
    return f"{type(exc).__name__}: {exc}"
