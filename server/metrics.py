"""Prometheus metrics, kept in plain dicts: decisions by outcome and rule, a latency
histogram, reloads and reload failures, the policy version."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable

from suite_authz.engine import ClassCacheStatus, DecisionCache

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.decisions: Counter[tuple[str, str]] = Counter()  # (outcome, rule)
        self.latency = [0] * (len(BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.reloads = 0
        self.reload_failures = 0
        self.log_failures = 0  # decision-log writes that failed (nothing was answered)
        self.policy_version = ""
        self.http_errors: Counter[int] = Counter()
        self.cache_hits_before = 0  # of the engines a reload replaced
        self.cache_misses_before = 0
        self.class_hits_before = 0
        self.class_misses_before = 0

    def retire_caches(self, caches: Iterable[DecisionCache | None]) -> None:
        with self._lock:
            for cache in caches:
                if cache is not None:
                    self.cache_hits_before += cache.hits
                    self.cache_misses_before += cache.misses

    def retire_classes(self, statuses: Iterable[ClassCacheStatus]) -> None:
        with self._lock:
            for status in statuses:
                self.class_hits_before += status.hits
                self.class_misses_before += status.misses

    def decision(self, allowed: bool, rules: list[str], seconds: float) -> None:
        self.decisions_of([(allowed, rules)], seconds)

    def decisions_of(self, answers: list[tuple[bool, list[str]]], seconds_each: float) -> None:
        """Several decisions (a batch) under one lock, each taking `seconds_each`."""
        with self._lock:
            for allowed, rules in answers:
                outcome = "allow" if allowed else "deny"
                for rule in rules or ("none",):
                    self.decisions[(outcome, rule)] += 1
            self.latency[bisect_left(BUCKETS, seconds_each)] += len(answers)
            self.latency_sum += seconds_each * len(answers)
            self.latency_count += len(answers)

    def render(
        self,
        caches: Iterable[DecisionCache] = (),
        classes: Iterable[ClassCacheStatus] = (),
    ) -> str:
        caches, classes = list(caches), list(classes)
        with self._lock:
            lines = [
                "# HELP authz_decisions_total Decisions by outcome and rule (docs/rules.md).",
                "# TYPE authz_decisions_total counter",
            ]
            for (outcome, rule), n in sorted(self.decisions.items()):
                lines.append(f'authz_decisions_total{{outcome="{outcome}",rule="{rule}"}} {n}')
            lines += [
                "# HELP authz_decision_seconds Time to decide one evaluation.",
                "# TYPE authz_decision_seconds histogram",
            ]
            running = 0
            for bound, n in zip((*BUCKETS, float("inf")), self.latency, strict=True):
                running += n
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f'authz_decision_seconds_bucket{{le="{le}"}} {running}')
            lines += [
                f"authz_decision_seconds_sum {self.latency_sum:.6f}",
                f"authz_decision_seconds_count {self.latency_count}",
                "# HELP authz_reloads_total Policy or org reloads swapped in.",
                "# TYPE authz_reloads_total counter",
                f"authz_reloads_total {self.reloads}",
                "# HELP authz_reload_failures_total Reloads refused (the last good set stays).",
                "# TYPE authz_reload_failures_total counter",
                f"authz_reload_failures_total {self.reload_failures}",
                "# HELP authz_decision_log_failures_total Decision-log writes that failed "
                "(the decisions were not answered).",
                "# TYPE authz_decision_log_failures_total counter",
                f"authz_decision_log_failures_total {self.log_failures}",
                "# HELP authz_policy_info The policy set being served.",
                "# TYPE authz_policy_info gauge",
                f'authz_policy_info{{version="{self.policy_version}"}} 1',
                "# HELP authz_http_errors_total Requests answered with an HTTP error.",
                "# TYPE authz_http_errors_total counter",
            ]
            for status, n in sorted(self.http_errors.items()):
                lines.append(f'authz_http_errors_total{{status="{status}"}} {n}')
            hits = self.cache_hits_before + sum(c.hits for c in caches)
            misses = self.cache_misses_before + sum(c.misses for c in caches)
            lines += [
                "# HELP authz_decision_cache_hits_total Decisions answered from the cache.",
                "# TYPE authz_decision_cache_hits_total counter",
                f"authz_decision_cache_hits_total {hits}",
                "# HELP authz_decision_cache_misses_total Decisions the cache did not hold.",
                "# TYPE authz_decision_cache_misses_total counter",
                f"authz_decision_cache_misses_total {misses}",
                "# HELP authz_decision_cache_entries Decisions held now.",
                "# TYPE authz_decision_cache_entries gauge",
                f"authz_decision_cache_entries {sum(len(c) for c in caches)}",
                "# HELP authz_class_cache_hits_total Cedar evaluations answered from the class "
                "cache (a decision asks one or more).",
                "# TYPE authz_class_cache_hits_total counter",
                f"authz_class_cache_hits_total "
                f"{self.class_hits_before + sum(c.hits for c in classes)}",
                "# HELP authz_class_cache_misses_total Cedar evaluations the class cache did not "
                "hold.",
                "# TYPE authz_class_cache_misses_total counter",
                f"authz_class_cache_misses_total "
                f"{self.class_misses_before + sum(c.misses for c in classes)}",
                "# HELP authz_class_cache_entries Request classes whose answer is held now.",
                "# TYPE authz_class_cache_entries gauge",
                f"authz_class_cache_entries {sum(c.entries for c in classes)}",
            ]
        return "\n".join(lines) + "\n"
