"""The server's face of what it serves: the reloader that keeps the served set current
(server/reload.py), the observers that hear each swap (metrics, the heap, readiness), and
routing a request to its org's engine.

What is served and refused, and why, is the engine's (engine/serving/served_set.py); when to look
and
what to do with a refusal is the reloader's. A row the store vouches for wrongly is refused
like one that does not load: an org row whose text does not match its stored sha256 (edited
behind the store's back), and, with verify keys (`--verify-key`), a policy version or org row
whose signature is missing or does not verify (engine/store/signing.py). Each is counted
(authz_rows_refused) and named on /readyz.
"""

from __future__ import annotations

import gc
import threading

from suite_authz.engine.core import AuthzError, ClassCacheStatus, DecisionCache, Engine
from suite_authz.engine.serving import DecisionLog, LoadOptions, NotServed, OrgSelection, ServedSet
from suite_authz.engine.sources import PolicyRef
from suite_authz.engine.store import OrgStore, Verifier
from suite_authz.server.authzen import HttpError
from suite_authz.server.change_feed import ChangeFeed
from suite_authz.server.metrics import Metrics
from suite_authz.server.readiness import Readiness
from suite_authz.server.reload import Reloader


class State:
    def __init__(
        self,
        store: OrgStore,
        policies: PolicyRef,
        orgs: OrgSelection | list[str] | None,
        backend: str,
        metrics: Metrics,
        cache_size: int = 0,
        settle: bool | None = None,
        class_cache: int = 0,
        freeze_heap: bool = False,
        verifier: Verifier | None = None,
    ) -> None:
        """`policies`: the set to serve, resolved as every door resolves it
        (engine/sources/policy_ref.py): the store's active version, or a directory watched
        (development), or the shipped set.
        `settle`: take a changed directory only once two polls saw it the same (the
        default when a watcher polls; a caller that reloads by hand gets what is there).
        `verifier`: serve from the store only policy versions and org rows it verifies."""
        self.store = store
        self.verifier = verifier
        self.policy_ref = policies
        self.backend = backend
        self.metrics = metrics
        self.freeze_heap = freeze_heap
        self.selection = orgs if isinstance(orgs, OrgSelection) else OrgSelection.of(orgs)
        options = LoadOptions(backend, cache_size, class_cache, verifier)
        self.reloader = Reloader(store, policies, orgs, options, metrics, settle=settle)
        self.policies_dir = self.reloader.policies_dir
        self.readiness = Readiness(self.reloader)
        # the metrics first: what a swap retired is carried before the heap is frozen
        for observer in (metrics.swapped, self._heap_swapped, self.readiness.swapped):
            self.reloader.subscribe(observer)
        # the log the app writes, so that the process can reopen it on SIGHUP
        self.decision_log: DecisionLog | None = None
        self.load()  # the first load must succeed: a server that cannot load answers nothing

    # The reloader's state, read (and, by tests, set) where it always was.
    @property
    def served(self) -> ServedSet | None:
        return self.reloader.served

    @property
    def settle(self) -> bool | None:
        return self.reloader.settle

    @settle.setter
    def settle(self, value: bool | None) -> None:
        self.reloader.settle = value

    @property
    def watching(self) -> bool:
        return self.reloader.watching

    @watching.setter
    def watching(self, value: bool) -> None:
        self.reloader.watching = value

    @property
    def interval(self) -> float:
        return self.reloader.interval

    @interval.setter
    def interval(self, value: float) -> None:
        self.reloader.interval = value

    @property
    def last_poll(self) -> float:
        return self.reloader.last_poll

    @last_poll.setter
    def last_poll(self, value: float) -> None:
        self.reloader.last_poll = value

    @property
    def feed(self) -> ChangeFeed | None:
        return self.reloader.feed

    @property
    def degraded_since(self) -> float | None:
        return self.reloader.degraded_since

    @property
    def store_error(self) -> str | None:
        return self.reloader.store_error

    @property
    def last_error(self) -> str | None:
        return self.readiness.last_error

    def load(self) -> ServedSet:
        return self.reloader.load()

    def reload_if_changed(self) -> bool:
        return self.reloader.reload_if_changed()

    def watch(self, interval: float = 1.0) -> threading.Thread:
        return self.reloader.watch(interval, self.sync_metrics)

    def stalled(self) -> bool:
        return self.reloader.stalled()

    def store_status(self) -> dict[str, object]:
        return self.reloader.store_status()

    def stop(self) -> None:
        self.reloader.stop()

    def _heap_swapped(self, old: ServedSet | None, new: ServedSet) -> None:
        if self.freeze_heap and (old is None or old.engines is not new.engines):
            _freeze_heap()

    # -- what is served, for metrics and the admin page --------------------------------------

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
        self.metrics.store_state(self.degraded_since is None, self.reloader.pushed_live())
        self.metrics.sync(self.caches(), [(e, e.class_cache()) for e in engines])

    def class_caches(self) -> dict[str, ClassCacheStatus]:
        served = self.served
        if served is None:
            return {}
        return {org: e.class_cache() for org, e in sorted(served.engines.items())}

    # -- routing ---------------------------------------------------------------------------

    def engine_for(self, org: object) -> Engine:
        """The engine for a request's org. An org the store holds but whose snapshot was
        refused is a 503, not a 400: it may be served again once mended."""
        served = self.served
        assert served is not None
        # the two answers nearly every request gets, without a call: this is the decision path
        if org is None:
            if served.sole is not None:
                return served.sole
        elif type(org) is str:
            engine = served.engines.get(org)
            if engine is not None:
                return engine
        try:
            found = served.engine_for(org)
        except AuthzError as exc:  # a sharded fleet's load balancer sent it to the wrong shard
            wrong = self.selection.misrouted(org) if isinstance(org, str) else None
            if wrong is None:
                raise
            raise AuthzError(f"{exc}: {wrong} (`authz fleet route`)") from None
        if isinstance(found, NotServed):
            raise not_served(found)
        return found


def not_served(refused: NotServed) -> HttpError:
    return HttpError(503, refused.message)


def _freeze_heap() -> None:
    """What a load built lives until the next reload: move it out of the cyclic collector's
    reach. A full collection otherwise walks a big org's hundreds of thousands of objects
    under load, a pause of 150-250 ms every few seconds, which was the p99 of batches. The
    engines a reload replaced are collected here once, then the rest is frozen: one such
    pause per reload instead of one every few seconds."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
