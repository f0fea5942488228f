"""A query plan: which records of one type a user may act on, as a condition over the record's
own attributes, so that a list view filters in its own database instead of asking record by
record.

Built from Cedar's partial evaluation with the resource unknown (`cedarpy.is_authorized_partial`):
everything else in the request is bound (the user's seats, role and profile, the org's
settings, the acting identity), and Cedar leaves, per policy, a residual condition over the
unknown record. This module folds each residual into a small typed tree: what is known is
evaluated here (a record's `module` is fixed by its type, so `resource.module.approval` is
the module's setting; `resource is Invoice` is known from the type), and what is left reads
only the record's own attributes, named as the org snapshot names them (`status`,
`submitted_by`, `folder`, `title`). The record is admitted when some permit's condition holds
and no forbid's does, as Cedar decides.

Partial evaluation is Cedar's experimental feature and its residuals are a preview, not a
decision: every plan is checked against the engine's own decisions record by record
(tests/property/test_plan.py), on both backends. An expression this module cannot follow is
`Unplannable`, never a guess: a caller falls back to asking per record.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cedarpy

from suite_authz.engine.core.backends.cedar import CedarBackend
from suite_authz.engine.core.entities import EntityLookup
from suite_authz.engine.core.errors import AuthzError
from suite_authz.engine.core.request import Request

if TYPE_CHECKING:
    from suite_authz.engine.core.decide import Engine
    from suite_authz.engine.core.decision import Decision


PLAN_CLASSES_KEPT = 4096  # question classes whose residuals are kept, per engine


class Unplannable(AuthzError):
    """A policy reads a record in a way the planner cannot turn into a condition: ask per
    record instead (and say so). Nothing was decided: exit 2, HTTP 422."""

    http_status = 422


# -- the condition tree -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


@dataclass(frozen=True, slots=True)
class Eq:
    path: str
    value: str | bool | int


@dataclass(frozen=True, slots=True)
class In:
    path: str
    values: tuple[str | bool | int, ...]


@dataclass(frozen=True, slots=True)
class IsNull:
    path: str


@dataclass(frozen=True, slots=True)
class Not:
    arg: Condition


@dataclass(frozen=True, slots=True)
class And:
    args: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    args: tuple[Condition, ...]


Condition = Const | Eq | In | IsNull | Not | And | Or
TRUE, FALSE = Const(True), Const(False)


def all_of(parts: Iterable[Condition]) -> Condition:
    out: list[Condition] = []
    for part in parts:
        if part == FALSE:
            return FALSE
        if part != TRUE and part not in out:
            out.extend(part.args if isinstance(part, And) else (part,))
    # `status = x` holds only where status is set: saying so again adds nothing
    exact = {a.path for a in out if isinstance(a, Eq | In)}
    out = [
        a
        for a in out
        if not (isinstance(a, Not) and isinstance(a.arg, IsNull) and a.arg.path in exact)
    ]
    return TRUE if not out else out[0] if len(out) == 1 else And(_ordered(out))


def any_of(parts: Iterable[Condition]) -> Condition:
    out: list[Condition] = []
    for part in parts:
        if part == TRUE:
            return TRUE
        if part != FALSE and part not in out:
            out.extend(part.args if isinstance(part, Or) else (part,))
    # `not (status = x)` already holds where status is not set
    loose = {a.arg.path for a in out if isinstance(a, Not) and isinstance(a.arg, Eq | In)}
    out = [a for a in out if not (isinstance(a, IsNull) and a.path in loose)]
    return FALSE if not out else out[0] if len(out) == 1 else Or(_ordered(out))


def _ordered(parts: list[Condition]) -> tuple[Condition, ...]:
    """One order whatever order Cedar left its residuals in: the same plan reads, prints and
    caches the same in every process."""
    return tuple(
        sorted(parts, key=lambda part: json.dumps(as_json(part), sort_keys=True, default=repr))
    )


def negated(part: Condition) -> Condition:
    """`not part`, with the negation pushed down to the leaves (De Morgan): a plan reads as
    a list of what a record must be, and an adapter translates only negated leaves."""
    match part:
        case Const(value):
            return Const(not value)
        case Not(arg):
            return arg
        case And(args):
            return any_of(negated(a) for a in args)
        case Or(args):
            return all_of(negated(a) for a in args)
    return Not(part)


def holds(condition: Condition, attrs: Mapping[str, Any]) -> bool:
    """The condition on one record's attributes (absent ones are null)."""
    match condition:
        case Const(value):
            return value
        case Eq(path, value):
            return attrs.get(path) == value
        case In(path, values):
            return attrs.get(path) in values
        case IsNull(path):
            return attrs.get(path) is None
        case Not(arg):
            return not holds(arg, attrs)
        case And(args):
            return all(holds(a, attrs) for a in args)
        case Or(args):
            return any(holds(a, attrs) for a in args)
    raise TypeError(f"not a condition: {condition!r}")


