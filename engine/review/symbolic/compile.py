"""A policy set to a z3 formula: "this set allows the request", over every request of a world.

Reads Cedar's JSON form of each policy (cedarpy's `policies_to_json_str`, kept by PolicySet as
`deciding`) and evaluates it over symbolic values (values.py), as Cedar does: a policy applies
when its scope matches, its conditions hold, and evaluating them raised no error (an attribute
the entity does not have, read without `has`: Cedar skips such a policy, permit or forbid),
with `&&`, `||` and `if` short-circuiting. Anything the encoding does not read is refused by
name (`Unsupported`), never guessed, so that no question is answered "holds" over a policy the
encoding did not read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import z3

from suite_authz.engine.core.errors import AuthzError
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.review.symbolic import values as v
from suite_authz.engine.review.symbolic.values import all_of, any_of
from suite_authz.engine.review.symbolic.world import FIXED_TYPES, RecordWorld, Unreadable

# The schema the world models (world.py, people.py): a set whose schema says otherwise is
# refused, since the world would not hold what its entities hold.
_MODELLED_SCHEMA = "schema.cedarschema"


class Unsupported(AuthzError):
    """A policy uses a construct the symbolic encoding does not cover."""


def _nodes(policies: PolicySet) -> Iterator[dict[str, Any]]:
    """Every JSON object of every policy the proof reads: the deciding ones and the
    @obligation ones (what the engine decides after an allow reads those)."""
    stack: list[Any] = [*policies.deciding.values(), *policies.obligations.values()]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def string_literals(policies: PolicySet) -> frozenset[str]:
    """Every string a policy compares with: the values a symbolic string must be able to take."""
    return frozenset(
        n["Value"] for n in _nodes(policies) if "Value" in n and isinstance(n["Value"], str)
    )


def entity_literals(policies: PolicySet) -> dict[str, frozenset[str]]:
    """Entity type -> every id of it a policy names (in its scope or its conditions)."""
    found: dict[str, set[str]] = {}
    for node in _nodes(policies):
        inner = node.get("__entity", node)
        if (
            isinstance(inner, dict)
            and isinstance(inner.get("type"), str)
            and isinstance(inner.get("id"), str)
        ):
            found.setdefault(inner["type"], set()).add(inner["id"])
    return {t: frozenset(ids) for t, ids in found.items()}


def world_for(*sets: PolicySet) -> RecordWorld:
    """The world every question over `sets` is asked in: each string and entity id any of
    them names is a possible value. Refused when a set's schema is not the one modelled."""
    modelled = _modelled_schema()
    for policies in sets:
        if _normal(policies.schema_text) != modelled:
            raise Unsupported(
                f"{policies.directory}: its schema differs from the one the symbolic world "
                "models (engine/review/symbolic/world.py): the prover cannot read its entities"
            )
    strings: frozenset[str] = frozenset()
    named: dict[str, frozenset[str]] = {}
    for policies in sets:
        strings |= string_literals(policies)
        for kind, ids in entity_literals(policies).items():
            named[kind] = named.get(kind, frozenset()) | ids
    return RecordWorld(sets[0].catalogue, strings, named)


def _modelled_schema() -> str:
    from suite_authz.engine.core.policies import default_policies_dir

    return _normal((default_policies_dir() / _MODELLED_SCHEMA).read_text(encoding="utf-8"))


def _normal(schema: str) -> str:
    """A schema's declarations, without comments and spacing (what Cedar reads of it)."""
    import re

    text = re.sub(r"//[^\n]*", "", schema)
    return " ".join(text.split())


def allows(policies: PolicySet, world: RecordWorld) -> Any:
    """The formula under which the set allows, as the engine decides: some permit applies and
    no forbid does, and what the allow carries can be worked out (a mail's sender is one
    address; asking the @obligation policies raises no error)."""
    permits: list[Any] = []
    forbids: list[Any] = []
    for key, applies in applying(policies, world).items():
        (permits if policies.deciding[key]["effect"] == "permit" else forbids).append(applies)
    decided = all_of(any_of(permits or [z3.BoolVal(False)]), z3.Not(any_of(forbids)))
    return all_of(decided, z3.Not(_obligations_fail(policies, world)))


