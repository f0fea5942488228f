"""An org indexed once for the per-request path (OrgIndex), and the org as entity JSON.

The index is what every backend shares; the entity JSON (`org_entities`) is what Cedar is
given, parsed once per index by the Cedar backend (engine/core/backends/cedar_entities.py), so an
engine on Polar never builds it. Ids travel only inside structured entity JSON
(`{"type": ..., "id": ...}`), never in policy text, so an id such as `x" || true || "` is just
an id that matches nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from suite_authz.engine.core.catalogue import RECORD_ACTIONS, Catalogue
from suite_authz.engine.core.model import (
    Org,
    Record,
    User,
    default_status,
    expand,
    qualified_fields,
)

# The entity id a new record has inside the backends; org ids are never empty. (On the
# wire, AuthZEN asks with engine.request.NEW_RECORD_ID.)
NEW_RECORD_ENTITY_ID = ""
INTEGRATION_ROLE = "#integration:"  # + product; org ids never start with "#"


def uid(kind: str, eid: str) -> dict[str, dict[str, str]]:
    return {"__entity": {"type": kind, "id": eid}}


@dataclass(frozen=True, slots=True)
class Seat:
    product: str
    member: bool
    role: str  # the member's role id, or "" for an integration user


# eq=False: an index is one org read once; it is compared and hashed by identity, so a
# backend can keep what it derives from it (Cedar's parsed entities) keyed weakly by it.
@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class OrgIndex:
    """What a decision needs of the org, looked up by id on the per-request path."""

    org: Org
    catalogue: Catalogue  # the one the index was built with; its entities follow it
    users: dict[str, User]
    seats: dict[str, tuple[Seat, ...]]  # user id -> seats, in catalogue product order
    records: dict[str, dict[str, Record]]  # type -> id -> record
    # (role id or INTEGRATION_ROLE+product, module) -> hidden / read-only field names (D7)
    hidden: dict[tuple[str, str], tuple[str, ...]]
    readonly: dict[tuple[str, str], tuple[str, ...]]

    def seat_role(self, seat: Seat) -> str:
        return seat.role if seat.member else INTEGRATION_ROLE + seat.product

    def integration_products(self, user_id: str) -> tuple[str, ...]:
        return tuple(s.product for s in self.seats.get(user_id, ()) if not s.member)


# Small orgs are indexed again and again with the same content (a plan, its impact report and
# its apply each load the org afresh): keep the last few. An index is immutable, so sharing one
# is sound; big orgs are built rarely and hold much memory, so they are not kept.
# Keyed by the identity of the catalogue, which each entry holds on to, so that no other
# object can take its id while the entry is kept.
_KEPT: dict[tuple[int, str], tuple[Catalogue, OrgIndex]] = {}
KEEP_INDEXES = 8
KEEP_USERS_UP_TO = 200


def build_index(org: Org, catalogue: Catalogue) -> OrgIndex:
    if len(org.users) > KEEP_USERS_UP_TO:
        return _build_index(org, catalogue)
    key = (id(catalogue), org.model_dump_json())
    found = _KEPT.get(key)
    if found is not None:
        return found[1]
    index = _build_index(org, catalogue)
    if len(_KEPT) >= KEEP_INDEXES:
        _KEPT.pop(next(iter(_KEPT)))
    _KEPT[key] = (catalogue, index)
    return index


def _build_index(org: Org, catalogue: Catalogue) -> OrgIndex:
    order = list(catalogue.products)
    seats = {user.id: _seats(user, order) for user in org.users}
    records: dict[str, dict[str, Record]] = {m: {} for m in catalogue.modules}
    for rec in org.records:
        records[rec.type][rec.id] = rec
    hidden, readonly = _field_rules(org)
    return OrgIndex(
        org=org,
        catalogue=catalogue,
        users={u.id: u for u in org.users},
        seats=seats,
        records=records,
        hidden=hidden,
        readonly=readonly,
    )


def changed_index(
    index: OrgIndex,
    after: Org,
    users: Mapping[str, User | None],
    records: Mapping[tuple[str, str], Record | None],
) -> OrgIndex:
    """The index of `after`, an org that differs from `index`'s only in the `users` and
    `records` given (None: removed), and in profiles, roles or settings, which are read from
    `after` itself: the rest of the index is shared, not built again."""
    order = list(index.catalogue.products)
    all_users, seats = dict(index.users), dict(index.seats)
    for user_id, user in users.items():
        if user is None:
            all_users.pop(user_id, None)
            seats.pop(user_id, None)
        else:
            all_users[user_id], seats[user_id] = user, _seats(user, order)
    by_type = dict(index.records)
    for module in {m for m, _ in records}:
        by_type[module] = dict(by_type[module])
    for (module, rec_id), rec in records.items():
        if rec is None:
            by_type[module].pop(rec_id, None)
        else:
            by_type[module][rec_id] = rec
    hidden, readonly = _field_rules(after)
    return OrgIndex(after, index.catalogue, all_users, seats, by_type, hidden, readonly)


def _seats(user: User, order: list[str]) -> tuple[Seat, ...]:
    found = [Seat(m.product, True, m.role) for m in user.memberships]
    found += [Seat(e.product, False, "") for e in user.enrolments]
    return tuple(sorted(found, key=lambda s: order.index(s.product)))


def _field_rules(
    org: Org,
) -> tuple[dict[tuple[str, str], tuple[str, ...]], dict[tuple[str, str], tuple[str, ...]]]:
    hidden: dict[tuple[str, str], tuple[str, ...]] = {}
    readonly: dict[tuple[str, str], tuple[str, ...]] = {}
    field_sources = [(r.id, r.fields) for r in org.roles]
    field_sources += [(INTEGRATION_ROLE + p, f) for p, f in org.integration_user_fields.items()]
    for role_id, rules in field_sources:
        for module, fields in rules.items():
            hidden[(role_id, module)] = tuple(sorted(f for f, a in fields.items() if a == "hidden"))
            readonly[(role_id, module)] = tuple(
                sorted(f for f, a in fields.items() if a == "read_only")
            )
    return hidden, readonly


def org_entities(org: Org, catalogue: Catalogue) -> Iterable[dict[str, Any]]:
    yield from shared_entities(org, catalogue)
    for user in org.users:
        yield _user(org, user)
    for name, info in catalogue.modules.items():
        yield _new_record(name, info.entity, catalogue)
    for rec in org.records:
        yield _record(rec, catalogue)


def shared_entities(org: Org, catalogue: Catalogue) -> Iterable[dict[str, Any]]:
    """The few entities every request reaches: products, modules, the org, profiles, roles."""
    for product in catalogue.products:
        yield _entity("Product", product, {})
    approval_on = org.approval_modules
    for name, info in catalogue.modules.items():
        yield _entity(
            "Module",
            name,
            {
                "products": [uid("Product", p) for p in info.products],
                "approval": name in approval_on,
                "approval_by": [uid("Product", p) for p in org.approval_products(name)],
            },
        )
    yield _entity(
        "Org",
        org.id,
        {
            "data_centre": org.data_centre,
            "edition": org.edition,
            "new_org": org.new_org,
            "integration_user_limit": org.migration.limit,
            "integration_users": org.integration_users,
        },
    )
    for profile in org.profiles:
        yield _entity("Profile", profile.id, {"allows": _grants(profile.allows)})
    for role in org.roles:
        yield _role(role.id, role.product, _grants(role.grants), role.fields)
    for product in catalogue.products:
        # Integration users' grants are policy (D4, D10); their role carries field rules only.
        rules = org.integration_user_fields.get(product, {})  # type: ignore[call-overload]
        yield _role(INTEGRATION_ROLE + product, product, [], rules)


class EntityLookup:
    """One entity's JSON by (type, id), as `org_entities` gives it: the shared few built once,
    a user or a record built when asked for (a big org's 100,000 records are never all held
    twice)."""

    def __init__(self, index: OrgIndex) -> None:
        self._index = index
        self._shared = {
            (e["uid"]["type"], e["uid"]["id"]): e
            for e in shared_entities(index.org, index.catalogue)
        }
        self._modules: dict[str, list[str]] = {}
        for name, info in index.catalogue.modules.items():
            self._modules.setdefault(info.entity, []).append(name)

    @property
    def org_id(self) -> str:
        return self._index.org.id

    def shared(self) -> list[dict[str, Any]]:
        """The org's few shared entities (the org, products, modules, roles, profiles)."""
        return list(self._shared.values())

    def __call__(self, kind: str, eid: str) -> dict[str, Any] | None:
        found = self._shared.get((kind, eid))
        if found is not None:
            return found
        index = self._index
        if kind == "User":
            user = index.users.get(eid)
            return None if user is None else _user(index.org, user)
        for module in self._modules.get(kind, ()):
            if eid == NEW_RECORD_ENTITY_ID:
                return _new_record(module, kind, index.catalogue)
            rec = index.records[module].get(eid)
            if rec is not None:
                return _record(rec, index.catalogue)
        return None


