"""A request's class: the values its policy set reads (cedar_reads.py), with the identities the
policies can only compare renamed by order of appearance. Requests of one class get the same
answer from Cedar, so Cedar's answer is kept per class (ClassCache) while the explanation is
still built per request.

The key of a request is
  (action, principal type, principal's part, resource type, resource's part, context's part,
   which of the renamed identities are the same one)
The principal's and the resource's parts depend only on the entity, so they are worked out
once per entity and kept; an entity's part is interned to a small number, as the org's users
and records fall into few classes. Identities renamed inside a part are listed beside it and
numbered across the whole request, so `resource.submitted_by == principal` is seen however the
two are spelt.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from threading import Lock
from typing import Any, NamedTuple

from suite_authz.engine.core.backends.cedar_reads import ANCESTORS, Reads

Lookup = Callable[[str, str], "dict[str, Any] | None"]  # (type, id) -> entity JSON
MEMO_SIZE = 1 << 18  # entities whose parts are kept (a big org's users and records)

_ABSENT = ("<absent>",)  # no such attribute: never renamed, never equal to a value
_NO_ENTITY = ("<no entity>",)  # an attribute of an entity the org does not hold
_NOT_A_RECORD = ("<not a record>",)
_RENAMED = ("#",)  # a value only compared: which one it is goes to the key's identities


class Verdict(NamedTuple):
    """What Cedar answered: all a decision takes from one evaluation."""

    allowed: bool
    reasons: tuple[str, ...]
    errors: tuple[str, ...]


class ClassKeys:
    """Class keys of Cedar request payloads (`CedarBackend.cedar_request`) for one policy
    set's reads, over one org's entities."""

    def __init__(self, reads: Reads, lookup: Lookup) -> None:
        self.reads = reads
        self._lookup = lookup
        self._literal = reads.literal_types
        self._paths = {root: reads.rooted(root) for root in ("principal", "resource", "context")}
        self._opaque = {
            root: frozenset(c[1:] for c in reads.opaque if c[0] == root)
            for root in ("principal", "resource", "context")
        }
        self._parts: dict[tuple[str, str, str], tuple[int, tuple[Hashable, ...]]] = {}
        self._shapes: dict[tuple[Hashable, ...], int] = {}
        self._lists: dict[int, tuple[list[Any], Hashable, tuple[Hashable, ...]]] = {}
        self._lock = Lock()

    def key(self, payload: dict[str, Any]) -> tuple[Hashable, ...]:
        principal, resource = payload["principal"], payload["resource"]
        p_shape, p_ids = self._part("principal", principal["type"], principal["id"])
        r_shape, r_ids = self._part("resource", resource["type"], resource["id"])
        c_ids: list[Hashable] = []
        c_shape = self._context(payload["context"], c_ids)
        ids = (*p_ids, *r_ids, *c_ids)
        seen: dict[Hashable, int] = {}
        for i in ids:
            if i not in seen:
                seen[i] = len(seen)
        return (
            payload["action"]["id"],
            principal["type"],
            p_shape,
            resource["type"],
            r_shape,
            c_shape,
            tuple([seen[i] for i in ids]),
        )

    def with_identities(
        self, payload: dict[str, Any]
    ) -> tuple[tuple[Hashable, ...], tuple[Hashable, ...]]:
        """`key`, and the distinct renamed identities in the order the key numbers them. Two
        payloads of one key differ only in those identities, so one's answer (or a query
        plan's fold, for a payload about a new record of the type) is the other's with them
        swapped. The resource's part is kept even where the record is unknown: what its
        type fixes (its module, compared with the modules a role grants) is in it."""
        key = self.key(payload)
        principal, resource = payload["principal"], payload["resource"]
        _, p_ids = self._part("principal", principal["type"], principal["id"])
        _, r_ids = self._part("resource", resource["type"], resource["id"])
        c_ids: list[Hashable] = []
        self._context(payload["context"], c_ids)
        return key, tuple(dict.fromkeys((*p_ids, *r_ids, *c_ids)))

    def record_classes(self, payload: dict[str, Any]) -> Callable[[str], Hashable]:
        """For payloads that differ only in the resource's id: a record id's part of `key`,
        as (the resource's shape, where its renamed identities meet the principal's and the
        context's or each other). Two records with equal parts give the payloads equal keys:
        the principal's identities are numbered first, the record's next, the context's
        last, and the part fixes each record identity's number."""
        principal, kind = payload["principal"], payload["resource"]["type"]
        _, p_ids = self._part("principal", principal["type"], principal["id"])
        c_ids: list[Hashable] = []
        self._context(payload["context"], c_ids)
        known = {i: n for n, i in enumerate(dict.fromkeys((*p_ids, *c_ids)))}

        def class_of(rid: str) -> Hashable:
            shape, r_ids = self._part("resource", kind, rid)
            if not r_ids:
                return shape
            if len(r_ids) == 1:  # the common case (a submitter): known, or the record's own
                return shape, known.get(r_ids[0], -1)
            own: dict[Hashable, int] = {}
            return shape, tuple(
                known[i] if i in known else ("r", own.setdefault(i, len(own))) for i in r_ids
            )

        return class_of

    def _context(self, context: dict[str, Any], ids: list[Hashable]) -> tuple[Hashable, ...]:
        """The context's part. Most context values are one level deep and plain (a channel, a
        list of field names): those are keyed here directly, the rest by the general walk."""
        out: list[Hashable] = []
        opaque = self._opaque["context"]
        for path in self._paths["context"]:
            if len(path) == 1:
                value = context.get(path[0], _ABSENT)
                kind = type(value)
                if path in opaque:
                    if value is not _ABSENT:
                        ids.append(_raw(value))
                        value = _RENAMED
                    out.append(value)
                    continue
                if kind is str or value is _ABSENT:
                    out.append(value)
                    continue
                if kind is list and all(type(v) is str for v in value):
                    out.append(("set", frozenset(value), ()))
                    continue
            found = _walk(context, path, self._lookup, self._literal)
            out.append(self._canon(found, ids, path in opaque))
        return tuple(out)

    def _part(self, root: str, kind: str, eid: str) -> tuple[int, tuple[Hashable, ...]]:
        memo = (root, kind, eid)
        found = self._parts.get(memo)
        if found is not None:
            return found
        ids: list[Hashable] = []
        entity = ("E", kind, eid)
        opaque = self._opaque[root]
        looked: dict[tuple[str, str], dict[str, Any] | None] = {}

        def lookup(k: str, i: str) -> dict[str, Any] | None:  # each entity built once a part
            if (k, i) not in looked:
                looked[(k, i)] = self._lookup(k, i)
            return looked[(k, i)]

        values = tuple(
            self._canon(_walk(entity, path, lookup, self._literal), ids, path in opaque, True)
            for path in self._paths[root]
        )
        with self._lock:
            shape = self._shapes.setdefault(values, len(self._shapes))
            if len(self._parts) >= MEMO_SIZE:
                self._parts.clear()
            part = self._parts[memo] = (shape, tuple(ids))
        return part

    def _canon(
        self, value: Any, ids: list[Hashable], renamed: bool, memo: bool = False
    ) -> Hashable:
        """The value as a key: renamed identities become a placeholder, their raw value goes
        to `ids` (in an order fixed by the value's shape), scalars keep their type."""
        if memo and not renamed and type(value) is list:
            # A role's grants or a profile's allows: one list object of the org's entities,
            # shared by every user who has it (never changed once built). Kept with the list
            # itself, so that its id cannot be taken by another object while it is kept.
            known = self._lists.get(id(value))
            if known is not None and known[0] is value:
                ids.extend(known[2])
                return known[1]
            inner: list[Hashable] = []
            canon = self._set(value, inner, memo)
            if len(self._lists) < MEMO_SIZE:
                self._lists[id(value)] = (value, canon, tuple(inner))
            ids.extend(inner)
            return canon
        if renamed and value is not _ABSENT and value is not _NO_ENTITY:
            ids.append(_raw(value))
            return _RENAMED
        if type(value) is str:
            return value
        if type(value) is tuple:  # an entity ("E", type, id), or a marker
            if value[0] == "E" and value[1] not in self._literal:
                ids.append(value)
                return ("#", value[1])
            return value
        if isinstance(value, dict):
            entity = value.get("__entity")
            if entity is not None:
                return self._canon(("E", entity["type"], entity["id"]), ids, False)
            return tuple((k, self._canon(value[k], ids, False, memo)) for k in sorted(value))
        if isinstance(value, (list, frozenset)):
            return self._set(value, ids, memo)
        return (type(value).__name__, value)

    def _set(self, items: Any, ids: list[Hashable], memo: bool = False) -> Hashable:
        """A set: its plain members, and how many renamed ones (their ids in a fixed order)."""
        plain: list[Hashable] = []
        renamed: list[tuple[Hashable, tuple[Hashable, ...]]] = []
        for item in items:
            inner: list[Hashable] = []
            canon = self._canon(item, inner, False, memo)
            if inner:
                renamed.append((canon, tuple(inner)))
            else:
                plain.append(canon)
        renamed.sort(key=repr)
        for _, inner_ids in renamed:
            ids.extend(inner_ids)
        return ("set", frozenset(plain), tuple(canon for canon, _ in renamed))


def _raw(value: Any) -> Hashable:
    """A renamed value's identity: equal for equal values, of any type."""
    if isinstance(value, dict):
        entity = value.get("__entity")
        if entity is not None:
            return ("E", entity["type"], entity["id"])
        return ("R", tuple((k, _raw(value[k])) for k in sorted(value)))
    if isinstance(value, (list, frozenset)):
        return ("S", frozenset(_raw(v) for v in value))
    if type(value) is str or type(value) is tuple:
        return value
    return (type(value).__name__, value)


def _walk(start: Any, path: tuple[str, ...], lookup: Lookup, literal: frozenset[str]) -> Any:
    """The value a chain reaches, as Cedar would read it. An entity of a type some literal
    names stops the walk: its id is in the key, and fixes everything below it."""
    value = start
    for step in path:
        if isinstance(value, dict) and "__entity" in value:
            value = ("E", value["__entity"]["type"], value["__entity"]["id"])
        if type(value) is tuple:
            if value[0] != "E":
                return value  # a marker: absent, or no entity
            if value[1] in literal:
                return value
            entity = lookup(value[1], value[2])
            if entity is None:
                return _NO_ENTITY
            if step == ANCESTORS:
                return frozenset(_ancestors(entity, lookup))
            value = entity["attrs"].get(step, _ABSENT)
        elif isinstance(value, dict):
            if step == ANCESTORS:
                return _NOT_A_RECORD
            value = value.get(step, _ABSENT)
        else:
            return _NOT_A_RECORD
    if isinstance(value, dict) and "__entity" in value:
        return ("E", value["__entity"]["type"], value["__entity"]["id"])
    return value


def _ancestors(entity: dict[str, Any], lookup: Lookup) -> list[tuple[str, str, str]]:
    """Every ancestor, transitively, as Cedar's `in` sees them."""
    found: dict[tuple[str, str, str], None] = {}
    todo = [("E", p["type"], p["id"]) for p in entity.get("parents", ())]
    while todo:
        parent = todo.pop()
        if parent in found:
            continue
        found[parent] = None
        above = lookup(parent[1], parent[2])
        if above is not None:
            todo.extend(("E", p["type"], p["id"]) for p in above.get("parents", ()))
    return list(found)


class ClassCache:
    """Cedar's verdicts by (policy slice, class key), bounded: the oldest goes first.

    A verdict with errors is never kept (Cedar's error text names the request's own ids, and
    the next ask should try again)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a class cache needs room for at least one class")
        self.size = size
        self.hits = 0
        self.misses = 0
        self._items: dict[Hashable, Verdict] = {}
        self._lock = Lock()

    def get(self, key: Hashable) -> Verdict | None:
        found = self._items.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: Hashable, verdict: Verdict) -> None:
        if verdict.errors:
            return
        with self._lock:
            self._items[key] = verdict
            while len(self._items) > self.size:
                self._items.pop(next(iter(self._items)))

    def __len__(self) -> int:
        return len(self._items)