def as_json(condition: Condition) -> dict[str, Any]:
    match condition:
        case Const(value):
            return {"op": "true" if value else "false"}
        case Eq(path, value):
            return {"op": "eq", "path": path, "value": value}
        case In(path, values):
            return {"op": "in", "path": path, "values": list(values)}
        case IsNull(path):
            return {"op": "is_null", "path": path}
        case Not(arg):
            return {"op": "not", "arg": as_json(arg)}
        case And(args):
            return {"op": "and", "args": [as_json(a) for a in args]}
        case Or(args):
            return {"op": "or", "args": [as_json(a) for a in args]}
    raise TypeError(f"not a condition: {condition!r}")


def in_words(condition: Condition) -> str:
    match condition:
        case Const(value):
            return "every record" if value else "no record"
        case Eq(path, value):
            return f"{path} = {json.dumps(value)}"
        case In(path, values):
            return f"{path} in ({', '.join(json.dumps(v) for v in values)})"
        case IsNull(path):
            return f"{path} is not set"
        case Not(Eq(path, value)):
            return f"{path} is not {json.dumps(value)}"
        case Not(In(path, values)):
            return f"{path} not in ({', '.join(json.dumps(v) for v in values)})"
        case Not(IsNull(path)):
            return f"{path} is set"
        case Not(arg):
            return f"not ({in_words(arg)})"
        case And(args):
            return " and ".join(f"({in_words(a)})" for a in args)
        case Or(args):
            return " or ".join(f"({in_words(a)})" for a in args)
    raise TypeError(f"not a condition: {condition!r}")


# -- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    subject: str
    action: str
    resource_type: str
    condition: Condition
    policy_version: str
    # why nothing is admitted, when nothing can be (the deny an unknown user or a missing
    # seat gives, as `decide` explains it)
    denied: Decision | None = None
    # a view's obligation (D7): the fields hidden from this user in every record admitted
    redact_fields: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        if self.condition == TRUE:
            return "always"
        return "never" if self.condition == FALSE else "conditional"

    def admits(self, attrs: Mapping[str, Any]) -> bool:
        return holds(self.condition, attrs)

    def in_words(self) -> str:
        return in_words(self.condition)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "subject": self.subject,
            "action": self.action,
            "resource_type": self.resource_type,
            "condition": as_json(self.condition),
            "policy_version": self.policy_version,
        }
        if self.action == "view" and self.condition != FALSE:
            out["redact_fields"] = list(self.redact_fields)
        if self.denied is not None:
            out["reasons"] = list(self.denied.reasons)
            out["missing"] = list(self.denied.missing)
        return out


def record_attrs(entity: Mapping[str, Any]) -> dict[str, Any]:
    """A record's attributes as a plan reads them: the entity's, with entity references by id
    (`submitted_by` is the user's id, `module` the module's)."""
    return {k: _plain(v) for k, v in entity["attrs"].items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict) and "__entity" in value:
        return value["__entity"]["id"]
    return value


