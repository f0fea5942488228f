"""Every Cedar evaluation of a backend goes through here: the request's policy slice
(cedar_slices.py), Cedar's answer from the class cache where a request of the same class was
answered before (cedar_classes.py), one cedarpy batch per slice for the rest."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import cedarpy

from suite_authz.engine.core.backends.cedar_classes import ClassCache, ClassKeys, Verdict
from suite_authz.engine.core.backends.cedar_entities import Overlay, cedar_entities
from suite_authz.engine.core.backends.cedar_reads import Unaccounted, derive
from suite_authz.engine.core.backends.cedar_slices import Slices, slice_sizes, slices_for
from suite_authz.engine.core.entities import EntityLookup, OrgIndex
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.core.request import Request


@dataclass(frozen=True, slots=True)
class ClassCacheStatus:
    """What /readyz and the metrics say of an engine's class cache."""

    on: bool
    reason: str  # why it is off, or what its key reads
    hits: int = 0
    misses: int = 0
    entries: int = 0
    size: int = 0


class CedarEvaluator:
    def __init__(
        self,
        policies: PolicySet,
        index: OrgIndex,
        payload: Callable[[Request], dict[str, Any]],
        class_cache: int = 0,
    ) -> None:
        self._entities = cedar_entities(index, policies)
        self._schema = policies.schema
        self.slices: Slices = slices_for(policies, payload)
        self.keys: ClassKeys | None = None
        self.cache: ClassCache | None = None
        self._off = "off (kept for no class: size 0)"
        if class_cache:
            try:
                reads = derive([*policies.deciding.items(), *policies.obligations.items()])
            except Unaccounted as exc:
                self._off = f"off: {exc}"
            else:
                self.keys = ClassKeys(reads, EntityLookup(index))
                self.cache = ClassCache(class_cache)

    @property
    def entities_handle(self) -> Any:
        """The org's entities as Cedar holds them (cedarpy.Entities, parsed once), or an
        Overlay of changes on an earlier version's."""
        return self._entities

    def status(self) -> ClassCacheStatus:
        cache, keys = self.cache, self.keys
        sizes = slice_sizes(self.slices)
        sliced = (
            f"; each request meets {sizes[0]}-{sizes[-1]} of the "
            f"{len(self.slices.whole['deciding'].ids)} deciding policies"
            if sizes
            else f"; not sliced: {self.slices.problem}"
        )
        if cache is None or keys is None:
            return ClassCacheStatus(False, self._off + sliced)
        return ClassCacheStatus(
            True,
            f"keyed on {len(keys.reads.chains)} attribute chains the policies read" + sliced,
            cache.hits,
            cache.misses,
            len(cache),
            cache.size,
        )

    def evaluate(self, kind: str, payloads: Sequence[dict[str, Any]]) -> list[Verdict]:
        """Cedar's verdict on each payload against the `kind` policies, in order."""
        out: list[Verdict | None] = [None] * len(payloads)
        todo: dict[int, tuple[Any, list[tuple[int, Hashable | None]]]] = {}
        cache, keys = self.cache, self.keys
        for n, payload in enumerate(payloads):
            chosen = self.slices.pick(kind, (payload["action"]["id"], payload["resource"]["type"]))
            key: Hashable | None = None
            if cache is not None and keys is not None:
                key = (chosen.token, keys.key(payload))
                found = cache.get(key)
                if found is not None:
                    out[n] = found
                    continue
            todo.setdefault(chosen.token, (chosen.handle, []))[1].append((n, key))
        for handle, all_members in todo.values():
            for entities, members in self._by_entities(payloads, all_members):
                self._ask(handle, entities, payloads, members, out)
        return [v for v in out if v is not None]

    def entities_for(self, payloads: Sequence[dict[str, Any]]) -> Any:
        """What Cedar is given to answer these payloads together: the org's parsed entities,
        or, after a small change, the entities they reach (cedar_entities.Overlay)."""
        found = self._entities
        return found.for_payloads(payloads) if isinstance(found, Overlay) else found

    def _by_entities(
        self, payloads: Sequence[dict[str, Any]], members: list[tuple[int, Hashable | None]]
    ) -> list[tuple[Any, list[tuple[int, Hashable | None]]]]:
        found = self._entities
        if not isinstance(found, Overlay):
            return [(found, members)]
        if found.everything:
            return [(found.for_payloads([payloads[n] for n, _ in members]), members)]
        clean: list[tuple[int, Hashable | None]] = []
        touched: list[tuple[int, Hashable | None]] = []
        for member in members:
            (touched if found.touches(payloads[member[0]]) else clean).append(member)
        groups = [(found.base, clean)] if clean else []
        if touched:
            groups.append((found.for_payloads([payloads[n] for n, _ in touched]), touched))
        return groups

    def _ask(
        self,
        handle: Any,
        entities: Any,
        payloads: Sequence[dict[str, Any]],
        members: list[tuple[int, Hashable | None]],
        out: list[Verdict | None],
    ) -> None:
        cache = self.cache
        results = cedarpy.is_authorized_batch(
            [payloads[n] for n, _ in members], handle, entities, self._schema
        )
        for (n, key), result in zip(members, results, strict=True):
            diagnostics = result.diagnostics
            verdict = Verdict(
                result.allowed, tuple(sorted(diagnostics.reasons)), tuple(diagnostics.errors)
            )
            out[n] = verdict
            if cache is not None and key is not None:
                cache.put(key, verdict)
