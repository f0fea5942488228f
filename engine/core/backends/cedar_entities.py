"""Cedar's parsed entities for an org: the shared index's entity JSON, parsed once.

Handing entities to Cedar: the whole org is parsed once into one `cedarpy.Entities` handle and
reused for every request. `make bench` measures that the per-request cost stays flat from the
demo org to 110,000 entities, so no per-request slicing is needed (slicing would cost a parse
of the slice on every request).

Only the Cedar backend asks for the handle, so an engine on Polar never builds it. It is kept
for as long as its index lives, one per schema: the migration's impact asks the old model
(policies/legacy, which borrows the served set's schema) over the same index, and so shares the
parse.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import cedarpy

from suite_authz.engine.core.backends.cedar_reads import Unaccounted, derive
from suite_authz.engine.core.entities import EntityLookup, OrgIndex, org_entities
from suite_authz.engine.core.errors import InvalidOrg
from suite_authz.engine.core.policies import PolicySet

_PARSED: WeakKeyDictionary[OrgIndex, dict[str, Any]] = WeakKeyDictionary()
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True, eq=False)
class Overlay:
    """An org's entities after a small change, without parsing them all again: the entities
    Cedar parsed for an earlier version of the org (`base`), the uids whose JSON has changed
    since (`dirty`: set, added or removed), and the org now (`lookup`).

    A request whose reach holds no dirty entity is answered from `base`: every entity it can
    reach is the same there as now. Reach is what Cedar can read from the request: its uids,
    and the entities their attributes and parents name, transitively (Cedar reads entities
    only through the request, or through literals in the policies, which
    `overlay_refused` requires to name only shared entities). Any other request is answered
    from its reach alone, built from the org now: the same answer a full parse gives, for
    a few entities' parse instead of the org's."""

    base: Any  # cedarpy.Entities
    dirty: frozenset[tuple[str, str]]
    everything: bool  # a shared entity changed: every request is answered from its reach
    lookup: EntityLookup
    # users' and records' entity types: what a change sets one by one; every other entity
    # (products, modules, the org, profiles, roles) is shared, and a change to one is
    # `everything`
    item_types: frozenset[str]
    schema: Any  # the set's cedarpy.Schema
    # the org's shared entities now, parsed once: a parse of any size costs Cedar about 15 ms
    # (a role's grants are long), while adding a request's few users and records to a parsed
    # handle costs about 0.4 ms
    _shared: list[Any] = field(default_factory=list, compare=False)

    def for_payloads(self, payloads: Sequence[dict[str, Any]]) -> Any:
        """What Cedar is given for these payloads: `base`, or the org's shared entities now
        with every user and record their reaches hold."""
        reach: dict[tuple[str, str], dict[str, Any]] = {}
        touched = self.everything
        for payload in payloads:
            touched = self._reach(payload, reach) or touched
        if not touched:
            return self.base
        try:
            shared = self.shared_handle()
            if not reach:
                return shared
            return shared.with_added_json_str(json.dumps(list(reach.values())), self.schema)
        except ValueError:  # Cedar's message quotes every entity: users' emails, never shown
            raise RuntimeError(
                f"org `{self.lookup.org_id}`: its changed entities do not fit the policy schema"
            ) from None

    def shared_handle(self) -> Any:
        if not self._shared:  # two threads may both parse: either handle is the same
            entities = json.dumps(self.lookup.shared())
            self._shared.append(cedarpy.Entities.from_json_str(entities, self.schema))
        return self._shared[0]

    def touches(self, payload: dict[str, Any]) -> bool:
        return self.everything or self._reach(payload, {})

    def _reach(self, payload: dict[str, Any], into: dict[tuple[str, str], dict[str, Any]]) -> bool:
        """Adds the entities `payload` reaches (shared ones aside) to `into`; whether any is
        dirty."""
        todo = [_uid_of(payload[k]) for k in ("principal", "resource") if k in payload]
        _refs(payload.get("context", {}), todo)
        dirty = False
        while todo:
            key = todo.pop()
            if key in into or key[0] not in self.item_types:
                continue
            dirty = dirty or key in self.dirty
            entity = self.lookup(*key)
            if entity is None:
                continue
            into[key] = entity
            _refs(entity["attrs"], todo)
            todo.extend((p["type"], p["id"]) for p in entity["parents"])
        return dirty


def _uid_of(value: dict[str, Any]) -> tuple[str, str]:
    return (value["type"], value["id"])


def _refs(value: Any, into: list[tuple[str, str]]) -> None:
    """Every entity reference (`{"__entity": {...}}`) inside an attribute or context value."""
    if isinstance(value, dict):
        ref = value.get("__entity")
        if isinstance(ref, dict):
            into.append(_uid_of(ref))
            return
        for inner in value.values():
            _refs(inner, into)
    elif isinstance(value, list):
        for inner in value:
            _refs(inner, into)


def overlay_on(
    before: OrgIndex,
    after: OrgIndex,
    policies: PolicySet,
    dirty: frozenset[tuple[str, str]],
    everything: bool,
) -> Overlay | None:
    """Registers `after`'s entities as `before`'s parse with `dirty` changed, if `before`'s
    were parsed (an overlay on an overlay keeps one base, its dirty uids joined); the
    overlay, or None when there is no parse to build on."""
    with _LOCK:
        found = _PARSED.get(before, {}).get(policies.schema_text)
    if found is None:
        return None
    if isinstance(found, Overlay):
        dirty, everything = dirty | found.dirty, everything or found.everything
        found = found.base
    lookup = EntityLookup(after)
    overlay = Overlay(found, dirty, everything, lookup, item_types(policies), policies.schema)
    with _LOCK:
        _PARSED.setdefault(after, {})[policies.schema_text] = overlay
    return overlay


def item_types(policies: PolicySet) -> frozenset[str]:
    return frozenset({"User", *(m.entity for m in policies.catalogue.modules.values())})


_ALLOWED: dict[str, str | None] = {}


def overlay_refused(policies: PolicySet) -> str | None:
    """Why a change to this set's orgs cannot be answered from an Overlay, or None: the
    policies must be read whole (cedar_reads.py) and name no user or record by a literal,
    since an Overlay follows only what a request reaches."""
    key = f"{policies.version}\0{policies.schema_text}"
    if key not in _ALLOWED:
        try:
            reads = derive([*policies.deciding.items(), *policies.obligations.items()])
        except Unaccounted as exc:
            _ALLOWED[key] = str(exc)
        else:
            named = sorted(reads.literal_types & item_types(policies))
            _ALLOWED[key] = (
                f"the policies name {', '.join(named)} entities by literal" if named else None
            )
    return _ALLOWED[key]


def cedar_entities(index: OrgIndex, policies: PolicySet) -> Any:
    """The `cedarpy.Entities` of the index's org, parsed against the set's schema (or, after
    a small change, an Overlay on an earlier version's)."""
    with _LOCK:
        by_schema = _PARSED.setdefault(index, {})
        handle = by_schema.get(policies.schema_text)
    if isinstance(handle, Overlay) and overlay_refused(policies) is not None:
        # an overlay laid for another set of this schema, whose policies it may not serve:
        # this set's policies name a user or record by literal
        return _parse(index, policies)
    if handle is None:
        # Parsed outside the lock: a big org takes seconds, and two engines of different orgs
        # must not wait on each other. Two threads on one index may both parse; one is kept.
        handle = _parse(index, policies)
        with _LOCK:
            handle = by_schema.setdefault(policies.schema_text, handle)
    return handle


def entity_count(index: OrgIndex) -> int:
    return sum(1 for _ in org_entities(index.org, index.catalogue))


# Entities dumped to JSON so many at a time: one json.dumps call holds the GIL to its end,
# and a server answers on another thread meanwhile (tests/unit/test_reload_latency.py).
DUMP_CHUNK = 2000


def entities_json(index: OrgIndex) -> str:
    """The org's entities as one JSON array, built a few thousand entities per C call."""
    parts: list[str] = []
    chunk: list[dict[str, Any]] = []
    for entity in org_entities(index.org, index.catalogue):
        chunk.append(entity)
        if len(chunk) == DUMP_CHUNK:
            parts.append(json.dumps(chunk)[1:-1])
            chunk = []
    if chunk:
        parts.append(json.dumps(chunk)[1:-1])
    return "[" + ",".join(parts) + "]"


def _parse(index: OrgIndex, policies: PolicySet) -> Any:
    try:
        # release_gil: Cedar's parse of a big org takes seconds, and answers must not wait
        return cedarpy.Entities.from_json_str(
            entities_json(index), policies.schema, release_gil=True
        )
    except ValueError as exc:  # the model's checks should make this unreachable
        raise InvalidOrg(f"org `{index.org.id}` does not fit the policy schema: {exc}") from None
