"""One record type's records, in the order a search walks them, indexed by the attributes a
query plan reads: a plan's condition is evaluated over the whole type at once, as bit sets
(one bit per record), instead of record by record.

Built once per engine and type (an engine serves one org version) from the records' entities
as Cedar is given them (`record_attrs` of `EntityLookup`'s JSON), so the table holds exactly
what a plan's `holds` would read of each record: a value the table and `holds` disagree on is
impossible by construction, and tests/api/test_plan_search.py compares both anyway.
Values are compared as `holds` compares them (Python equality; a missing attribute is null).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable
from typing import Any

from suite_authz.engine.core.entities import EntityLookup
from suite_authz.engine.core.plan import (
    And,
    Condition,
    Const,
    Eq,
    In,
    IsNull,
    Not,
    Or,
    record_attrs,
)

MASKS_KEPT = 1024  # bit sets of one attribute value, kept per table (a list view asks again)
_UNHASHABLE = object()  # a set or record value: equal to no scalar a plan compares with, not null
_PRESENT = object()  # the mask of every record that holds the attribute (not null)


class RecordTable:
    def __init__(self, ids: list[str], attrs: Iterable[dict[str, Any]]) -> None:
        """`ids` in search order; `attrs` each record's attributes, as `record_attrs` gives."""
        self.ids = ids
        self.every = (1 << len(ids)) - 1
        # attribute -> value -> the positions of the records holding it
        self._index: dict[str, dict[Hashable, list[int]]] = {}
        for position, found in enumerate(attrs):
            for path, value in found.items():
                if value is None:
                    continue  # null, as a missing attribute is
                try:
                    hash(value)
                except TypeError:
                    value = _UNHASHABLE
                self._index.setdefault(path, {}).setdefault(value, []).append(position)
        self._masks: dict[tuple[str, Hashable], int] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, lookup: EntityLookup, entity_type: str, ids: list[str]) -> RecordTable:
        def attrs() -> Iterable[dict[str, Any]]:
            for rid in ids:
                entity = lookup(entity_type, rid)
                yield record_attrs(entity) if entity is not None else {}

        return cls(ids, attrs())

    def admitted(self, condition: Condition) -> int:
        """The records `condition` holds for, as a bit set (bit n: the n-th id)."""
        match condition:
            case Const(value):
                return self.every if value else 0
            case Eq(path, value):
                return self._mask(path, value)
            case In(path, values):
                out = 0
                for value in values:
                    out |= self._mask(path, value)
                return out
            case IsNull(path):
                return self.every ^ self._mask(path, _PRESENT)
            case Not(arg):
                return self.every ^ self.admitted(arg)
            case And(args):
                out = self.every
                for arg in args:
                    out &= self.admitted(arg)
                return out
            case Or(args):
                out = 0
                for arg in args:
                    out |= self.admitted(arg)
                return out
        raise TypeError(f"not a condition: {condition!r}")

    def positions(self, admitted: int, start: int, limit: int) -> list[int]:
        """Up to `limit` positions of `admitted` from `start` on, in order."""
        if start >= len(self.ids) or limit <= 0:
            return []
        bits = bin(admitted >> start)[:1:-1]  # bit 0 first
        out: list[int] = []
        at = bits.find("1")
        while at != -1 and len(out) < limit:
            out.append(start + at)
            at = bits.find("1", at + 1)
        return out

    def _mask(self, path: str, value: Hashable) -> int:
        key = (path, value)
        found = self._masks.get(key)
        if found is not None:
            return found
        values = self._index.get(path, {})
        held: Iterable[int]
        if value is _PRESENT:
            held = (position for positions in values.values() for position in positions)
        else:
            # equal values of other types (1 and True) meet here as `==` meets them in `holds`
            held = values.get(value, ())
        bits = bytearray((len(self.ids) + 7) // 8)
        for position in held:
            bits[position >> 3] |= 1 << (position & 7)
        mask = int.from_bytes(bits, "little")
        with self._lock:
            if len(self._masks) >= MASKS_KEPT:
                self._masks.clear()
            self._masks[key] = mask
        return mask
