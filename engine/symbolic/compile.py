"""A policy set to a z3 formula: "this set allows the request", over every request of a world.

Reads Cedar's JSON form of each policy (cedarpy's `policies_to_json_str`, kept by PolicySet as
`deciding`) and evaluates it over symbolic values (values.py). Only what our policies use is
encoded; anything else is refused by name (`Unsupported`), never guessed, so that no question
is answered "holds" over a policy the encoding did not read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import z3

from suite_authz.engine.errors import AuthzError
from suite_authz.engine.policies import PolicySet
from suite_authz.engine.symbolic import values as v
from suite_authz.engine.symbolic.world import RecordWorld, Unreadable


class Unsupported(AuthzError):
    """A policy uses a construct the symbolic encoding does not cover."""


def string_literals(policies: PolicySet) -> frozenset[str]:
    """Every string a policy compares with: the values a symbolic string must be able to take."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Value" in node and isinstance(node["Value"], str):
                found.add(node["Value"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(list(policies.deciding.values()))
    return frozenset(found)


def allows(policies: PolicySet, world: RecordWorld) -> Any:
    """The formula under which the set allows: some permit applies and no forbid does."""
    permits: list[Any] = []
    forbids: list[Any] = []
    for key, est in policies.deciding.items():
        applies = Compiler(world, key).policy(est)
        (permits if est["effect"] == "permit" else forbids).append(applies)
    return z3.And(z3.Or(permits or [z3.BoolVal(False)]), z3.Not(z3.Or(forbids)))


def applying(policies: PolicySet, world: RecordWorld) -> dict[str, Any]:
    """Each deciding policy's key -> the formula under which it applies."""
    return {key: Compiler(world, key).policy(est) for key, est in policies.deciding.items()}


class Compiler:
    def __init__(self, world: RecordWorld, policy: str) -> None:
        self.world = world
        self.policy_key = policy

    def refuse(self, what: str) -> Unsupported:
        return Unsupported(f"policy `{self.policy_key}`: {what} is outside the symbolic encoding")

    def policy(self, est: dict[str, Any]) -> Any:
        scope = z3.And(
            self.scope("principal", est["principal"]),
            self.scope("action", est["action"]),
            self.scope("resource", est["resource"]),
        )
        if z3.is_false(z3.simplify(scope)):
            return z3.BoolVal(False)  # never applies here: its conditions need not be read
        parts = [scope]
        for condition in est.get("conditions", []):
            body = self.boolean(self.expr(condition["body"]))
            parts.append(body if condition["kind"] == "when" else z3.Not(body))
        return z3.And(parts)

    def scope(self, var: str, clause: dict[str, Any]) -> Any:
        op = clause["op"]
        here = self.world.var(var)
        if op == "All":
            return z3.BoolVal(True)
        if op == "==":
            return v.equal(here, self.entity(clause["entity"]))
        if op == "in" and "entity" in clause:
            return self.within(here, self.entity(clause["entity"]))
        if op == "in" and "entities" in clause:
            return z3.Or([self.within(here, self.entity(e)) for e in clause["entities"]])
        if op == "is" and "in" not in clause:
            return self.is_type(here, clause["entity_type"])
        raise self.refuse(f"the {var} scope `{op}`")

    def entity(self, ref: dict[str, Any]) -> v.Choice:
        inner = ref.get("__entity", ref)
        return v.literal((inner["type"], inner["id"]))

    def boolean(self, value: v.Value) -> Any:
        if not isinstance(value, v.Bool):
            raise self.refuse(f"a condition of type {type(value).__name__}")
        return value.formula

    def expr(self, node: dict[str, Any]) -> v.Value:
        ((op, arg),) = node.items()
        handler = self._handlers().get(op)
        if handler is None:
            raise self.refuse(f"the operator `{op}`")
        return handler(arg)

    def _handlers(self) -> dict[str, Callable[[Any], v.Value]]:
        return {
            "Value": self.value,
            "Var": self.world.var,
            "Set": lambda items: self.set_of([self.expr(i) for i in items]),
            "Record": lambda fields: v.Record({k: self.expr(e) for k, e in fields.items()}),
            ".": lambda a: self.attribute(self.expr(a["left"]), a["attr"]),
            "has": lambda a: v.Bool(self.has(self.expr(a["left"]), a["attr"])),
            "==": lambda a: v.Bool(v.equal(self.expr(a["left"]), self.expr(a["right"]))),
            "!=": lambda a: v.Bool(z3.Not(v.equal(self.expr(a["left"]), self.expr(a["right"])))),
            "&&": lambda a: v.Bool(z3.And(self._bool(a["left"]), self._bool(a["right"]))),
            "||": lambda a: v.Bool(z3.Or(self._bool(a["left"]), self._bool(a["right"]))),
            "!": lambda a: v.Bool(z3.Not(self._bool(a["arg"]))),
            "in": lambda a: v.Bool(self.within(self.expr(a["left"]), self.expr(a["right"]))),
            "is": self._is,
            "contains": lambda a: v.Bool(v.contains(self._set(a["left"]), self.expr(a["right"]))),
            "containsAny": lambda a: v.Bool(
                v.contains_any(self._set(a["left"]), self._set(a["right"]))
            ),
            "containsAll": self._contains_all,
            "<": lambda a: v.Bool(self._long(a["left"]) < self._long(a["right"])),
            "<=": lambda a: v.Bool(self._long(a["left"]) <= self._long(a["right"])),
            ">": lambda a: v.Bool(self._long(a["left"]) > self._long(a["right"])),
            ">=": lambda a: v.Bool(self._long(a["left"]) >= self._long(a["right"])),
            "+": lambda a: v.Long(self._long(a["left"]) + self._long(a["right"])),
            "-": lambda a: v.Long(self._long(a["left"]) - self._long(a["right"])),
            "if-then-else": self._if,
        }

    def _bool(self, node: dict[str, Any]) -> Any:
        return self.boolean(self.expr(node))

    def _set(self, node: dict[str, Any]) -> v.Set:
        value = self.expr(node)
        if not isinstance(value, v.Set):
            raise self.refuse(f"a set operation on a {type(value).__name__}")
        return value

    def _long(self, node: dict[str, Any]) -> Any:
        value = self.expr(node)
        if not isinstance(value, v.Long):
            raise self.refuse(f"arithmetic on a {type(value).__name__}")
        return value.term

    def _is(self, arg: dict[str, Any]) -> v.Value:
        if "in" in arg:
            raise self.refuse("`is ... in`")
        return v.Bool(self.is_type(self.expr(arg["left"]), arg["entity_type"]))

    def _contains_all(self, arg: dict[str, Any]) -> v.Value:
        a, b = self._set(arg["left"]), self._set(arg["right"])
        return v.Bool(
            z3.And(
                [z3.Implies(f, a.members.get(k, z3.BoolVal(False))) for k, f in b.members.items()]
            )
        )

    def _if(self, arg: dict[str, Any]) -> v.Value:
        then, other = self.expr(arg["then"]), self.expr(arg["else"])
        if not (isinstance(then, v.Bool) and isinstance(other, v.Bool)):
            raise self.refuse("`if` yielding a value that is not a boolean")
        return v.Bool(z3.If(self._bool(arg["if"]), then.formula, other.formula))

    def value(self, literal: Any) -> v.Value:
        if isinstance(literal, bool):
            return v.Bool(z3.BoolVal(literal))
        if isinstance(literal, int):
            return v.Long(z3.IntVal(literal))
        if isinstance(literal, str):
            return v.literal(literal)
        if isinstance(literal, dict) and "__entity" in literal:
            return self.entity(literal)
        if isinstance(literal, list):
            return self.set_of([self.value(x) for x in literal])
        raise self.refuse(f"the literal {literal!r}")

    def set_of(self, items: list[v.Value]) -> v.Set:
        members: dict[Any, list[Any]] = {}
        for item in items:
            for key, guard in v.key_of(item).items():
                members.setdefault(key, []).append(guard)
        return v.Set({k: z3.Or(gs) for k, gs in members.items()})

    def attribute(self, of: v.Value, name: str) -> v.Value:
        if isinstance(of, v.Record):
            found: v.Value | None = of.attrs.get(name)
            if found is None:
                raise self.refuse(f"the attribute `{name}`")
            return found
        if isinstance(of, v.Choice):
            alternatives = []
            for key, guard in of.options.items():
                record = self._attributes(key)
                if name in record.attrs:
                    alternatives.append((guard, record.attrs[name]))
            if not alternatives:
                raise self.refuse(f"the attribute `{name}`")
            return v.merge(alternatives)
        raise self.refuse(f"an attribute of a {type(of).__name__}")

    def has(self, of: v.Value, name: str) -> Any:
        if isinstance(of, v.Record):
            return of.present.get(name, z3.BoolVal(name in of.attrs))
        if isinstance(of, v.Choice):
            parts = []
            for key, guard in of.options.items():
                record = self._attributes(key)
                present = record.present.get(name, z3.BoolVal(name in record.attrs))
                parts.append(z3.And(guard, present))
            return z3.Or(parts)
        raise self.refuse(f"`has` on a {type(of).__name__}")

    def _attributes(self, key: Any) -> v.Record:
        try:
            return self.world.attributes(key)
        except Unreadable as exc:
            raise self.refuse(str(exc)) from None

    def within(self, left: v.Value, right: v.Value) -> Any:
        """Cedar's `in`: the same entity, or one of its ancestors."""
        if not isinstance(left, v.Choice):
            raise self.refuse(f"`in` on a {type(left).__name__}")
        targets = right.members if isinstance(right, v.Set) else v.key_of(right)
        parts = []
        for key, guard in left.options.items():
            above = {key: z3.BoolVal(True), **self.world.ancestors(key)}
            for target, tguard in targets.items():
                if target in above:
                    parts.append(z3.And(guard, tguard, above[target]))
        return z3.Or(parts)

    def is_type(self, of: v.Value, kind: str) -> Any:
        if not isinstance(of, v.Choice):
            raise self.refuse(f"`is` on a {type(of).__name__}")
        return z3.Or([g for (t, _), g in of.options.items() if t == kind] or [z3.BoolVal(False)])