# -- from Cedar's residuals ----------------------------------------------------------------


class _Resource:
    """The unknown record."""


_RESOURCE = _Resource()


@dataclass(frozen=True, slots=True)
class _Attr:
    """One of the unknown record's own attributes."""

    name: str


@dataclass(frozen=True, slots=True)
class _Entity:
    type: str
    id: str


class _Folder:
    """Folds a residual's expressions: known values are computed, the record's attributes
    become conditions. `module` is the one attribute known without the record: the type
    fixes it."""

    def __init__(self, lookup: EntityLookup, entity_type: str, module: str) -> None:
        self.lookup = lookup
        self.entity_type = entity_type
        self.module = module

    def condition(self, node: Any) -> Condition:
        value = self.fold(node)
        if isinstance(value, bool):
            return Const(value)
        if isinstance(value, Const | Eq | In | IsNull | Not | And | Or):
            return value
        raise Unplannable(f"a condition that is not true or false: {_shown(node)}")

    def fold(self, node: Any) -> Any:
        if not isinstance(node, dict) or len(node) != 1:
            raise Unplannable(f"an expression the planner cannot read: {_shown(node)}")
        ((op, arg),) = node.items()
        method = getattr(self, "_op_" + _OPS.get(op, ""), None)
        if method is None:
            raise Unplannable(f"the operator `{op}` on a record is not planned")
        return method(arg)

    def _op_value(self, arg: Any) -> Any:
        return _value(arg)

    def _op_unknown(self, arg: Any) -> Any:
        if arg == [{"Value": "resource"}]:
            return _RESOURCE
        raise Unplannable(f"an unknown other than the record: {_shown(arg)}")

    def _op_set(self, arg: Any) -> Any:
        items = [self.fold(x) for x in arg]
        if any(_open(x) for x in items):
            raise Unplannable("a set built from the record's attributes")
        return tuple(items)

    def _op_record(self, arg: Any) -> Any:
        out = {k: self.fold(v) for k, v in arg.items()}
        if any(_open(x) for x in out.values()):
            raise Unplannable("a record built from the record's attributes")
        return out

    def _op_attr(self, arg: Any) -> Any:
        left, name = self.fold(arg["left"]), arg["attr"]
        if left is _RESOURCE:
            return _Entity("Module", self.module) if name == "module" else _Attr(name)
        if isinstance(left, _Entity):
            entity = self.lookup(left.type, left.id)
            if entity is None or name not in entity["attrs"]:
                raise Unplannable(f"`{left.type}::{left.id}` has no attribute `{name}`")
            return _value(entity["attrs"][name])
        if isinstance(left, dict) and name in left:
            return left[name]
        raise Unplannable(f"the attribute `{name}` of {_shown(arg['left'])}")

    def _op_has(self, arg: Any) -> Any:
        left, name = self.fold(arg["left"]), arg["attr"]
        if left is _RESOURCE:
            return True if name == "module" else Not(IsNull(name))
        if isinstance(left, _Entity):
            entity = self.lookup(left.type, left.id)
            return entity is not None and name in entity["attrs"]
        if isinstance(left, dict):
            return name in left
        raise Unplannable(f"`has {name}` on {_shown(arg['left'])}")

    def _op_is(self, arg: Any) -> Any:
        left = self.fold(arg["left"])
        if left is _RESOURCE:
            return arg["entity_type"] == self.entity_type
        if isinstance(left, _Entity):
            return arg["entity_type"] == left.type
        raise Unplannable(f"`is` on {_shown(arg['left'])}")

    def _op_and(self, arg: Any) -> Any:
        left = self._truth(self.fold(arg["left"]))
        if left == FALSE:
            return FALSE  # Cedar short-circuits: the right side is never evaluated
        return all_of([left, self._truth(self.fold(arg["right"]))])

    def _op_or(self, arg: Any) -> Any:
        left = self._truth(self.fold(arg["left"]))
        if left == TRUE:
            return TRUE
        return any_of([left, self._truth(self.fold(arg["right"]))])

    def _op_not(self, arg: Any) -> Any:
        return negated(self._truth(self.fold(arg["arg"])))

    def _op_if(self, arg: Any) -> Any:
        test = self._truth(self.fold(arg["if"]))
        if test == TRUE:
            return self.fold(arg["then"])
        if test == FALSE:
            return self.fold(arg["else"])
        then, other = self._truth(self.fold(arg["then"])), self._truth(self.fold(arg["else"]))
        return any_of([all_of([test, then]), all_of([negated(test), other])])

    def _op_eq(self, arg: Any) -> Any:
        return self._equal(self.fold(arg["left"]), self.fold(arg["right"]))

    def _op_ne(self, arg: Any) -> Any:
        return negated(self._truth(self._equal(self.fold(arg["left"]), self.fold(arg["right"]))))

    def _op_contains(self, arg: Any) -> Any:
        group, item = self.fold(arg["left"]), self.fold(arg["right"])
        if isinstance(group, tuple) and isinstance(item, _Attr):
            return In(item.name, tuple(sorted(set(group), key=repr)))
        if isinstance(group, tuple) and not _open(item):
            return item in group
        raise Unplannable(f"`contains` over {_shown(arg['left'])}")

    def _op_contains_any(self, arg: Any) -> Any:
        left, right = self.fold(arg["left"]), self.fold(arg["right"])
        if isinstance(left, tuple) and isinstance(right, tuple):
            return any(x in left for x in right)
        raise Unplannable("`containsAny` over the record's attributes")

    def _op_contains_all(self, arg: Any) -> Any:
        left, right = self.fold(arg["left"]), self.fold(arg["right"])
        if isinstance(left, tuple) and isinstance(right, tuple):
            return all(x in left for x in right)
        raise Unplannable("`containsAll` over the record's attributes")

    def _op_in(self, arg: Any) -> Any:
        left, right = self.fold(arg["left"]), self.fold(arg["right"])
        targets = right if isinstance(right, tuple) else (right,)
        if isinstance(left, _Entity) and all(isinstance(t, _Entity) for t in targets):
            return any(t in self._ancestry(left) for t in targets)
        if left is _RESOURCE and all(isinstance(t, _Entity) for t in targets):
            # a record has no parents: it is `in` only itself, which no known entity is
            return False
        raise Unplannable(f"`in` on {_shown(arg['left'])}")

    def _ancestry(self, entity: _Entity) -> set[_Entity]:
        seen, todo = {entity}, [entity]
        while todo:
            current = todo.pop()
            found = self.lookup(current.type, current.id)
            for parent in (found or {}).get("parents", []):
                parent_entity = _Entity(parent["type"], parent["id"])
                if parent_entity not in seen:
                    seen.add(parent_entity)
                    todo.append(parent_entity)
        return seen

    def _equal(self, left: Any, right: Any) -> Any:
        if isinstance(right, _Attr):
            left, right = right, left
        if isinstance(left, _Attr) and not _open(right):
            return Eq(left.name, right)
        if _open(left) or _open(right):
            raise Unplannable("an equality between two of the record's attributes")
        return left == right

    def _truth(self, value: Any) -> Condition:
        if isinstance(value, bool):
            return Const(value)
        if isinstance(value, Const | Eq | In | IsNull | Not | And | Or):
            return value
        if isinstance(value, _Attr):  # a boolean attribute read as a condition
            return Eq(value.name, True)
        raise Unplannable(f"a value used as a condition: {value!r}")