def _new_record(module: str, kind: str, catalogue: Catalogue) -> dict[str, Any]:
    status = "draft" if catalogue.modules[module].transaction else "active"
    return _record_entity(kind, module, NEW_RECORD_ENTITY_ID, status, None, "", "")


def _record(rec: Record, catalogue: Catalogue) -> dict[str, Any]:
    return _record_entity(
        catalogue.modules[rec.type].entity,
        rec.type,
        rec.id,
        default_status(rec, catalogue),
        rec.submitted_by,
        rec.folder or "",
        rec.title or "",
    )


def _entity(
    kind: str, eid: str, attrs: dict[str, Any], parents: list[Any] | None = None
) -> dict[str, Any]:
    return {"uid": {"type": kind, "id": eid}, "attrs": attrs, "parents": parents or []}


def _grants(table: dict[Any, Any]) -> list[dict[str, Any]]:
    return [
        {"module": uid("Module", module), "action": uid("Action", action)}
        for module, actions in table.items()
        for action in expand(actions)
        if action in RECORD_ACTIONS
    ]


def _role(rid: str, product: str, grants: list[Any], fields: dict[Any, Any]) -> dict[str, Any]:
    return _entity(
        "Role",
        rid,
        {
            "product": uid("Product", product),
            "grants": grants,
            "hidden_fields": qualified_fields(fields, "hidden"),
            "readonly_fields": qualified_fields(fields, "read_only"),
        },
    )


def _user(org: Org, user: User) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "org": uid("Org", org.id),
        "email": user.email,
        "crm_admin": user.crm_admin,
        "profile": uid("Profile", user.profile),
    }
    products = []
    for m in user.memberships:
        attrs[m.product] = {"member": True, "role": uid("Role", m.role)}
        products.append(m.product)
    for e in user.enrolments:
        attrs[e.product] = {"member": False, "role": uid("Role", INTEGRATION_ROLE + e.product)}
        products.append(e.product)
    return _entity("User", user.id, attrs, [{"type": "Product", "id": p} for p in products])


def _record_entity(
    kind: str,
    module: str,
    rid: str,
    status: str,
    submitted_by: str | None,
    folder: str,
    title: str,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {"module": uid("Module", module), "status": status}
    if kind == "Report":
        attrs["folder"] = folder
        attrs["title"] = title
    elif kind == "Dashboard":
        attrs["title"] = title
    elif submitted_by is not None:
        attrs["submitted_by"] = uid("User", submitted_by)
    return _entity(kind, rid, attrs)
