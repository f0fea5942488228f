"""Prometheus metrics through prometheus_client, right with one worker or many.

With `--workers N` the workers are separate processes behind one port, and a scrape reaches
whichever answers: each worker writes its metrics to files in $PROMETHEUS_MULTIPROC_DIR
(`authz serve` makes one) and every scrape adds them all up (prometheus_client's multiprocess
mode), so a counter never goes back when the next scrape reaches another worker.

What is counted: each decision once by outcome, and separately each rule that shaped it; the
time of one evaluation (`authz_decision_seconds`), and of a whole batch or search page with its
size (`authz_batch_seconds`, `authz_batch_decisions`) rather than a per-item share that no item
took. The engines' cache counters are plain integers in each engine: they are carried into
Prometheus counters by difference at every watcher turn and scrape, and once more when a reload
retires an engine, so nothing is lost across reloads.
"""

from __future__ import annotations

import os
import resource
import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)

from suite_authz.engine.core import ClassCacheStatus, DecisionCache
from suite_authz.engine.serving import ServedSet

# a `_created` timestamp beside every counter and histogram doubles the text for no reader
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# an engine's class-cache figures, with the engine they belong to (the figures are a copy)
Keyed = tuple[object, ClassCacheStatus]
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BATCH_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    def __init__(self) -> None:
        self.shared = multiprocess_mode()
        # prometheus_client picks how a value is kept when it is first imported; `authz serve
        # --workers N` turns multiprocess mode on later, in the parent that loads and forks
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        # one registry per server (tests run several in one process); in multiprocess mode
        # the metrics are written to files and a scrape reads every worker's from there
        self.registry = CollectorRegistry(auto_describe=True)
        reg = None if self.shared else self.registry
        self._lock = threading.Lock()
        self.reloads = 0
        self.reload_failures = 0
        self._decisions = Counter(
            "authz_decisions", "Decisions, each counted once, by outcome.", ["outcome"],
            registry=reg,
        )  # fmt: skip
        self._rules = Counter(
            "authz_decision_rules",
            "Rules that shaped decisions, by outcome (a decision naming two rules counts "
            "under both; docs/rules.md).",
            ["outcome", "rule"],
            registry=reg,
        )
        self._seconds = Histogram(
            "authz_decision_seconds", "Time to decide one single evaluation.",
            buckets=BUCKETS, registry=reg,
        )  # fmt: skip
        self._batch_seconds = Histogram(
            "authz_batch_seconds",
            "Time to answer one batch of evaluations or one search page, whole.",
            ["kind"],
            buckets=BUCKETS,
            registry=reg,
        )
        self._batch_size = Histogram(
            "authz_batch_decisions", "Decisions answered per batch or search page.", ["kind"],
            buckets=BATCH_SIZES, registry=reg,
        )  # fmt: skip
        self._search_pages = _search_pages(reg)
        self._plans, self._plan_fallbacks = _plans(reg)
        self._reloads = Counter("authz_reloads", "Policy or org reloads swapped in.", registry=reg)
        self._reload_failures = Counter(
            "authz_reload_failures", "Reloads refused (the last good set stays).", registry=reg
        )
        self._rows_refused, self._org_updates = _rows_refused(reg), _org_updates(reg)
        self._log_failures = Counter(
            "authz_decision_log_failures",
            "Decision-log writes that failed (the decisions were not answered).",
            registry=reg,
        )
        self._http_errors = Counter(
            "authz_http_errors", "Requests answered with an HTTP error.", ["status"], registry=reg
        )
        self._policy = Gauge(
            "authz_policy_info", "The policy set served (1) and any served before (0).",
            ["version"], registry=reg, multiprocess_mode="liveall",
        )  # fmt: skip
        self._store_outages = Counter(
            "authz_store_outages",
            "Times the store stopped answering (served meanwhile from what was loaded).",
            registry=reg,
        )
        self._store_reachable = Gauge(
            "authz_store_reachable", "1 while the store answers, 0 while degraded.",
            registry=reg, multiprocess_mode="livemin",
        )  # fmt: skip
        self._store_pushed = Gauge(
            "authz_store_changes_pushed",
            "1 while store changes are pushed (PostgreSQL LISTEN), 0 while polled.",
            registry=reg,
            multiprocess_mode="livemin",
        )
        self._cache = _CacheMetrics(reg)
        self._process = _WorkerProcess(reg) if self.shared else None
        if not self.shared:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        self._policy_version: str | None = None
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._store_reachable.set(1)

    # -- events -----------------------------------------------------------------------------

    def decisions_of(
        self, answers: list[tuple[bool, list[str]]], seconds: float, batch: str | None = None
    ) -> None:
        """Decisions answered together: one evaluation (`batch` None, `seconds` its time),
        or a batch or search page of kind `batch` that took `seconds` in all."""
        allowed_n = 0
        rules_n: dict[tuple[str, str], int] = {}
        for allowed, rules in answers:
            outcome = "allow" if allowed else "deny"
            allowed_n += allowed
            for rule in rules or ("none",):
                rules_n[(outcome, rule)] = rules_n.get((outcome, rule), 0) + 1
        # counted per batch, each labelled child looked up once (a batch of 20 cost 77 µs
        # counted one decision at a time, against about 1 ms to decide it)
        if allowed_n:
            self._child(self._decisions, ("allow",)).inc(allowed_n)
        if len(answers) > allowed_n:
            self._child(self._decisions, ("deny",)).inc(len(answers) - allowed_n)
        for labels, n in rules_n.items():
            self._child(self._rules, labels).inc(n)
        if batch is None:
            self._seconds.observe(seconds)
        else:
            self._child(self._batch_seconds, (batch,)).observe(seconds)
            self._child(self._batch_size, (batch,)).observe(len(answers))

    def search_page(self, kind: str, found: int) -> None:
        self._child(self._search_pages, (kind, "some" if found else "none")).inc()

    def plan_fallback(self) -> None:
        """A resource search the plan could not answer, asked record by record."""
        self._plan_fallbacks.inc()

    def plan_answered(self, kind: str) -> None:
        """/access/v1/plan/resource answered: always, never, conditional, or unplannable."""
        self._child(self._plans, (kind,)).inc()

    def _child(self, metric: Any, labels: tuple[str, ...]) -> Any:
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def reloaded(self) -> None:
        self.reloads += 1
        self._reloads.inc()

    def reload_failed(self) -> None:
        self.reload_failures += 1
        self._reload_failures.inc()

    def row_refused(self, kind: str) -> None:
        self._rows_refused.labels(kind).inc()

    def org_updated(self, how: str) -> None:
        self._org_updates.labels(how).inc()

    def log_failed(self) -> None:
        self._log_failures.inc()

    def http_error(self, status: int) -> None:
        self._http_errors.labels(str(status)).inc()

    def serving(self, version: str) -> None:
        with self._lock:
            if self._policy_version not in (None, version):
                self._policy.labels(self._policy_version).set(0)
            self._policy_version = version
            self._policy.labels(version).set(1)

    def store_outage(self) -> None:
        self._store_outages.inc()

    def store_state(self, reachable: bool, pushed: bool) -> None:
        self._store_reachable.set(1 if reachable else 0)
        self._store_pushed.set(1 if pushed else 0)

    def swapped(self, old: ServedSet | None, new: ServedSet) -> None:
        """Hears each swap (server/reload.py): the engines it replaced are carried no more,
        their counts kept in the totals, and the served policy version is the new set's."""
        if old is not None:
            gone = [e for k, e in old.engines.items() if new.engines.get(k) is not e]
            self.retire_caches(e.cache for e in gone)
            self.retire_classes((e, e.class_cache()) for e in gone)
        self.serving(new.policies.version)

    # -- the engines' caches ------------------------------------------------------------------

    def retire_caches(self, caches: Iterable[DecisionCache | None]) -> None:
        self._cache.retire_decisions(caches)

    def retire_classes(self, statuses: Iterable[Keyed]) -> None:
        self._cache.retire_classes(statuses)

    def sync(self, caches: Iterable[DecisionCache], classes: Iterable[Keyed]) -> None:
        """Carry the live engines' cache counts (and this worker's process figures) over."""
        self._cache.sync(list(caches), list(classes))
        if self._process is not None:
            self._process.sync()

    def render(self) -> bytes:
        """The exposition text (after `sync`, which the server calls first)."""
        if not self.shared:
            return generate_latest(self.registry)
        every_worker = CollectorRegistry()
        multiprocess.MultiProcessCollector(every_worker)  # type: ignore[no-untyped-call]
        return generate_latest(every_worker)