def applying(policies: PolicySet, world: RecordWorld) -> dict[str, Any]:
    """Each deciding policy's key -> the formula under which it applies; compiled once per world
    and policy text, so that the two sets of a diff pay for the policies they share once."""
    out = {}
    for key, est in policies.deciding.items():
        memo = ("deciding", key, json.dumps(est, sort_keys=True))
        found = world.compiled.get(memo)
        if found is None:
            found = world.compiled[memo] = Compiler(world, key).policy(est)
        out[key] = found
    return out


def acting_products(policies: PolicySet, world: RecordWorld) -> dict[str, Any]:
    """Product -> where an allow runs in it (D1's `acting_as`), as the engine works it out
    (engine/backends `acting_product`): the first product, in the catalogue's order, of a permit
    that applies (a permit with no @product runs in "crm", after the catalogue's products)."""
    order = list(world.products)
    by_product: dict[str, list[Any]] = {}
    for key, applies in applying(policies, world).items():
        info = policies.policies[key]
        if policies.deciding[key]["effect"] == "permit" and info.rules:
            by_product.setdefault(info.product or "crm", []).append(applies)
    unranked = sorted(p for p in by_product if p not in order)
    if len(unranked) > 1:
        raise Unsupported(
            f"permits of products the catalogue does not order ({', '.join(unranked)}): "
            "which one an allow runs in is Cedar's order of its reasons, which the proof does "
            "not model"
        )
    out: dict[str, Any] = {}
    earlier: list[Any] = []
    for product in [*(p for p in order if p in by_product), *unranked]:
        grants = any_of(by_product[product])
        out[product] = all_of(grants, z3.Not(any_of(earlier or [z3.BoolVal(False)])))
        earlier.append(grants)
    return out


def _obligations_fail(policies: PolicySet, world: RecordWorld) -> Any:
    """Where an allow becomes a deny after the @obligation policies are asked
    (engine/core/backends/cedar_obligations.py): asking them about the request errs, or a mail has
    not exactly one sender among its candidate addresses, or asking about a candidate errs, or
    a view's question about a field to hide errs."""
    held_errors = _asked(policies, world, {}, "held")[1]
    distinct, passes, errors = senders(policies, world)
    one = z3.Sum([z3.If(all_of(d, p), 1, 0) for d, p in zip(distinct, passes, strict=True)])
    mail = world.action["send_email"]
    sender_errors = any_of([all_of(d, e) for d, e in zip(distinct, errors, strict=True)])
    redaction_errors = all_of(world.action["view"], _redaction_questions(policies, world)[1])
    return any_of(held_errors, all_of(mail, any_of(one != 1, sender_errors)), redaction_errors)


def senders(policies: PolicySet, world: RecordWorld) -> tuple[list[Any], list[Any], list[Any]]:
    """A mail's candidate senders as the engine lists them (the acting user's address, the
    integration owner's, the one claimed: once each, in order, the absent left out): for each,
    where it is listed, where the `sender` @obligation permits it, and where asking errs. The
    sender is the one listed candidate permitted; listed candidates differ in address."""
    context = world.var("context")
    assert isinstance(context, v.Record)
    has_owner, owner = world.owner_email()
    claimed = context.attrs["sender"]
    candidates = [
        (z3.BoolVal(True), world.var("principal_email")),
        (has_owner, owner),
        (context.present["sender"], claimed),
    ]
    passes, errors = [], []
    for n, (_, address) in enumerate(candidates):
        bound = v.Record(
            {**context.attrs, "sender": address}, {**context.present, "sender": z3.BoolVal(True)}
        )
        ok, err = _asked(policies, world, {"context": bound}, "sender", f"sender {n}")
        passes.append(ok)
        errors.append(err)
    distinct = []
    for n, (present, address) in enumerate(candidates):
        earlier = [all_of(candidates[k][0], v.equal(candidates[k][1], address)) for k in range(n)]
        distinct.append(all_of(present, z3.Not(any_of(earlier or [z3.BoolVal(False)]))))
    return distinct, passes, errors