_OPS = {
    "Value": "value",
    "unknown": "unknown",
    "Set": "set",
    "Record": "record",
    ".": "attr",
    "has": "has",
    "is": "is",
    "&&": "and",
    "||": "or",
    "!": "not",
    "if-then-else": "if",
    "==": "eq",
    "!=": "ne",
    "contains": "contains",
    "containsAny": "contains_any",
    "containsAll": "contains_all",
    "in": "in",
}


def _value(raw: Any) -> Any:
    if isinstance(raw, dict) and "__entity" in raw:
        return _Entity(raw["__entity"]["type"], raw["__entity"]["id"])
    if isinstance(raw, list):
        return tuple(_value(x) for x in raw)
    if isinstance(raw, dict):
        return {k: _value(v) for k, v in raw.items()}
    return raw


def finished(condition: Condition, swap: Mapping[_Entity, _Entity]) -> Condition:
    """The folded condition as a plan holds it: each entity a record is compared with, by id
    (`submitted_by` holds the user's id), after `swap` (another user's identities for this
    user's, when the fold was that user's); sorted again, as the ids changed."""
    match condition:
        case Eq(path, value):
            return Eq(path, _id(value, swap))
        case In(path, values):
            return In(path, tuple(sorted({_id(v, swap) for v in values}, key=str)))
        case Not(arg):
            return negated(finished(arg, swap))
        case And(args):
            return all_of(finished(a, swap) for a in args)
        case Or(args):
            return any_of(finished(a, swap) for a in args)
    return condition


