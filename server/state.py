"""What the server serves: the policy set and one Engine per org, swapped atomically.

A watcher thread polls the policy files' mtimes and the store's org versions. A change is
loaded and validated off to the side; only a fully built set replaces the served one. A broken
edit is refused, logged and counted, and the last good set keeps answering.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from engine import AuthzError, Engine
from engine.cache import DecisionCache
from engine.errors import PolicyError
from engine.policies import PolicySet, default_policies_dir, load_policies
from engine.store import OrgStore
from server.metrics import Metrics

log = logging.getLogger("authz.server")


@dataclass(frozen=True, slots=True)
class Served:
    policies: PolicySet
    engines: dict[str, Engine]  # org id -> engine
    org_versions: dict[str, int]
    policy_stamp: tuple[tuple[str, float], ...]


class State:
    def __init__(
        self,
        store: OrgStore,
        policies_dir: Path | None,
        orgs: list[str] | None,
        backend: str,
        metrics: Metrics,
        cache_size: int = 0,
    ) -> None:
        self.store = store
        self.cache_size = cache_size
        self.policies_dir = (policies_dir or default_policies_dir()).resolve()
        self.backend = backend
        self.metrics = metrics
        self._orgs = orgs
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.served: Served | None = None
        self.last_error: str | None = None
        self.load()  # the first load must succeed: a server that cannot load answers nothing

    def org_ids(self) -> list[str]:
        ids = self._orgs or self.store.ids()
        if not ids:
            raise AuthzError(f"{self.store.path}: the store holds no org; `authz org import`")
        return ids

    def _stamp(self) -> tuple[tuple[str, float], ...]:
        files = sorted(
            p
            for p in self.policies_dir.rglob("*")
            if p.is_file()
            and p.suffix in (".cedar", ".cedarschema", ".json", ".polar")
            and "history" not in p.parts
            and "examples" not in p.parts
            and "legacy" not in p.parts
        )
        return tuple((str(p), p.stat().st_mtime) for p in files)

    def load(self) -> Served:
        stamp = self._stamp()
        policies = load_policies(self.policies_dir)
        if not policies.servable:
            raise PolicyError(
                f"{policies.directory}: borrows its schema from the directory above: a set kept "
                "to compare against (the old model in policies/legacy), never served"
            )
        ids = self.org_ids()
        versions = {i: self.store.version(i) for i in ids}
        engines = {
            i: Engine(
                policies,
                self.store.load(i, policies.catalogue),
                self.backend,
                None,
                self.cache_size,
            )
            for i in ids
        }
        served = Served(policies, engines, versions, stamp)
        with self._lock:
            if self.served is not None:  # keep the cache counters going across reloads
                self.metrics.retire_caches(e.cache for e in self.served.engines.values())
            self.served = served
        self.metrics.policy_version = policies.version
        return served

    def changed(self) -> bool:
        served = self.served
        if served is None:
            return True
        if self._stamp() != served.policy_stamp:
            return True
        ids = self.org_ids()
        return any(self.store.version(i) != served.org_versions.get(i) for i in ids) or set(
            ids
        ) != set(served.org_versions)

    def caches(self) -> list[DecisionCache]:
        served = self.served
        if served is None:
            return []
        return [e.cache for e in served.engines.values() if e.cache is not None]

    def reload_if_changed(self) -> bool:
        try:
            if not self.changed():
                return False
            self.load()
        except AuthzError as exc:
            self.metrics.reload_failures += 1
            if str(exc) != self.last_error:
                log.error(
                    "reload refused, still serving policy set %s: %s",
                    self.served.policies.version if self.served else "none",
                    exc,
                )
            self.last_error = str(exc)
            return False
        except Exception as exc:  # keep serving the last good set, whatever broke
            self.metrics.reload_failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("reload failed")
            return False
        self.last_error = None
        self.metrics.reloads += 1
        log.info("reloaded: policy set %s", self.metrics.policy_version)
        return True

    def watch(self, interval: float = 1.0) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(interval):
                self.reload_if_changed()

        thread = threading.Thread(target=loop, name="authz-reload", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def engine_for(self, org: object) -> Engine:
        served = self.served
        assert served is not None
        if org is None:
            if len(served.engines) == 1:
                return next(iter(served.engines.values()))
            raise AuthzError(
                "context.org: required, this server serves several orgs: "
                + ", ".join(sorted(served.engines))
            )
        if not isinstance(org, str) or org not in served.engines:
            raise AuthzError(
                f"context.org: `{org}` is not served here "
                f"(served: {', '.join(sorted(served.engines))})"
            )
        return served.engines[org]