def _asked(
    policies: PolicySet,
    world: RecordWorld,
    bindings: dict[str, v.Value],
    kind: str,
    asked: str = "",
) -> tuple[Any, Any]:
    """The @obligation policies asked with `bindings` (`asked` names them, for the memo):
    where a `kind` permit applies and no obligation forbid does, and where asking them errs."""
    infos = policies.policies
    permits, forbids, errors = [], [], []
    for pid, est in policies.obligations.items():
        memo = (asked or kind, pid, json.dumps(est, sort_keys=True))
        found = world.compiled.get(memo)
        if found is None:
            compiler = Compiler(world, pid, bindings)
            applied = compiler.policy(est)
            found = world.compiled[memo] = (applied, any_of(compiler.errors or [z3.BoolVal(False)]))
        applies, erring = found
        errors.append(erring)
        if est["effect"] != "permit":
            forbids.append(applies)
        elif infos[pid].obligation == kind:
            permits.append(applies)
    no = z3.BoolVal(False)
    passes = all_of(any_of(permits or [no]), z3.Not(any_of(forbids or [no])))
    return passes, any_of(errors or [no])


def redactions(policies: PolicySet, world: RecordWorld) -> dict[str, Any]:
    """Qualified field -> where an allowed view of its module hides it from the acting user
    (D7), as the engine works it out (engine/core/backends/cedar_obligations.py): the set's
    @obligation policies asked about a view of the module as a whole (its new record) with
    `context.fields` holding that field alone, for each field some field rule of the org names;
    a field a `redact` permit applies to, and no obligation forbid, is hidden."""
    return _redaction_questions(policies, world)[0]


def _redaction_questions(policies: PolicySet, world: RecordWorld) -> tuple[dict[str, Any], Any]:
    """`redactions`, and where asking one of those questions errs on a view (the engine then
    denies: what the allow carries cannot be worked out)."""
    infos = policies.policies
    hidden: dict[str, Any] = {}
    errs: list[Any] = []
    no = z3.BoolVal(False)
    for m in world.modules:
        key, record = world.asked_about(m)
        # compiled once per module over "which field is asked", then read per field
        asked = {f: z3.Bool(f"#asked.{f}") for f in world.fields[m]}
        bindings: dict[str, v.Value] = {
            "action": v.literal(("Action", "view")),
            "resource": v.Choice({key: z3.BoolVal(True)}),
            "context": v.Record(
                {"channel": v.Choice(dict(world.channel)), "fields": v.Set(dict(asked))}
            ),
        }
        redact, forbids, erring = [], [], []
        for pid, est in policies.obligations.items():
            memo = (f"redact {m}", pid, json.dumps(est, sort_keys=True))
            found = world.compiled.get(memo)
            if found is None:
                compiler = Compiler(world, pid, bindings, {key: record})
                applies = compiler.policy(est)
                found = world.compiled[memo] = (applies, any_of(compiler.errors or [no]))
            applies, error = found
            erring.append(error)
            if est["effect"] != "permit":
                forbids.append(applies)
            elif infos[pid].obligation == "redact":
                redact.append(applies)
        hides = all_of(any_of(redact or [no]), z3.Not(any_of(forbids or [no])))
        error = any_of(erring or [no])
        for f in world.fields[m]:
            only = [(a, z3.BoolVal(g == f)) for g, a in asked.items()]
            named = world.rule_names(f)
            hidden[f] = all_of(named, z3.simplify(z3.substitute(hides, *only)))
            errs.append(all_of(world.module[m], named, z3.simplify(z3.substitute(error, *only))))
    return hidden, any_of(errs or [no])


def same_obligations(base: PolicySet, head: PolicySet, kind: str) -> bool:
    """The two sets carry the same `kind` of obligation wherever both allow: their @obligation
    policies of that kind and their obligation forbids are the same, text for text."""

    def asked(policies: PolicySet) -> list[str]:
        return sorted(
            json.dumps(est, sort_keys=True)
            for pid, est in policies.obligations.items()
            if est["effect"] != "permit" or policies.policies[pid].obligation == kind
        )

    return asked(base) == asked(head)


def same_permits(base: PolicySet, head: PolicySet) -> bool:
    """The two sets' deciding permits are the same, text and product: wherever both allow, the
    same permits apply, so the action runs in the same product."""

    def permits(policies: PolicySet) -> list[str]:
        return sorted(
            json.dumps(
                [policies.policies[key].product, policies.policies[key].rules, est],
                sort_keys=True,
            )
            for key, est in policies.deciding.items()
            if est["effect"] == "permit"
        )

    return permits(base) == permits(head)