def _id(value: Any, swap: Mapping[_Entity, _Entity]) -> Any:
    return swap.get(value, value).id if isinstance(value, _Entity) else value


def _open(value: Any) -> bool:
    return value is _RESOURCE or isinstance(
        value, _Attr | Const | Eq | In | IsNull | Not | And | Or
    )


def _shown(node: Any) -> str:
    text = json.dumps(node, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def _policy_condition(folder: _Folder, residual: Mapping[str, Any]) -> Condition:
    parts: list[Condition] = []
    for scope in ("principal", "action", "resource"):
        op = residual[scope]["op"]
        if op != "All":
            raise Unplannable(f"a residual whose {scope} scope is `{op}`")
    for clause in residual["conditions"]:
        body = folder.condition(clause["body"])
        parts.append(body if clause["kind"] == "when" else negated(body))
    return all_of(parts)


def plan_records(
    engine: Engine, request: Request, early: Callable[[Request], Decision | None]
) -> Plan:
    """The plan for `request`'s subject, action, resource type, channel, fields and context,
    over every record of that type (its resource id is ignored). `early`: the engine's answer
    for a request that never reaches a backend (an unknown user: nothing is admitted, and the
    deny says why). Unplannable when a policy reads a record in a way this module does not
    follow, or when the engine's backend is not Cedar."""
    policies = engine.policies
    kind = request.resource_type
    info = policies.catalogue.modules.get(kind)
    if info is None or kind in ("user", "org"):
        raise Unplannable(f"`{kind}` is not a record type: a plan lists records")
    template = Request(
        request.subject, request.action, kind, None, request.channel, request.fields,
        request.context,
    )  # fmt: skip
    denied = early(template)
    if denied is not None:
        return Plan(request.subject, request.action, kind, FALSE, engine.version, denied)
    backend = engine.backend
    if not isinstance(backend, CedarBackend):
        raise Unplannable(f"the {backend.name} backend does not plan: plans come from Cedar")
    payload = backend.cedar_request(template)
    partial = {
        "principal": _uid(payload["principal"]),
        "action": _uid(payload["action"]),
        "context": payload["context"],
    }
    condition = engine.plan_classes.of(backend, payload)
    if condition is None:
        result = cedarpy.is_authorized_partial(
            partial, policies.handle, backend.evaluator.entities_for([payload]), policies.schema
        )
        residuals = list(result.residuals.values())
        folder = _Folder(engine.entities, info.entity, kind)
        permits: list[Condition] = []
        forbids: list[Condition] = []
        for residual in residuals:
            folded = _policy_condition(folder, residual)
            (permits if residual["effect"] == "permit" else forbids).append(folded)
        folded = all_of([any_of(permits), negated(any_of(forbids))])
        engine.plan_classes.keep(backend, payload, residuals, folded)
        condition = finished(folded, {})
    redact: tuple[str, ...] = ()
    if template.action == "view" and condition != FALSE:
        try:
            redact = backend.redacted(template)
        except RuntimeError as exc:
            raise Unplannable(str(exc)) from None
    return Plan(request.subject, request.action, kind, condition, engine.version, None, redact)


class PlanClasses:
    """Folded plans kept per question class, so that a user whose seats, role, profile and
    settings read as another's is planned without a partial evaluation of their own: the
    other's folded condition, with the other's identities swapped for theirs. The class is the
    class cache's key (cedar_classes.py) of the question about a new record of the type: the
    record is unknown, but what its type fixes (its module, which a fold compares with the
    modules a role grants) is in the key, and so is which of the user's identities equal it.

    Kept only where that swap is sound: the identities the class key renames are entities,
    swapped as typed references (never as plain strings, which a literal could equal), or
    strings (an email compared with the sender) that Cedar's residuals do not mention at all;
    and the principal appears in the residuals only where the key renames it. Without the
    backend's class keys (class cache off) nothing is kept."""

    def __init__(self, size: int = PLAN_CLASSES_KEPT) -> None:
        self.size = size
        self.shared = 0  # plans made from another user's fold
        self._items: dict[Hashable, tuple[tuple[Hashable, ...], Condition]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _class(backend: CedarBackend, payload: dict[str, Any]) -> Any:
        keys = backend.evaluator.keys
        if keys is None:
            return None
        key, ids = keys.with_identities(payload)
        if not all(type(i) is str or _entity_id(i) for i in ids):
            return None
        return key, ids

    def of(self, backend: CedarBackend, payload: dict[str, Any]) -> Condition | None:
        """The condition for `payload`'s question from one of its class, or None."""
        found = self._class(backend, payload)
        if found is None:
            return None
        key, ids = found
        kept = self._items.get(key)
        if kept is None:
            return None
        their_ids, folded = kept
        swap = {
            _Entity(*theirs[1:]): _Entity(*own[1:])  # type: ignore[index]
            for theirs, own in zip(their_ids, ids, strict=True)
            if theirs != own and _entity_id(theirs)
        }
        self.shared += 1
        return finished(folded, swap)

    def keep(
        self,
        backend: CedarBackend,
        payload: dict[str, Any],
        residuals: list[Any],
        folded: Condition,
    ) -> None:
        found = self._class(backend, payload)
        if found is None:
            return
        key, ids = found
        principal = payload["principal"]
        unswapped: set[Hashable] = {i for i in ids if type(i) is str}
        if ("E", principal["type"], principal["id"]) not in ids:
            unswapped.add((principal["type"], principal["id"]))
        if unswapped and _mentions(residuals, unswapped):
            return  # the residuals name what a swap would not change: not shared
        with self._lock:
            if len(self._items) >= self.size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = (ids, folded)

    def __len__(self) -> int:
        return len(self._items)


def _mentions(node: Any, values: set[Any]) -> bool:
    """Whether the residual JSON holds one of `values`: a string, or an entity as (type, id)."""
    if isinstance(node, dict):
        found = node.get("__entity")
        if isinstance(found, dict) and (found.get("type"), found.get("id")) in values:
            return True
        return any(k in values or _mentions(v, values) for k, v in node.items())
    if isinstance(node, list):
        return any(_mentions(x, values) for x in node)
    return isinstance(node, str) and node in values


def _entity_id(value: Any) -> bool:
    return type(value) is tuple and len(value) == 3 and value[0] == "E"


def _uid(entity: Mapping[str, str]) -> str:
    return f"{entity['type']}::{json.dumps(entity['id'])}"
