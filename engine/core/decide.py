"""The one entry point: Engine.decide(request) -> Decision. Never raises for a request."""

from __future__ import annotations

import json
import threading
from collections.abc import Hashable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from suite_authz.engine.core.backends import Backend, RawAnswer
from suite_authz.engine.core.backends.cedar import CedarBackend
from suite_authz.engine.core.backends.cedar_entities import Overlay, overlay_on, overlay_refused
from suite_authz.engine.core.backends.cedar_eval import ClassCacheStatus
from suite_authz.engine.core.cache import DecisionCache
from suite_authz.engine.core.decision import Decision
from suite_authz.engine.core.entities import EntityLookup, OrgIndex, build_index, changed_index
from suite_authz.engine.core.errors import InvalidRequest
from suite_authz.engine.core.explain import Explainer
from suite_authz.engine.core.model import Org, load_org
from suite_authz.engine.core.org_changes import Applied
from suite_authz.engine.core.plan import Plan, PlanClasses, plan_records
from suite_authz.engine.core.policies import PolicySet, load_policies
from suite_authz.engine.core.record_table import RecordTable
from suite_authz.engine.core.request import Request, check_request
from suite_authz.engine.core.suggestions import did_you_mean, did_you_mean_id

BACKENDS = ("cedar", "polar")
PLANS_KEPT = 1024  # the plans an engine keeps, oldest dropped first