class Compiler:
    def __init__(
        self,
        world: RecordWorld,
        policy: str,
        bindings: dict[str, v.Value] | None = None,
        entities: dict[Any, v.Record] | None = None,
    ) -> None:
        """`bindings`, `entities`: variables and entities that stand otherwise than in the
        world's request (an obligation's question about the module as a whole)."""
        self.world = world
        self.policy_key = policy
        self.bindings = bindings or {}
        self.entities = entities or {}
        self.path: list[Any] = []  # what holds where the expression at hand is evaluated
        self.errors: list[Any] = []  # where evaluating the policy raises an error

    def error_where(self, guard: Any) -> None:
        """Cedar errors here (under the current path): the policy does not apply there."""
        self.errors.append(all_of(*self.path, guard))

    def under(self, condition: Any, node: dict[str, Any]) -> Any:
        """A boolean operand evaluated only where `condition` holds (short-circuiting)."""
        self.path.append(condition)
        try:
            return self._bool(node)
        finally:
            self.path.pop()

    def refuse(self, what: str) -> Unsupported:
        return Unsupported(f"policy `{self.policy_key}`: {what} is outside the symbolic encoding")

    def policy(self, est: dict[str, Any]) -> Any:
        scope = all_of(
            self.scope("principal", est["principal"]),
            self.scope("action", est["action"]),
            self.scope("resource", est["resource"]),
        )
        if z3.is_false(z3.simplify(scope)):
            return z3.BoolVal(False)  # never applies here: its conditions need not be read
        parts = [scope]
        self.path = [scope]
        for condition in est.get("conditions", []):
            body = self.boolean(self.expr(condition["body"]))
            held = body if condition["kind"] == "when" else z3.Not(body)
            parts.append(held)
            self.path.append(held)  # the next condition is read only where this one held
        self.path = []
        return all_of(*parts, z3.Not(any_of(self.errors or [z3.BoolVal(False)])))

    def scope(self, var: str, clause: dict[str, Any]) -> Any:
        op = clause["op"]
        here = self.var(var)
        if op == "All":
            return z3.BoolVal(True)
        if op == "==":
            return v.equal(here, self.entity(clause["entity"]))
        if op == "in" and "entity" in clause:
            return self.within(here, self.entity(clause["entity"]))
        if op == "in" and "entities" in clause:
            return any_of([self.within(here, self.entity(e)) for e in clause["entities"]])
        if op == "is" and "in" not in clause:
            return self.is_type(here, clause["entity_type"])
        raise self.refuse(f"the {var} scope `{op}`")

    def entity(self, ref: dict[str, Any]) -> v.Choice:
        inner = ref.get("__entity", ref)
        return v.Named({(inner["type"], inner["id"]): z3.BoolVal(True)})

    def boolean(self, value: v.Value) -> Any:
        if isinstance(value, v.Undefined):
            return z3.BoolVal(False)
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
            "Var": self.var,
            "Set": lambda items: self.set_of([self.expr(i) for i in items]),
            "Record": lambda fields: v.Record({k: self.expr(e) for k, e in fields.items()}),
            ".": lambda a: self.attribute(self.expr(a["left"]), a["attr"]),
            "has": lambda a: v.Bool(self.has(self.expr(a["left"]), a["attr"])),
            "==": lambda a: v.Bool(self._equal(a)),
            "!=": lambda a: v.Bool(z3.Not(self._equal(a))),
            "&&": self._and,
            "||": self._or,
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

    def _equal(self, arg: dict[str, Any]) -> Any:
        left, right = self.expr(arg["left"]), self.expr(arg["right"])
        try:
            return v.equal(left, right)
        except v.Incomparable as exc:
            raise self.refuse(str(exc)) from None

    def _and(self, arg: dict[str, Any]) -> v.Value:
        left = self._bool(arg["left"])
        return v.Bool(all_of(left, self.under(left, arg["right"])))

    def _or(self, arg: dict[str, Any]) -> v.Value:
        left = self._bool(arg["left"])
        return v.Bool(any_of(left, self.under(z3.Not(left), arg["right"])))

    def _set(self, node: dict[str, Any]) -> v.Set:
        value = self.expr(node)
        if isinstance(value, v.Undefined):
            return v.Set({})
        if not isinstance(value, v.Set):
            raise self.refuse(f"a set operation on a {type(value).__name__}")
        return value

    def _long(self, node: dict[str, Any]) -> Any:
        value = self.expr(node)
        if isinstance(value, v.Undefined):
            return z3.IntVal(0)
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
            all_of(
                [z3.Implies(f, a.members.get(k, z3.BoolVal(False))) for k, f in b.members.items()]
            )
        )

    def _if(self, arg: dict[str, Any]) -> v.Value:
        test = self._bool(arg["if"])
        then, other = self.under(test, arg["then"]), self.under(z3.Not(test), arg["else"])
        return v.Bool(z3.If(test, then, other))

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
            try:
                keys = v.key_of(item)
            except v.Incomparable as exc:
                raise self.refuse(str(exc)) from None
            for key, guard in keys.items():
                members.setdefault(key, []).append(guard)
        return v.Set({k: any_of(gs) for k, gs in members.items()})

    def attribute(self, of: v.Value, name: str) -> v.Value:
        """`of.name`; where `of` lacks it (an optional attribute absent, an entity type
        without it), Cedar errors, and the policy does not apply there."""
        if isinstance(of, v.Record):
            found: v.Value | None = of.attrs.get(name)
            if found is None:
                self.error_where(z3.BoolVal(True))
                return v.Undefined()
            if name in of.present:
                self.error_where(z3.Not(of.present[name]))
            return found
        if isinstance(of, v.Choice):
            self._readable(of)
            alternatives = []
            for key, guard in of.options.items():
                record = self._attributes(key)
                if name not in record.attrs:
                    self.error_where(guard)
                    continue
                if name in record.present:
                    self.error_where(all_of(guard, z3.Not(record.present[name])))
                alternatives.append((guard, record.attrs[name]))
            if not alternatives:
                return v.Undefined()
            try:
                return v.merge(alternatives)
            except v.Incomparable as exc:
                raise self.refuse(str(exc)) from None
        if isinstance(of, v.Undefined):
            return of
        raise self.refuse(f"an attribute of a {type(of).__name__}")

    def has(self, of: v.Value, name: str) -> Any:
        if isinstance(of, v.Record):
            return of.present.get(name, z3.BoolVal(name in of.attrs))
        if isinstance(of, v.Choice):
            self._readable(of)
            parts = []
            for key, guard in of.options.items():
                record = self._attributes(key)
                present = record.present.get(name, z3.BoolVal(name in record.attrs))
                parts.append(all_of(guard, present))
            return any_of(parts or [z3.BoolVal(False)])
        if isinstance(of, v.Undefined):
            return z3.BoolVal(False)
        raise self.refuse(f"`has` on a {type(of).__name__}")

    def _readable(self, of: v.Choice) -> None:
        """An entity named by a literal holds what the world holds only for the catalogue's
        own (a module, a product, an action): another (a user, a role, a record) may be one
        the world does not hold."""
        if isinstance(of, v.Named):
            for kind, eid in of.options:
                if kind not in FIXED_TYPES:
                    raise self.refuse(f"reading the named entity {kind}::{eid!r}")

    def var(self, name: str) -> v.Value:
        found = self.bindings.get(name)
        return found if found is not None else self.world.var(name)

    def _attributes(self, key: Any) -> v.Record:
        if key in self.entities:
            return self.entities[key]
        try:
            return self.world.attributes(key)
        except Unreadable as exc:
            raise self.refuse(str(exc)) from None

    def within(self, left: v.Value, right: v.Value) -> Any:
        """Cedar's `in`: the same entity, or one of its ancestors."""
        if isinstance(left, v.Undefined):
            return z3.BoolVal(False)
        if not isinstance(left, v.Choice):
            raise self.refuse(f"`in` on a {type(left).__name__}")
        self._readable(left)
        try:
            targets = right.members if isinstance(right, v.Set) else v.key_of(right)
        except v.Incomparable as exc:
            raise self.refuse(str(exc)) from None
        parts = []
        for key, guard in left.options.items():
            above = {key: z3.BoolVal(True), **self.world.ancestors(key)}
            for target, tguard in targets.items():
                if target in above:
                    parts.append(all_of(guard, tguard, above[target]))
        return any_of(parts)

    def is_type(self, of: v.Value, kind: str) -> Any:
        if isinstance(of, v.Undefined):
            return z3.BoolVal(False)
        if not isinstance(of, v.Choice):
            raise self.refuse(f"`is` on a {type(of).__name__}")
        return any_of([g for (t, _), g in of.options.items() if t == kind] or [z3.BoolVal(False)])
