"""What the server serves: a policy set and one Engine per org, each swapped on its own.

Where the policy set comes from:
- the store (the default): the active published version (`authz policy publish`), a set that
  was validated whole before anyone could see it; with none published, the set shipped with
  authz, read once at start;
- a directory (`--policies DIR`, for development): files that an editor may be half-way
  through writing, so a changed set is taken only once it has been the same across two polls
  and every file parses (engine/policy_files.py refuses FIFOs, devices, escaping symlinks).

The policy set and each org are reloaded independently: a refused policy edit never holds
back an org import that revokes a seat, and one org that does not load never holds back the
others. A refusal is logged and counted once per refused text.

What is refused differs, on purpose. A policy edit that does not load is refused and the last
good set keeps answering (a half-written file must not take the service down). An org whose
stored snapshot does not load under the served set is no longer served at all (its requests
are a 503) rather than answered from an older snapshot: the store is the truth, and the
newer snapshot may be the revocation, so answering from the old one could be a stale allow.

A row the store vouches for wrongly is refused the same two ways (issue 29, item 4): an org
row whose text does not match its stored sha256 (edited behind the store's back), and, with
verify keys (`--verify-key`), a policy version or org row whose signature is missing or does
not verify (engine/signing.py). Each is counted (authz_rows_refused) and named on /readyz.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from suite_authz.engine import (
    AuthzError,
    ClassCacheStatus,
    DecisionCache,
    DecisionLog,
    Engine,
    OrgStore,
    PolicyError,
    PolicyRef,
    PolicySet,
    Source,
    StoreUnreachable,
    UnverifiedRow,
    Verifier,
    active_version,
    check_signed,
    joined,
    load_org,
    policy_signature,
    resolve_policies,
)
from suite_authz.engine import policy_stamp as stamp
from suite_authz.server.authzen import HttpError
from suite_authz.server.change_feed import ChangeFeed
from suite_authz.server.metrics import Metrics

log = logging.getLogger("authz.server")

STORE, DIRECTORY, SHIPPED = Source.ACTIVE.value, Source.DIRECTORY.value, Source.SHIPPED.value


@dataclass(frozen=True, slots=True)
class Served:
    policies: PolicySet
    engines: dict[str, Engine]  # org id -> engine
    org_versions: dict[str, int]
    source: str  # STORE, DIRECTORY or SHIPPED
    refused: dict[str, str] = field(default_factory=dict)  # "policy" or "org:ID" -> why

    def refused_orgs(self) -> set[str]:
        """Orgs in the store that are not served, since their snapshot did not load."""
        return {k[4:] for k in self.refused if k.startswith("org:")}


class State:
    def __init__(
        self,
        store: OrgStore,
        policies: PolicyRef,
        orgs: list[str] | None,
        backend: str,
        metrics: Metrics,
        cache_size: int = 0,
        settle: bool | None = None,
        class_cache: int = 0,
        freeze_heap: bool = False,
        verifier: Verifier | None = None,
    ) -> None:
        """`policies`: the set to serve, resolved as every door resolves it (engine/policy_ref.py):
        the store's active version, or a directory watched (development), or the shipped set.
        `settle`: take a changed directory only once two polls saw it the same (the
        default when a watcher polls; a caller that reloads by hand gets what is there).
        `verifier`: serve from the store only policy versions and org rows it verifies."""
        self.store = store
        self.verifier = verifier
        self.cache_size = cache_size
        self.class_cache = class_cache
        self.freeze_heap = freeze_heap
        self.policy_ref = policies
        self.policies_dir = (
            Path(policies.value).resolve() if policies.kind is Source.DIRECTORY else None
        )
        self.backend = backend
        self.metrics = metrics
        self.settle = settle
        self._orgs = orgs
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pending: object = None  # the directory stamp seen on the last poll
        self._seen: object = None  # the stamp of the served (or refused) directory texts
        # the refusal ledger: each refused text (by key), counted once, and why
        self._refused_keys: dict[str, str] = {}
        self.watching = False
        self.interval = 0.0
        self.last_poll = time.monotonic()  # the watcher's last turn (a poll, or a wait heard)
        self.feed: ChangeFeed | None = None
        # the store did not answer the last poll: since when (wall clock), and why
        self.degraded_since: float | None = None
        self.store_error: str | None = None
        self.served: Served | None = None
        # the log the app writes, so that the process can reopen it on SIGHUP
        self.decision_log: DecisionLog | None = None
        self.load()  # the first load must succeed: a server that cannot load answers nothing

    @property
    def last_error(self) -> str | None:
        served = self.served
        if served is None or not served.refused:
            return None
        return "; ".join(f"{k}: {v}" for k, v in sorted(served.refused.items()))

    def org_ids(self) -> list[str]:
        ids = self._orgs or self.store.ids()
        if not ids:
            raise AuthzError("the store holds no org; `authz org import`")
        return ids

    # -- loading --------------------------------------------------------------------------

    def _read_policies(self) -> tuple[PolicySet, str, object]:
        """The set to serve now, where it comes from, and the stamp it was read under."""
        resolved = resolve_policies(self.policy_ref, self.store)
        if self.verifier is not None and resolved.source.value == STORE:
            try:
                check_signed(self.store, resolved.policies, self.verifier)
            except UnverifiedRow:
                self.metrics.row_refused("policy")
                raise
        return resolved.policies, resolved.source.value, resolved.stamp

    def _org(self, policies: PolicySet, org_id: str) -> tuple[Engine, int]:
        """The org's engine under `policies`, and the version of the text it was built from
        (read together: an import landing in between must not label old text as new)."""
        row = self.store.row(org_id)
        try:
            row.check(self.verifier)
        except UnverifiedRow:
            self.metrics.row_refused("org")
            raise
        version, text = row.version, row.text
        with _collector_paused():
            org = load_org(text, policies.catalogue, f"org `{org_id}`")
            if org.id != org_id:  # a row copied under another org's id
                raise UnverifiedRow(f"org `{org_id}` version {version}: its text is org `{org.id}`")
            engine = Engine(policies, org, self.backend, None, self.cache_size, self.class_cache)
        status = engine.class_cache()
        if self.class_cache and not status.on:  # asked for, and the policies do not allow it
            log.warning("org %s: class cache %s", org_id, status.reason)
        return engine, version

    def _all_orgs(
        self, policies: PolicySet
    ) -> tuple[dict[str, Engine], dict[str, int], dict[str, str]]:
        """Every org to serve under `policies`, and why any could not be (by `org:ID`)."""
        engines, versions, refused = {}, {}, {}
        for org_id in self.org_ids():
            try:
                engines[org_id], versions[org_id] = self._org(policies, org_id)
            except StoreUnreachable:
                raise  # nothing is known of the org: keep what is served, poll again
            except Exception as exc:  # whatever breaks, this org is not served; others are
                refused[f"org:{org_id}"] = _why(exc)
                try:
                    version: int | None = self.store.version(org_id)
                except AuthzError:
                    version = None
                self._refuse(f"org:{org_id}", _why(exc), _org_key(org_id, version, policies))
        return engines, versions, refused

    def load(self) -> Served:
        """Load everything now (at start, and to start fresh caches); raises on any failure."""
        policies, source, seen = self._read_policies()
        if not policies.servable:
            raise PolicyError(
                f"{policies.directory}: borrows its schema from the directory above: a set kept "
                "to compare against (the old model in policies/legacy), never served"
            )
        engines, versions, refused = self._all_orgs(policies)
        if refused and not engines:
            raise PolicyError(joined("no org loads", [f"{k}: {v}" for k, v in refused.items()]))
        self._seen = self._pending = seen
        self._swap(Served(policies, engines, versions, source, refused))
        for what, why in refused.items():
            log.error("%s is not served: %s", what, why)
        return self.served  # type: ignore[return-value]

    def _swap(self, served: Served) -> None:
        with self._lock:
            old = self.served
            if old is not None:  # keep the cache counters going across reloads
                gone = [e for k, e in old.engines.items() if served.engines.get(k) is not e]
                self.metrics.retire_caches(e.cache for e in gone)
                self.metrics.retire_classes((e, e.class_cache()) for e in gone)
            self.served = served
        self.metrics.serving(served.policies.version)
        if self.freeze_heap and (old is None or old.engines is not served.engines):
            _freeze_heap()

    # -- polling ----------------------------------------------------------------------------

    def reload_if_changed(self) -> bool:
        """One poll: take a changed policy set, then each changed org. True if anything was
        swapped in. Never raises: a failure is refused, counted once, and the last good stays."""
        self.last_poll = time.monotonic()
        try:
            changed = self._poll_policies()
            changed = self._poll_orgs() or changed
        except Exception as exc:  # the store itself failed: keep serving what is served
            self._store_failed(exc)
            return False
        self._store_answered()
        return changed

    def _store_failed(self, exc: Exception) -> None:
        """Degraded: answer from what was loaded, say so on /readyz, count it once per outage."""
        self.store_error = (
            str(exc) if isinstance(exc, AuthzError) else f"{type(exc).__name__}: {exc}"
        )
        if self.degraded_since is None:
            self.degraded_since = time.time()
            self.metrics.store_outage()
            log.error("store unreachable, serving what was loaded: %s", self.store_error)

    def _store_answered(self) -> None:
        if self.degraded_since is not None:
            log.warning(
                "store reachable again after %.1f s; caught up", time.time() - self.degraded_since
            )
        self.degraded_since = self.store_error = None

    def _poll_policies(self) -> bool:
        served = self.served
        assert served is not None
        if self.policies_dir is not None:
            now = stamp(self.policies_dir)
            if now == self._seen:
                self._policy_current()  # the served texts are back (a refused edit undone)
                return False
            if self.settle and now != self._pending:
                self._pending = now  # changed since the last poll: maybe still being written
                return False
            key = f"policy:{now}"
        else:
            version = active_version(self.store) if self.policy_ref.kind is Source.ACTIVE else None
            if version is None or (version, STORE) == (served.policies.version, served.source):
                self._policy_current()
                return False
            key = f"policy:{version}"
            if self.verifier is not None:  # a version signed since it was refused is retried
                key += f":{policy_signature(self.store, version)}"
        if key in self._refused_keys:
            self._policy_refused(self._refused_keys[key])  # refused before, current again
            return False
        try:
            policies, source, seen = self._read_policies()
            if (policies.version, source) == (served.policies.version, served.source):
                self._seen = seen  # touched, not changed
                self._policy_current()
                return False
        except StoreUnreachable:
            raise
        except Exception as exc:
            self._refuse("policy", _why(exc), key)
            return False
        engines, versions, refused = self._all_orgs(policies)
        self._seen = self._pending = seen
        self._swap(Served(policies, engines, versions, source, refused))
        self.metrics.reloaded()
        log.info("serving policy set %s (%s)", policies.version, source)
        return True

    def _poll_orgs(self) -> bool:
        served = self.served
        assert served is not None
        wanted = set(self._orgs or ())
        current = {i: v for i, v in self.store.versions().items() if not wanted or i in wanted}
        engines, versions = dict(served.engines), dict(served.org_versions)
        refused = dict(served.refused)
        changed = False
        for org_id in set(versions) - set(current):
            del engines[org_id], versions[org_id]  # removed from the store: served no more
            changed = True
        for org_id, version in sorted(current.items()):
            if versions.get(org_id) == version:
                continue
            key = _org_key(org_id, version, served.policies)
            if key in self._refused_keys:
                continue
            try:
                engines[org_id], versions[org_id] = self._org(served.policies, org_id)
                refused.pop(f"org:{org_id}", None)
            except StoreUnreachable:
                raise
            except Exception as exc:
                # fail closed: never answer from an older snapshot than the store holds
                engines.pop(org_id, None)
                versions.pop(org_id, None)
                refused[f"org:{org_id}"] = f"version {version} not served: {_why(exc)}"
                self._refuse(f"org:{org_id}", _why(exc), key)
            changed = True
        if changed or refused != served.refused:
            self._swap(replace(served, engines=engines, org_versions=versions, refused=refused))
        if changed:
            self.metrics.reloaded()
        return changed

    def _refuse(self, what: str, message: str, key: str) -> None:
        """Count and log a refusal once per refused text, however many polls see it. The
        policy's and the store's are recorded here; an org's by the caller, with its swap."""
        if key in self._refused_keys:
            return
        self._refused_keys[key] = message
        self.metrics.reload_failed()
        log.error("reload of %s refused: %s", what, message)
        if not what.startswith("org:"):
            self._policy_refused(message)

    def _policy_refused(self, message: str) -> None:
        served = self.served
        if served is not None and served.refused.get("policy") != message:
            self._swap(replace(served, refused={**served.refused, "policy": message}))

    def _policy_current(self) -> None:
        """What is served is what the source holds now: a refusal of a later text is history,
        not a problem /readyz should go on reporting (issue 29: it stayed after a restore)."""
        served = self.served
        if served is not None and "policy" in served.refused:
            refused = {k: v for k, v in served.refused.items() if k != "policy"}
            self._swap(replace(served, refused=refused))

    # -- the watcher ------------------------------------------------------------------------

    def watch(self, interval: float = 1.0) -> threading.Thread:
        if self.settle is None:
            self.settle = True
        self.watching, self.interval = True, interval
        self.feed = feed = ChangeFeed(self.store, self._stop, interval)

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    due = feed.wait()
                except Exception:  # never let the watcher die: poll as SQLite does
                    log.exception("waiting for store changes failed")
                    self._stop.wait(interval)
                    due = True
                self.last_poll = time.monotonic()
                if due and not self._stop.is_set():
                    self.reload_if_changed()
                self.sync_metrics()

        thread = threading.Thread(target=loop, name="authz-reload", daemon=True)
        thread.start()
        return thread

    def stalled(self) -> bool:
        """A watcher that has not finished a turn for many intervals is stuck: not ready. A
        turn may wait for the store's timeouts (a poll, then a listen) before failing."""
        slowest = 3 * self.store.timeout + self.interval
        limit = max(10.0, 5 * self.interval, slowest)
        return self.watching and time.monotonic() - self.last_poll > limit

    def store_status(self) -> dict[str, object]:
        """For /readyz: which store, whether it answers, whether changes are pushed. On a store
        that pushes them: "pushed" only while a heartbeat heard back proves the listener
        delivers, else "polling" and why; and how often the listener was lost, and why last."""
        feed = self.feed
        out: dict[str, object] = {
            "engine": self.store.engine,
            "reachable": self.degraded_since is None,
            "changes": "polled",
        }
        out["signatures"] = (
            {"verified": True, "keys": self.verifier.describe()}
            if self.verifier is not None
            else {"verified": False}
        )
        if feed is not None and feed.pushed:
            out["changes"] = "pushed" if feed.live else "polling"
            if not feed.live:
                out["polling_because"] = feed.why_polling
            out["listener_lost"] = feed.drops
            out["listener_last_lost"] = feed.lost_why
        if self.degraded_since is not None:
            out["degraded_since"] = datetime.fromtimestamp(self.degraded_since, UTC).isoformat(
                timespec="seconds"
            )
            out["error"] = self.store_error
        return out

    def stop(self) -> None:
        self._stop.set()

    def caches(self) -> list[DecisionCache]:
        served = self.served
        if served is None:
            return []
        return [e.cache for e in served.engines.values() if e.cache is not None]

    def sync_metrics(self) -> None:
        """This process's figures into the metrics (every watcher turn, and at a scrape): with
        several workers, a scrape reads the others' from what they last carried over."""
        served = self.served
        engines = list(served.engines.values()) if served is not None else []
        self.metrics.store_state(
            self.degraded_since is None,
            bool(self.feed and self.feed.pushed and self.feed.live),
        )
        self.metrics.sync(self.caches(), [(e, e.class_cache()) for e in engines])

    def class_caches(self) -> dict[str, ClassCacheStatus]:
        served = self.served
        if served is None:
            return {}
        return {org: e.class_cache() for org, e in sorted(served.engines.items())}

    def engine_for(self, org: object) -> Engine:
        served = self.served
        assert served is not None
        if org is None:
            if len(served.engines) == 1 and not served.refused_orgs():
                return next(iter(served.engines.values()))
            if len(served.engines) + len(served.refused_orgs()) > 1:
                raise AuthzError("context.org: required, this server serves several orgs")
            org = next(iter(served.refused_orgs()))
        if isinstance(org, str) and org in served.engines:
            return served.engines[org]
        if org in served.refused_orgs():
            raise HttpError(503, f"org `{org}` is not served now: its stored snapshot was refused")
        # never list the served orgs: a caller learns only about the org it named
        raise AuthzError("context.org: not an org served here")


@contextmanager
def _collector_paused() -> Iterator[None]:
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


def _freeze_heap() -> None:
    """What a load built lives until the next reload: move it out of the cyclic collector's
    reach. A full collection otherwise walks a big org's hundreds of thousands of objects
    under load, a pause of 150-250 ms every few seconds, which was the p99 of batches (issue
    14). The engines a reload replaced are collected here once, then the rest is frozen: one
    such pause per reload instead of one every few seconds."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _org_key(org_id: str, version: int | None, policies: PolicySet) -> str:
    return f"org:{org_id}:{version}:{policies.version}"


def _why(exc: Exception) -> str:
    if isinstance(exc, AuthzError):
        return str(exc)
    log.error("unexpected failure while loading", exc_info=exc)
    return f"{type(exc).__name__}: {exc}"
