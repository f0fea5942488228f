"""Keeping the served set current: when to look (polling, or the change feed's pushes), when
an edit has settled, what was refused already, and the swap, which every observer hears.

The policy set and each org are reloaded independently: a refused policy edit never holds
back an org import that revokes a seat, and one org that does not load never holds back the
others. A refusal is logged and counted once per refused text, however many polls see it.
What each load gives, and what it refuses, is the engine's
(engine/serving/served_set.py); this module decides only when to ask and what to do with the
answer.

Where the policy set comes from:
- the store (the default): the active published version (`authz policy publish`), a set that
  was validated whole before anyone could see it; with none published, the set shipped with
  authz, read once at start;
- a directory (`--policies DIR`, for development): files that an editor may be half-way
  through writing, so a changed set is taken only once it has been the same across two polls
  and every file parses (engine/core/policy_files.py refuses FIFOs, devices, escaping symlinks).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from suite_authz.engine.core import AuthzError, Engine
from suite_authz.engine.core import policy_stamp as stamp
from suite_authz.engine.serving import (
    LoadOptions,
    OrgSelection,
    Refusal,
    ServedSet,
    compacted,
    load_served,
    needs_compacting,
    next_orgs,
    next_policies,
)
from suite_authz.engine.sources import PolicyRef, Source
from suite_authz.engine.store import OrgStore, UnverifiedRow, active_version, policy_signature
from suite_authz.server.change_feed import ChangeFeed

log = logging.getLogger("authz.server")

# Told of each swap, old (None at the first load) and new, in swap order: a listener sees
# every set that was served, so counters carried per engine are retired exactly once.
Observer = Callable[[ServedSet | None, ServedSet], None]


class Counters(Protocol):
    """What a reloader counts (server/metrics.py's Metrics): events, where observers hear
    states. A refusal is counted once per refused text; a row the store vouched for wrongly
    once per attempt to load it."""

    def reloaded(self) -> None: ...
    def reload_failed(self) -> None: ...
    def row_refused(self, kind: str) -> None: ...
    def store_outage(self) -> None: ...
    def org_updated(self, how: str) -> None: ...


# A text refused before, counted and logged once: what it was, never a string to slice.
RefusedKey = tuple[object, ...]


class Reloader:
    def __init__(
        self,
        store: OrgStore,
        policies: PolicyRef,
        orgs: OrgSelection | list[str] | None,
        options: LoadOptions,
        counters: Counters,
        observers: list[Observer] | None = None,
        settle: bool | None = None,
    ) -> None:
        """`settle`: take a changed directory only once two polls saw it the same (the default
        when a watcher polls; a caller that reloads by hand gets what is there)."""
        self.store = store
        self.policy_ref = policies
        self.policies_dir = (
            Path(policies.value).resolve() if policies.kind is Source.DIRECTORY else None
        )
        self.orgs = orgs
        self.options = options
        self.observers: list[Observer] = list(observers or ())
        self.counters = counters
        self.settle = settle
        # held by a swap, and by a poll of the orgs from its read to its publish: a swap
        # made meanwhile (a compaction) would otherwise be undone by that publish
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._pending: object = None  # the directory stamp seen on the last poll
        self._seen: object = None  # the stamp of the served directory texts
        self._refused: dict[RefusedKey, Refusal] = {}
        self.watching = False
        self.interval = 0.0
        self.last_poll = time.monotonic()  # the watcher's last turn (a poll, or a wait heard)
        self.feed: ChangeFeed | None = None
        # the store did not answer the last poll: since when (wall clock), and why
        self.degraded_since: float | None = None
        self.store_error: str | None = None
        self.served: ServedSet | None = None
        # orgs answered over an overlay of many changes, to parse whole again (`compact`)
        self._to_compact: dict[str, None] = {}
        self._compact_due = threading.Event()

    def subscribe(self, observer: Observer) -> None:
        self.observers.append(observer)

    def publish(self, served: ServedSet) -> None:
        """Swap `served` in and tell every observer, under one lock so that two swaps are
        heard in the order they were made."""
        with self._lock:
            old, self.served = self.served, served
            for observer in self.observers:
                observer(old, served)

    # -- loading --------------------------------------------------------------------------

    def load(self) -> ServedSet:
        """Load everything now (at start, and to start fresh caches); raises on any failure."""
        try:
            served = load_served(self.store, self.policy_ref, self.orgs, self.options)
        except UnverifiedRow:
            self.counters.row_refused("policy")
            raise
        for refusal in served.org_refusals.values():
            self._org_refused(refusal, served)
        self._seen = self._pending = served.stamp
        self.publish(served)
        for refusal in served.refusals:
            log.error("%s is not served: %s", refusal.label, refusal.reason)
        return served

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
            self.counters.store_outage()
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
            key: RefusedKey = ("policy", now)
            what = str(self.policies_dir)
        else:
            version = active_version(self.store) if self.policy_ref.kind is Source.ACTIVE else None
            if version is None or (version, Source.ACTIVE.value) == (
                served.policies.version,
                served.source,
            ):
                self._policy_current()
                return False
            key = ("policy", version)
            what = version
            if self.options.verifier is not None:  # a version signed since it was refused
                key += (policy_signature(self.store, version),)
        earlier = self._refused.get(key)
        if earlier is not None:
            self._say_policy_refused(earlier)  # refused before, current again
            return False
        after = next_policies(served, self.store, self.policy_ref, self.orgs, self.options, what)
        if after.policies is served.policies:
            refusal = after.policy_refusal
            if refusal is not None and refusal is not served.policy_refusal:
                if refusal.tampered:
                    self.counters.row_refused("policy")
                self._refuse(key, refusal)
                self._say_policy_refused(refusal)
                return False
            self._seen = after.stamp  # touched, not changed
            self._policy_current()
            return False
        for refusal in after.org_refusals.values():
            self._org_refused(refusal, after)
        self._seen = self._pending = after.stamp
        self.publish(after)
        self.counters.reloaded()
        log.info("serving policy set %s (%s)", after.policies.version, after.source)
        return True

    def _poll_orgs(self) -> bool:
        with self._lock:
            served = self.served
            assert served is not None

            def refused_before(org_id: str, version: int) -> bool:
                return _org_key(org_id, version, served) in self._refused

            after, changed = next_orgs(served, self.store, self.orgs, self.options, refused_before)
            for org_id, refusal in after.org_refusals.items():
                if served.org_refusals.get(org_id) is not refusal:
                    self._org_refused(refusal, served)
            if after is not served:
                self.publish(after)
        if changed:
            self.counters.reloaded()
            for org_id, engine in after.engines.items():
                if engine is served.engines.get(org_id):
                    continue
                overlay = engine.overlay()
                self.counters.org_updated("change" if overlay is not None else "whole")
                if needs_compacting(engine):
                    self._to_compact[org_id] = None
                    self._compact_due.set()
        return changed

    def compact(self) -> int:
        """Parse whole again each org queued for it (a change answered over an overlay of
        many, engine/serving/served_set.py `needs_compacting`), swapping it in only if the
        served org is still at the version it was brought to. Runs on its own thread beside
        the watcher, so that a revocation never waits for a big org's parse. How many were
        swapped in."""
        swapped = 0
        while self._to_compact:
            org_id = next(iter(self._to_compact))
            del self._to_compact[org_id]
            served = self.served
            if served is None:
                break
            try:
                built = compacted(self.store, served, org_id, self.options)
            except Exception as exc:  # the store: the watcher says so; try at the next change
                log.warning("org %s: not parsed whole again: %s", org_id, exc)
                continue
            if isinstance(built, Refusal):  # fail closed: the org is not served
                if self._swap(org_id, built, built.version, served.policies):
                    self._org_refused(built, served)
                continue
            if built is not None and self._swap(org_id, *built, policies=served.policies):
                swapped += 1
                self.counters.org_updated("reparsed")
                log.info("org %s version %d parsed whole again", org_id, built[1])
        return swapped

    def _swap(
        self, org_id: str, engine: Engine | Refusal, version: int | None, policies: object
    ) -> bool:
        """Swap `engine` in for the org (a Refusal: the org out), if the set served still
        holds the org at `version` under `policies`."""
        with self._lock:
            served = self.served
            if (
                served is None
                or served.policies is not policies
                or served.org_versions.get(org_id) != version
            ):
                return False
            if isinstance(engine, Refusal):
                engines = {k: e for k, e in served.engines.items() if k != org_id}
                versions = {k: v for k, v in served.org_versions.items() if k != org_id}
                new = replace(
                    served,
                    engines=engines,
                    org_versions=versions,
                    org_refusals={**served.org_refusals, org_id: engine},
                )
            else:
                new = replace(served, engines={**served.engines, org_id: engine})
            old, self.served = served, new
            for observer in self.observers:
                observer(old, new)
        return True

    def _org_refused(self, refusal: Refusal, under: ServedSet) -> None:
        if refusal.tampered:
            self.counters.row_refused("org")
        self._refuse(_org_key(refusal.id, refusal.version, under), refusal)

    def _refuse(self, key: RefusedKey, refusal: Refusal) -> None:
        """Count and log a refusal once per refused text, however many polls see it."""
        if key in self._refused:
            return
        self._refused[key] = refusal
        self.counters.reload_failed()
        log.error("reload of %s refused: %s", refusal.label, refusal.reason)

    def _say_policy_refused(self, refusal: Refusal) -> None:
        served = self.served
        if served is None:
            return
        now = served.policy_refusal
        if now is None or now.reason != refusal.reason:
            self.publish(served.with_policy_refusal(refusal))

    def _policy_current(self) -> None:
        """What is served is what the source holds now: a refusal of a later text is history,
        not a problem /readyz should go on reporting (it stayed after a restore)."""
        served = self.served
        if served is not None and served.policy_refusal is not None:
            self.publish(served.with_policy_refusal(None))

    # -- the watcher ------------------------------------------------------------------------

    def watch(
        self, interval: float = 1.0, each_turn: Callable[[], None] = lambda: None
    ) -> threading.Thread:
        """Poll every `interval` (or as soon as the store pushes a change) on a daemon thread;
        `each_turn` runs after every turn, whether or not anything was due."""
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
                each_turn()

        def compacting() -> None:
            while not self._stop.is_set():
                self._compact_due.wait()
                self._compact_due.clear()
                if not self._stop.is_set():
                    self.compact()

        thread = threading.Thread(target=loop, name="authz-reload", daemon=True)
        thread.start()
        threading.Thread(target=compacting, name="authz-compact", daemon=True).start()
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
        verifier = self.options.verifier
        out: dict[str, object] = {
            "driver": self.store.driver,
            "reachable": self.degraded_since is None,
            "changes": "polled",
        }
        out["signatures"] = (
            {"verified": True, "keys": verifier.describe()}
            if verifier is not None
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

    def pushed_live(self) -> bool:
        feed = self.feed
        return bool(feed and feed.pushed and feed.live)

    def stop(self) -> None:
        self._stop.set()
        self._compact_due.set()


def _org_key(org_id: str, version: int | None, under: ServedSet) -> RefusedKey:
    """An org's text is refused under one policy set: a new set may load it."""
    return ("org", org_id, version, under.policies.version)
