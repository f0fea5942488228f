"""A bounded cache of decisions, for the sidecar: the same question asked again is answered
from memory.

A decision is a function of the policy set, the org snapshot and the request alone, and an
engine holds one of each for its whole life (a reload builds new engines), so a cached decision
can never be stale. Decisions that carry a backend failure are not kept: the next ask tries
again. The key is the whole request, context included, and whether `missing` was worked out.

The key is type-exact: `1`, `1.0` and `True` are equal and hash alike in Python, but only the
integer is a valid `enrolments`, so a key that forgot the type would answer an invalid request
with a valid one's allow (or the reverse). Every scalar is keyed with its type, and a request
holding anything but plain scalars is not cached at all.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from threading import Lock

from suite_authz.engine.core.decision import Decision
from suite_authz.engine.core.request import Request

_SCALARS = frozenset({str, int, bool, float, type(None)})


def _exact(value: object) -> object:
    """The value, tagged with its type unless it is a string (the common case, kept cheap): a
    string never equals a tuple, and a tagged value never equals one of another type."""
    kind = type(value)
    if kind is str:
        return value
    if kind not in _SCALARS:
        raise TypeError(f"not a plain scalar: {kind.__name__}")
    return kind, value


class DecisionCache:
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a decision cache needs room for at least one decision")
        self.size = size
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Hashable, Decision] = OrderedDict()
        self._lock = Lock()

    @staticmethod
    def key(request: Request, probe: bool) -> Hashable | None:
        """None for a request that cannot be a key (a context value that is not hashable)."""
        fields, context = request.fields, request.context
        try:
            return (
                _exact(request.subject),
                _exact(request.action),
                _exact(request.resource_type),
                _exact(request.resource_id),
                _exact(request.channel),
                tuple(map(_exact, fields)) if fields else (),
                tuple(sorted((_exact(k), _exact(v)) for k, v in context.items()))
                if context
                else (),
                probe,
            )
        except TypeError:  # unhashable, or keys of several types that do not sort
            return None

    def get(self, key: Hashable) -> Decision | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, decision: Decision) -> None:
        if decision.errors and not decision.invalid:
            return  # a backend failure: ask again next time
        with self._lock:
            self._items[key] = decision
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
