"""One policy set per (action, resource type): only the policies whose scope can match.

A Cedar policy whose scope does not match a request is not satisfied and raises no error, so
leaving it out changes nothing in the answer, the determining policies included; it only saves
Cedar from looking at it (6 to 12 of the 28 deciding policies apply to any one action and
type). Which scopes match is asked of Cedar itself, not worked out here: each policy's scope
alone (principal and conditions dropped, an `is` kept, an entity named in `resource == / in`
dropped, which can only keep more), as a permit, against one request per (action, type) with
the schema, so Cedar's own reading of action groups decides.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cedarpy

from suite_authz.engine.core.catalogue import ADMIN_ACTIONS, RECORD_ACTIONS
from suite_authz.engine.core.policies import PolicySet, policy_set
from suite_authz.engine.core.request import Request

KINDS = ("deciding", "grants", "obligations")
Pair = tuple[str, str]  # (action id, resource entity type)


@dataclass(frozen=True, slots=True)
class Slice:
    """The policies of one kind that can apply to one (action, resource type)."""

    token: int  # equal tokens: the same policies (a cache may share their answers)
    handle: Any  # cedarpy.PolicySet
    ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class Slices:
    by_pair: dict[tuple[str, Pair], Slice]
    whole: dict[str, Slice]  # for a pair the table does not hold: the whole set
    problem: str | None = None  # why the set is not sliced, if it is not

    def pick(self, kind: str, pair: Pair) -> Slice:
        found = self.by_pair.get((kind, pair))
        return found if found is not None else self.whole[kind]


_KEPT: dict[str, Slices] = {}
_LOCK = threading.Lock()
KEEP = 8


def slices_for(policies: PolicySet, payload: Callable[[Request], dict[str, Any]]) -> Slices:
    """The set's slices, worked out once per policy version (every org's engine shares them).
    `payload`: how the backend turns a request into Cedar's JSON."""
    key = f"{policies.version}\0{policies.schema_text}"
    with _LOCK:
        found = _KEPT.get(key)
    if found is not None:
        return found
    built = _build(policies, payload)
    with _LOCK:
        if len(_KEPT) >= KEEP:
            _KEPT.pop(next(iter(_KEPT)))
        return _KEPT.setdefault(key, built)


def _build(policies: PolicySet, payload: Callable[[Request], dict[str, Any]]) -> Slices:
    ests = _by_kind(policies)
    handles: dict[frozenset[str], Slice] = {}

    def sliced(kind: str, ids: frozenset[str]) -> Slice:
        found = handles.get(ids)
        if found is None:
            handle = policy_set({pid: ests[kind][pid] for pid in sorted(ids)})
            found = handles[ids] = Slice(len(handles), handle, ids)
        return found

    whole = {
        "deciding": Slice(-1, policies.handle, frozenset(ests["deciding"])),
        "grants": Slice(-2, policies.grants_handle, frozenset(ests["grants"])),
        "obligations": Slice(-3, policies.obligations_handle, frozenset(ests["obligations"])),
    }
    pairs = _pairs(policies, payload)
    everything = {pid: est for kind in ests.values() for pid, est in kind.items()}
    scopes = policy_set({pid: _scope_only(est) for pid, est in everything.items()})
    results = cedarpy.is_authorized_batch([p for _, p in pairs], scopes, [], policies.schema)
    by_pair: dict[tuple[str, Pair], Slice] = {}
    for (pair, _), result in zip(pairs, results, strict=True):
        errors = list(result.diagnostics.errors)
        if errors:  # a request the schema refuses: slice nothing, say why
            return Slices({}, whole, f"scope of {pair}: {errors[0]}")
        matched = set(result.diagnostics.reasons)
        for kind in KINDS:
            by_pair[(kind, pair)] = sliced(kind, frozenset(matched & set(ests[kind])))
    return Slices(by_pair, whole)


def _by_kind(policies: PolicySet) -> dict[str, dict[str, Any]]:
    deciding = policies.deciding
    return {
        "deciding": dict(deciding),
        "grants": {p: e for p, e in deciding.items() if policies.policies[p].effect == "permit"},
        "obligations": dict(policies.obligations),
    }


def _pairs(
    policies: PolicySet, payload: Callable[[Request], dict[str, Any]]
) -> list[tuple[Pair, dict[str, Any]]]:
    """One request per (action, resource type) the catalogue knows, as the backend sends it."""
    catalogue = policies.catalogue
    product = next(iter(catalogue.products))
    requests = [Request("", a, m) for a in RECORD_ACTIONS for m in catalogue.modules]
    requests += [
        Request("", a, kind, context={"product": product} if kind == "user" else {})
        for a, kind in ADMIN_ACTIONS.items()
    ]
    out: dict[Pair, dict[str, Any]] = {}
    for request in requests:
        body = payload(request)
        out.setdefault((body["action"]["id"], body["resource"]["type"]), body)
    return list(out.items())


def _scope_only(est: dict[str, Any]) -> dict[str, Any]:
    resource = est.get("resource", {"op": "All"})
    if resource.get("op") in ("is", "is_in"):
        resource = {"op": "is", "entity_type": resource["entity_type"]}
    else:
        resource = {"op": "All"}
    return {
        "effect": "permit",
        "principal": {"op": "All"},
        "action": est.get("action", {"op": "All"}),
        "resource": resource,
        "conditions": [],
    }


def slice_sizes(slices: Slices, kind: str = "deciding") -> Sequence[int]:
    """How many policies each (action, type) keeps: for /readyz and the docs."""
    return sorted({len(s.ids) for (k, _), s in slices.by_pair.items() if k == kind})
