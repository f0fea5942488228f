"""A user of the symbolic world, as far as any policy can read one: id, email, CRM admin flag,
profile (its id and what it allows), and per product a seat (member or integration user), its
role (its id, grants and field rules). The acting user and the other user (a submitter, the
user enrolled, the one named in `acting_as`) are both a `Person`, modelled alike, so that a
policy reading an attribute through either reads a variable, never a constant.

Ids are choices: a fresh id no policy names, or any id of that type a policy names, so that
`principal == User::"asha"` or `principal.books.role == Role::"books-clerk"` can be true.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import z3

from suite_authz.engine.review.symbolic.values import all_of, any_of

INTEGRATION_ROLE = "#integration:"  # engine/core/entities.py: the role an integration user holds


class Options(dict[Any, Any]):
    """Option -> the formula under which it is the one: `var == n` for the n-th of `order`, so
    that a model's choice is read with one evaluation (world.decode), not one per option."""

    def __init__(self, var: Any, order: tuple[Any, ...]) -> None:
        super().__init__((o, var == i) for i, o in enumerate(order))
        self.var, self.order = var, order


def one_of(name: str, options: tuple[Any, ...], add: Any) -> tuple[Any, Options]:
    """An integer variable over `options` (kept in range), and the formula for each option."""
    var = z3.Int(name)
    add(all_of(var >= 0, var < len(options)))
    return var, Options(var, options)


@dataclass
class Person:
    """One user: `tag` names their variables (`u`, `v`) and their fresh ids."""

    tag: str
    fresh_id: str
    fresh_email: str
    products: tuple[str, ...]
    modules_of: dict[str, list[str]]  # product -> its modules
    fields_of: dict[str, list[str]]  # product -> its modules' qualified fields
    record_actions: tuple[str, ...]
    modules: tuple[str, ...]
    named: dict[str, tuple[str, ...]]  # entity type -> ids the policies name
    emails: tuple[str, ...]  # string literals that can be an email
    add: Any
    seat: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        t, add = self.tag, self.add
        self.id_var, self.id = one_of(f"{t}.id", (self.fresh_id, *self.named["User"]), add)
        self.email_var, self.email = one_of(f"{t}.email", (self.fresh_email, *self.emails), add)
        self.crm_admin = z3.Bool(f"{t}.crm_admin")
        profiles = (f"profile.{t}", *self.named["Profile"])
        self.profile_var, self.profile = one_of(f"{t}.profile", profiles, add)
        self.allows = {
            (m, a): z3.Bool(f"{t}.allows.{m}.{a}")
            for m in self.modules
            for a in self.record_actions
        }
        self.seat = {p: z3.Bool(f"{t}.seat.{p}") for p in self.products}
        self.member = {p: z3.Bool(f"{t}.member.{p}") for p in self.products}
        self.role: dict[str, dict[str, Any]] = {}
        self.grants: dict[str, dict[tuple[str, str], Any]] = {}
        self.hidden: dict[str, dict[str, Any]] = {}
        self.readonly: dict[str, dict[str, Any]] = {}
        for p in self.products:
            fresh = f"role.{t}.{p}"
            options = (fresh, INTEGRATION_ROLE + p, *self.named["Role"])
            _, self.role[p] = one_of(f"{t}.role.{p}", options, add)
            integration = all_of(self.seat[p], z3.Not(self.member[p]))
            add(self.role[p][INTEGRATION_ROLE + p] == integration)
            add(z3.Implies(z3.Not(self.seat[p]), self.role[p][fresh]))  # no seat: no role
            self.grants[p] = {
                (m, a): z3.Bool(f"{t}.grant.{p}.{m}.{a}")
                for m in self.modules_of[p]
                for a in self.record_actions
            }
            self.hidden[p] = {f: z3.Bool(f"{t}.hidden.{p}.{f}") for f in self.fields_of[p]}
            self.readonly[p] = {f: z3.Bool(f"{t}.readonly.{p}.{f}") for f in self.fields_of[p]}
            for f in self.fields_of[p]:  # a field has one access or none
                add(z3.Not(all_of(self.hidden[p][f], self.readonly[p][f])))
            # integration users' grants are policy (D4, D10): their role holds none
            add(z3.Implies(z3.Not(self.member[p]), z3.Not(any_of(list(self.grants[p].values())))))
            add(z3.Implies(z3.Not(self.seat[p]), z3.Not(self.member[p])))
            # a seat's fields only where there is a seat, so two people compare fairly
            add(
                z3.Implies(
                    z3.Not(self.seat[p]),
                    z3.Not(any_of([*self.hidden[p].values(), *self.readonly[p].values()])),
                )
            )

    def seat_values(self, p: str) -> dict[str, Any]:
        """What a role of product `p` holds for this person, variable by variable."""
        return {
            **{f"grant.{m}.{a}": g for (m, a), g in self.grants[p].items()},
            **{f"hidden.{f}": h for f, h in self.hidden[p].items()},
            **{f"readonly.{f}": r for f, r in self.readonly[p].items()},
        }


def same_entities(a: Person, b: Person, add: Any) -> None:
    """Two people who name one entity (a profile, a role, the integration role of a product)
    see one entity: its attributes are the same for both. Also: two people are two users."""
    for uid in a.id.keys() & b.id.keys():
        add(z3.Not(all_of(a.id[uid], b.id[uid])))
    for pid in a.profile.keys() & b.profile.keys():
        both = all_of(a.profile[pid], b.profile[pid])
        add(z3.Implies(both, all_of([a.allows[k] == b.allows[k] for k in a.allows])))
    people = (a, b)
    for x in people:
        for y in people:
            for p in x.products:
                for q in y.products:
                    if (x is y and p >= q) or (x is not y and x.tag > y.tag):
                        continue
                    shared = x.role[p].keys() & y.role[q].keys()
                    for rid in shared:  # named roles, and a product's integration role
                        both = all_of(x.role[p][rid], y.role[q][rid])
                        if p != q:  # a role belongs to one product
                            add(z3.Not(both))
                            continue
                        xs, ys = x.seat_values(p), y.seat_values(q)
                        add(z3.Implies(both, all_of([xs[k] == ys[k] for k in xs])))