class Engine:
    """A policy set and one org, parsed and indexed once; decisions per request."""

    def __init__(
        self,
        policies: PolicySet,
        org: Org,
        backend: str = "cedar",
        index: OrgIndex | None = None,
        cache_size: int = 0,
        class_cache: int = 0,
    ) -> None:
        """`index`: an index of this org already built for a set with the same schema (the
        legacy set borrows the main one's), to ask two sets without parsing the org twice.
        `cache_size`: keep up to that many decisions to answer repeated requests
        (engine/core/cache.py);
        0, the default, keeps none. `class_cache`: keep the backend's answers for up to that many
        request classes (engine/core/backends/cedar_classes.py); 0 keeps none."""
        self.policies = policies
        self._sizes = (cache_size, class_cache)
        self.cache: DecisionCache | None = DecisionCache(cache_size) if cache_size else None
        self.index: OrgIndex = (
            index
            if index is not None and index.org is org
            else build_index(org, policies.catalogue)
        )
        self.backend: Backend = _backend(backend, policies, self.index, class_cache)
        self._explainer = Explainer(policies, self.index, self.backend)
        self._plans: dict[tuple[object, ...], Plan] = {}
        self._plans_lock = threading.Lock()
        # folded plans per question class: a user planned from another of their class
        self.plan_classes = PlanClasses()
        self._record_ids: dict[str, list[str]] = {}
        self._tables: dict[str, RecordTable] = {}
        self._tables_lock = threading.Lock()

    @classmethod
    def load(
        cls,
        org: Path | str | dict[str, Any],
        policies_dir: Path | None = None,
        backend: str = "cedar",
    ) -> Engine:
        """Raises PolicyError or InvalidOrg: a system that cannot load answers nothing."""
        policies = load_policies(policies_dir)
        return cls(policies, load_org(org, policies.catalogue), backend)

    def changed(self, applied: Applied) -> Engine:
        """This engine's org after a change set (engine/core/org_changes.py), as a new engine
        with fresh caches: the index built again only where the change touched it, and on
        Cedar this engine's parsed entities with what changed laid over them
        (cedar_entities.Overlay) instead of the whole org parsed again, where the policies
        allow it (`overlay_refused`)."""
        index = changed_index(self.index, applied.org, applied.users, applied.records)
        if self.backend.name == "cedar" and overlay_refused(self.policies) is None:
            dirty = applied.entity_uids(self.policies.catalogue)
            overlay_on(self.index, index, self.policies, dirty, applied.shared)
        return Engine(self.policies, applied.org, self.backend.name, index, *self._sizes)

    def overlay(self) -> Overlay | None:
        """The changes answered from an overlay since the org was last parsed whole, if any."""
        evaluator = getattr(self.backend, "evaluator", None)
        found = getattr(evaluator, "entities_handle", None)
        return found if isinstance(found, Overlay) else None

    def class_cache(self) -> ClassCacheStatus:
        """Whether the backend keeps answers per request class, and why not if it does not."""
        status = getattr(self.backend, "class_cache", None)
        if status is None:
            # Polar: oso exposes no form of its rules to read their attribute accesses from,
            # so a class key could only be written by hand, which this product never does.
            return ClassCacheStatus(
                False,
                f"off: the {self.backend.name} backend has none (its rules cannot be read "
                "for what they read of a request)",
            )
        return status()  # type: ignore[no-any-return]

    @property
    def org(self) -> Org:
        return self.index.org

    @property
    def version(self) -> str:
        return self.policies.version

    def validate(self, request: Request) -> Request:
        """The request, if the policy set can decide it; InvalidRequest naming what is wrong
        otherwise (an action, a resource type or a field it does not know, a context key of
        the wrong type). Adapters call this first and turn the error into their own (exit 2,
        HTTP 400), as Cedar's `Request::new` validates before `is_authorized`; `decide` stays
        total and answers such a request with a deny that carries the error."""
        check_request(request, self.policies.catalogue)
        return request

    @cached_property
    def entities(self) -> EntityLookup:
        """One entity's JSON by type and id, as Cedar is given it (built on first use)."""
        return EntityLookup(self.index)

    def record_ids(self, kind: str) -> list[str]:
        """The ids of the records of `kind`, sorted: the order a search walks them in (kept;
        not to be changed by a caller)."""
        found = self._record_ids.get(kind)
        if found is None:
            found = self._record_ids[kind] = sorted(self.index.records.get(kind, {}))
        return found

    def record_table(self, kind: str) -> RecordTable:
        """The records of `kind` in `record_ids` order, indexed for evaluating plans over all
        of them (engine/core/record_table.py): built on first use, once per engine."""
        found = self._tables.get(kind)
        if found is None:
            entity_type = self.policies.catalogue.modules[kind].entity
            with self._tables_lock:
                found = self._tables.get(kind)
                if found is None:
                    found = RecordTable.of(self.entities, entity_type, self.record_ids(kind))
                    self._tables[kind] = found
        return found

    def decide_records(self, template: Request, ids: Sequence[str]) -> list[Decision]:
        """The template asked of each record in `ids`, decided as `decide_many` decides it
        (without `missing`), asking the backend once per record class where the backend knows
        the classes (cedar_classes.py: records of one class get one answer from Cedar, and an
        allow names nothing of its record), each record otherwise."""
        ask = template.subject, template.action, template.resource_type
        rest = template.channel, template.fields, template.context
        class_of = self.backend.record_classes(template) if len(ids) > 1 else None
        if class_of is None:
            return self.decide_many([Request(*ask, rid, *rest) for rid in ids], probe=False)
        classes = [class_of(rid) for rid in ids]
        first: dict[Hashable, str] = {}
        for rid, key in zip(ids, classes, strict=True):
            first.setdefault(key, rid)
        answered = self.decide_many(
            [Request(*ask, rid, *rest) for rid in first.values()], probe=False
        )
        by_class = dict(zip(first, answered, strict=True))
        out = [by_class[key] for key in classes]
        for n, decision in enumerate(out):
            if not decision.allowed:  # a deny words the record it is about: its own
                out[n] = self.decide(Request(*ask, ids[n], *rest), probe=False)
        return out

    def plan(self, request: Request) -> Plan:
        """Which records of `request.resource_type` its subject may act on (the resource id
        is ignored), as a condition over the record's own attributes: engine/core/plan.py.
        Unplannable when the policies read a record in a way the planner does not follow.

        Kept per question (an engine serves one policy version and one org version): Cedar's
        partial evaluation costs 25-65 ms on a 10,000-user org, and a list view asks again
        for each page it shows. A user of a class already planned (the same seats, role,
        profile and settings as far as the policies read them) is planned from that class's
        fold (`PlanClasses`), without a partial evaluation."""
        key = (
            request.subject, request.action, request.resource_type, request.channel,
            request.fields, json.dumps(dict(request.context), sort_keys=True, default=str),
        )  # fmt: skip
        found = self._plans.get(key)
        if found is None:
            found = plan_records(self, request, self._before_backend)
            with self._plans_lock:  # the sidecar's threads share an engine
                if len(self._plans) >= PLANS_KEPT:
                    self._plans.pop(next(iter(self._plans)))
                self._plans[key] = found
        return found

    def decide(self, request: Request, *, probe: bool = True) -> Decision:
        """probe=False skips working out `missing` for a deny that nothing forbade (it asks the
        backend about the user's other grants): for bulk comparisons that need only answers."""
        cache = self.cache
        key = cache.key(request, probe) if cache is not None else None
        if cache is None or key is None:
            return self._decide(request, probe)
        found = cache.get(key)
        if found is None:
            found = self._decide(request, probe)
            cache.put(key, found)
        return found

    def _decide(self, request: Request, probe: bool) -> Decision:
        early = self._before_backend(request)
        if early is not None:
            return early
        try:
            raw = self.backend.answer(request)
        except Exception as exc:  # fail closed: a backend failure is a deny that says so
            return self._explainer.explain(
                request, _failed(f"{self.backend.name} backend failed: {exc}")
            )
        return self._explainer.explain(request, raw, probe=probe)

    def decide_many(self, requests: Sequence[Request], *, probe: bool = True) -> list[Decision]:
        """The same decisions as `decide`, in order, with one backend call for all of them that
        the cache (if any) does not answer."""
        cache = self.cache
        keys = [cache.key(r, probe) if cache is not None else None for r in requests]
        out: list[Decision | None] = []
        for request, key in zip(requests, keys, strict=True):
            found = cache.get(key) if cache is not None and key is not None else None
            out.append(found if found is not None else self._before_backend(request))
        todo = [n for n, d in enumerate(out) if d is None]
        try:
            answers = self.backend.answer_many([requests[n] for n in todo])
        except Exception as exc:  # fail closed, as decide does
            failed = _failed(f"{self.backend.name} backend failed: {exc}")
            answers = [failed] * len(todo)
        for n, raw in zip(todo, answers, strict=True):
            decision = self._explainer.explain(requests[n], raw, probe=probe)
            out[n] = decision
            key = keys[n]
            if cache is not None and key is not None:
                cache.put(key, decision)
        return [d for d in out if d is not None]

    def _before_backend(self, request: Request) -> Decision | None:
        """The answer for a request that never reaches a backend: invalid, or unknown ids."""
        try:
            check_request(request, self.policies.catalogue)
        except InvalidRequest as exc:
            return self._explainer.invalid(str(exc))
        unknown = self._unknown(request)
        if unknown is not None:
            return self._explainer.unknown(*unknown)
        return None

    def _unknown(self, request: Request) -> tuple[str, str] | None:
        # the hints are worked out past each membership test, for an unknown id only
        org, users = self.index.org.id, self.index.users
        subject = request.subject
        if subject not in users:
            return (
                f"unknown subject `{subject}`: org `{org}` has no such user"
                f"{did_you_mean_id(subject, users)}",
                f"a user of org `{org}`",
            )
        kind, rid = request.resource_type, request.resource_id
        if rid is None:
            return None
        if kind == "user":
            if rid not in users:
                return (
                    f"unknown user `{rid}`: org `{org}` has no such user to enrol"
                    f"{did_you_mean_id(rid, users)}",
                    f"a user of org `{org}`",
                )
        elif kind == "org":
            if rid != org:
                return (
                    f"unknown org `{rid}`: this snapshot is org `{org}`{did_you_mean(rid, (org,))}",
                    f"org `{org}`",
                )
        elif rid not in (records := self.index.records[kind]):
            return (
                f"unknown {kind} `{rid}`: org `{org}` has no such record"
                f"{did_you_mean_id(rid, records)}",
                f"an existing {kind} of org `{org}`",
            )
        return None


def _backend(name: str, policies: PolicySet, index: OrgIndex, class_cache: int) -> Backend:
    if name == "cedar":
        return CedarBackend(policies, index, class_cache)
    if name == "polar":
        from suite_authz.engine.core.backends.polar import (
            PolarBackend,  # oso loads only when asked for
        )

        return PolarBackend(policies, index)
    raise InvalidRequest(f"backend: `{name}` is not one of {', '.join(BACKENDS)}")


def _failed(message: str) -> RawAnswer:
    return RawAnswer(allowed=False, determining=(), errors=(message,))