def _search_pages(reg: CollectorRegistry | None) -> Counter:
    return Counter(
        "authz_search_pages",
        "Search pages answered, by kind, and whether they found anything (a page that found "
        "nothing holds no decision to count).",
        ["kind", "found"],
        registry=reg,
    )


def _plans(reg: CollectorRegistry | None) -> tuple[Counter, Counter]:
    answered = Counter(
        "authz_plans",
        "Plan requests (/access/v1/plan/resource) answered, by the plan's kind: always, "
        "never, conditional, or unplannable (a 422).",
        ["kind"],
        registry=reg,
    )
    fallbacks = Counter(
        "authz_plan_fallbacks",
        "Resource search pages the query plan could not answer (the policies do not plan "
        "for the request), asked record by record instead.",
        registry=reg,
    )
    return answered, fallbacks


def _org_updates(reg: CollectorRegistry | None) -> Counter:
    return Counter(
        "authz_org_updates",
        "Orgs brought to a new version: by its change sets (change), loaded whole (whole), "
        "or parsed whole again after many changes (reparsed).",
        ["how"],
        registry=reg,
    )


def _rows_refused(reg: CollectorRegistry | None) -> Counter:
    return Counter(
        "authz_rows_refused",
        "Stored rows refused (policy or org): unsigned, a signature that does not verify, "
        "or a text that does not match its hash.",
        ["kind"],
        registry=reg,
    )


