"""Symbolic values: what a Cedar expression stands for over every request of a world at once.

Every domain our schema uses is finite once the catalogue is read (products, modules, actions,
fields, statuses) or can be made so without losing an answer (a string the policies never name
behaves like any other such string), so a value is a finite table of z3 formulas:

- `Bool`: one formula;
- `Choice`: one of finitely many concrete values (a string, or an entity as (type, id)), each
  with the formula under which it is the one (exactly one holds where the value exists);
- `Set`: for each element a set may hold, the formula under which it does;
- `Record`: attribute name -> value, with the formula under which an optional one is present;
- `Long`: a z3 integer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import z3

Key = Any  # a string, an entity (type, id), or a record's key: tuple of (attr, key) pairs


@dataclass(frozen=True)
class Bool:
    formula: Any


@dataclass(frozen=True)
class Choice:
    options: dict[Key, Any]


@dataclass(frozen=True)
class Named(Choice):
    """An entity a policy names by a literal (`User::"asha"`): it may be compared and be the
    target of `in`, but what it holds is only known for the entities the catalogue fixes."""


@dataclass(frozen=True)
class Set:
    members: dict[Key, Any]


@dataclass(frozen=True)
class Long:
    term: Any


@dataclass(frozen=True)
class Record:
    attrs: dict[str, Any]
    present: dict[str, Any] = field(default_factory=dict)  # optional attribute -> formula


@dataclass(frozen=True)
class Undefined:
    """What an expression stands for where evaluating it is a Cedar error (an attribute the
    entity does not have): never looked at, since the policy does not apply there; every
    operation on it yields another value nobody looks at."""


def all_of(*args: Any) -> Any:
    """z3.And, made straight from the formulas: z3's Python And checks and coerces each
    argument, which was two thirds of compiling a policy set (docs/benchmarks.md). Takes
    formulas or one list of them, like z3.And; anything not a formula goes to z3.And."""
    return _junction(args, z3.Z3_mk_and, z3.And, True)


def any_of(*args: Any) -> Any:
    """z3.Or, as `all_of` is z3.And."""
    return _junction(args, z3.Z3_mk_or, z3.Or, False)


def _junction(args: tuple[Any, ...], make: Any, slow: Any, unit: bool) -> Any:
    items = list(args[0]) if len(args) == 1 and not isinstance(args[0], z3.ExprRef) else args
    if not items:
        return z3.BoolVal(unit)
    if not all(isinstance(a, z3.BoolRef) for a in items):
        return slow(*items)
    if len(items) == 1:
        return items[0]
    ctx = items[0].ctx
    if any(a.ctx is not ctx for a in items):
        return slow(*items)
    array = (z3.Ast * len(items))(*(a.as_ast() for a in items))
    return z3.BoolRef(make(ctx.ref(), len(items), array), ctx)


Value = Bool | Choice | Set | Long | Record | Undefined


def literal(key: Key) -> Choice:
    return Choice({key: z3.BoolVal(True)})


def literal_set(*keys: Key) -> Set:
    return Set({k: z3.BoolVal(True) for k in keys})


def equal(a: Value, b: Value) -> Any:
    if isinstance(a, Undefined) or isinstance(b, Undefined):
        return z3.BoolVal(False)
    if isinstance(a, Choice) and isinstance(b, Choice):
        common = a.options.keys() & b.options.keys()
        return z3.Or([z3.And(a.options[k], b.options[k]) for k in common])
    if isinstance(a, Long) and isinstance(b, Long):
        return a.term == b.term
    if isinstance(a, Bool) and isinstance(b, Bool):
        return a.formula == b.formula
    if isinstance(a, Set) and isinstance(b, Set):
        keys = a.members.keys() | b.members.keys()
        no = z3.BoolVal(False)
        return z3.And([a.members.get(k, no) == b.members.get(k, no) for k in keys])
    raise Incomparable(f"`==` between a {type(a).__name__} and a {type(b).__name__}")


class Incomparable(Exception):
    """A value the encoding does not read (a record compared, a number in a set, mixed
    kinds): the policy reading it is refused by name, never a crash."""


def key_of(value: Value) -> dict[Key, Any]:
    """The value as guarded concrete keys, so that it can be looked up in a set."""
    if isinstance(value, Undefined):
        return {}
    if isinstance(value, Choice):
        return value.options
    if isinstance(value, Record):
        # a record literal of choices, as in `{module: resource.module, action: action}`
        names = sorted(value.attrs)
        out: dict[Key, Any] = {(): z3.BoolVal(True)}
        for name in names:
            part = key_of(value.attrs[name])
            out = {
                (*k, (name, pk)): z3.And(g, pg) for k, g in out.items() for pk, pg in part.items()
            }
        return out
    raise Incomparable(f"a {type(value).__name__} as a set element")


def contains(s: Set, element: Value) -> Any:
    keys = key_of(element)
    return z3.Or([z3.And(g, s.members[k]) for k, g in keys.items() if k in s.members])


def contains_any(a: Set, b: Set) -> Any:
    common = a.members.keys() & b.members.keys()
    return z3.Or([z3.And(a.members[k], b.members[k]) for k in common])


def merge(alternatives: list[tuple[Any, Value]]) -> Value:
    """One value from several, each under its guard (the guards exclusive): the attribute of an
    entity that is one of several."""
    first = alternatives[0][1]
    if len(alternatives) == 1:
        return first
    if isinstance(first, Bool):
        return Bool(z3.Or([z3.And(g, v.formula) for g, v in alternatives if isinstance(v, Bool)]))
    if isinstance(first, Choice | Set):
        keys = {k for _, v in alternatives for k in _table(v)}
        table = {
            k: z3.Or([z3.And(g, _table(v).get(k, z3.BoolVal(False))) for g, v in alternatives])
            for k in keys
        }
        return Choice(table) if isinstance(first, Choice) else Set(table)
    if isinstance(first, Long):
        longs = [(g, v.term) for g, v in alternatives if isinstance(v, Long)]
        term = longs[-1][1]
        for g, t in reversed(longs[:-1]):
            term = z3.If(g, t, term)
        return Long(term)
    if isinstance(first, Record):
        records = [(g, r) for g, r in alternatives if isinstance(r, Record)]
        names = {n for _, r in records for n in r.attrs}
        attrs = {n: merge([(g, r.attrs[n]) for g, r in records if n in r.attrs]) for n in names}
        present = {
            n: z3.Or([z3.And(g, r.present.get(n, z3.BoolVal(n in r.attrs))) for g, r in records])
            for n in names
        }
        return Record(attrs, present)
    raise Incomparable(f"one of several {type(first).__name__} values")


def _table(value: Value) -> dict[Key, Any]:
    if isinstance(value, Choice):
        return value.options
    if isinstance(value, Set):
        return value.members
    raise Incomparable(f"a {type(value).__name__} as a set")