class _CacheMetrics:
    """Engine cache counters (plain ints) carried into Prometheus counters by difference."""

    def __init__(self, reg: CollectorRegistry | None) -> None:
        self._lock = threading.Lock()
        self._seen: dict[object, tuple[int, int]] = {}  # cache (or class cache) -> carried
        self.hits = Counter(
            "authz_decision_cache_hits", "Decisions answered from the cache.", registry=reg
        )
        self.misses = Counter(
            "authz_decision_cache_misses", "Decisions the cache did not hold.", registry=reg
        )
        self.entries = Gauge(
            "authz_decision_cache_entries", "Decisions held now.", registry=reg,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.class_hits = Counter(
            "authz_class_cache_hits",
            "Cedar evaluations answered from the class cache (a decision asks one or more).",
            registry=reg,
        )
        self.class_misses = Counter(
            "authz_class_cache_misses", "Cedar evaluations the class cache did not hold.",
            registry=reg,
        )  # fmt: skip
        self.class_entries = Gauge(
            "authz_class_cache_entries", "Request classes whose answer is held now.",
            registry=reg, multiprocess_mode="livesum",
        )  # fmt: skip

    def _carry(self, key: object, hits: int, misses: int, kind: str) -> None:
        before_hits, before_misses = self._seen.get(key, (0, 0))
        up, down = (self.hits, self.misses) if kind == "d" else (self.class_hits, self.class_misses)
        if hits > before_hits:
            up.inc(hits - before_hits)
        if misses > before_misses:
            down.inc(misses - before_misses)
        self._seen[key] = (max(hits, before_hits), max(misses, before_misses))

    def sync(self, caches: list[DecisionCache], classes: list[Keyed]) -> None:
        with self._lock:
            for cache in caches:
                self._carry(cache, cache.hits, cache.misses, "d")
            for engine, status in classes:
                self._carry(engine, status.hits, status.misses, "c")
            self.entries.set(sum(len(c) for c in caches))
            self.class_entries.set(sum(s.entries for _, s in classes))

    def retire_decisions(self, caches: Iterable[DecisionCache | None]) -> None:
        with self._lock:
            for cache in caches:
                if cache is not None:
                    self._carry(cache, cache.hits, cache.misses, "d")
                    self._seen.pop(cache, None)

    def retire_classes(self, statuses: Iterable[Keyed]) -> None:
        with self._lock:
            for engine, status in statuses:
                self._carry(engine, status.hits, status.misses, "c")
                self._seen.pop(engine, None)


class _WorkerProcess:
    """Each worker's own memory and CPU (prometheus_client's process collector reads only the
    scraped process, which in multiprocess mode would pass for all of them)."""

    def __init__(self, reg: CollectorRegistry | None) -> None:
        self.memory = Gauge(
            "authz_worker_resident_memory_bytes", "Resident memory of each worker.",
            registry=reg, multiprocess_mode="liveall",
        )  # fmt: skip
        self.cpu = Gauge(
            "authz_worker_cpu_seconds", "CPU time (user and system) each worker has used.",
            registry=reg, multiprocess_mode="liveall",
        )  # fmt: skip

    def sync(self) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu.set(usage.ru_utime + usage.ru_stime)
        try:
            with open("/proc/self/statm") as f:
                pages = int(f.read().split()[1])
            self.memory.set(pages * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, IndexError):
            pass
