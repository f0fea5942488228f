"""The Polar backend: the rules written a second time (policies/polar/), run by oso.

Org data reaches Polar as plain Python objects built once per org; the rules, not these
objects, hold the logic. The answer names the rules of every grant and restriction
that applied, the product each grant runs under, and an allow's obligations
(polar_obligations.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oso import Oso
from polar import Variable
from polar.ffi import PolarSource as Source

from suite_authz.engine.core.backends import GrantRef, RawAnswer
from suite_authz.engine.core.backends.polar_obligations import polar_obligations
from suite_authz.engine.core.entities import NEW_RECORD_ENTITY_ID, OrgIndex
from suite_authz.engine.core.errors import PolicyError
from suite_authz.engine.core.model import default_status, expand, qualified_fields
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.core.request import Request


@dataclass(frozen=True, slots=True)
class Org:
    id: str
    data_centre: str
    edition: str
    new_org: bool
    integration_user_limit: int
    integration_users: int  # R1: every integration user of the org, each once


# Pairs are looked up in Python sets: iterating a list from Polar crosses the FFI per element.
@dataclass(frozen=True, slots=True)
class Seat:
    product: str
    member: bool
    grants: frozenset[tuple[str, str]]  # (module, action) pairs of a member's role
    hidden_fields: list[str]  # "module.field"
    readonly_fields: list[str]

    def grants_action(self, module: str, action: str) -> bool:
        return (module, action) in self.grants

    def hidden_of(self, module: str) -> list[str]:
        """The fields of `module` this seat's role hides, by their own names."""
        prefix = module + "."
        return [f.removeprefix(prefix) for f in self.hidden_fields if f.startswith(prefix)]


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    crm_admin: bool
    profile_allows: frozenset[tuple[str, str]]  # (module, action) pairs of the CRM profile
    seats: list[Seat]
    org: Org

    def profile_allows_action(self, module: str, action: str) -> bool:
        return (module, action) in self.profile_allows

    def seat_in(self, product: str) -> Seat | None:
        """The user's seat in `product`, if any (one per product): a lookup, so that a rule
        need not walk every seat across the FFI."""
        return next((s for s in self.seats if s.product == product), None)


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    module: str
    products: list[str]
    status: str
    submitted_by: str | None
    folder: str | None
    title: str | None
    approval: bool
    approval_by: list[str]  # R2: the products that switched approval on for the module


@dataclass(frozen=True, slots=True)
class Context:
    channel: str
    fields: list[str]
    acting_as: str | None
    sender: str | None
    product: str | None
    enrolments: int
    # The user `acting_as` names, for rules that read that user's seats (the old model in
    # policies/legacy/polar, where every request ran with the integration owner's).
    acting_as_user: User | None = None


def polar_dir(policies: PolicySet) -> Path:
    return policies.directory / "polar"


def polar_texts(policies: PolicySet) -> dict[str, str]:
    """The set's Polar files as read with it (a published set has no directory to read)."""
    if policies.source is not None and policies.source.polar:
        return policies.source.polar
    directory = polar_dir(policies)
    return {f.name: f.read_text(encoding="utf-8") for f in sorted(directory.glob("*.polar"))}


class PolarBackend:
    name = "polar"

    def __init__(self, policies: PolicySet, index: OrgIndex) -> None:
        self._oso: Any = _load(polar_dir(policies), polar_texts(policies))  # no type hints
        catalogue = policies.catalogue
        self._products = tuple(catalogue.products)
        raw = index.org
        approval_on = raw.approval_modules
        org = Org(
            raw.id,
            raw.data_centre,
            raw.edition,
            raw.new_org,
            raw.migration.limit,
            raw.integration_users,
        )
        self._org = org
        roles = {r.id: r for r in raw.roles}
        profiles = {p.id: p for p in raw.profiles}

        self._users: dict[str, User] = {}
        for u in raw.users:
            seats = []
            for m in u.memberships:
                role = roles[m.role]
                seats.append(
                    Seat(
                        m.product,
                        True,
                        frozenset(
                            (mod, a) for mod, acts in role.grants.items() for a in expand(acts)
                        ),
                        qualified_fields(role.fields, "hidden"),
                        qualified_fields(role.fields, "read_only"),
                    )
                )
            for e in u.enrolments:
                rules = raw.integration_user_fields.get(e.product, {})
                seats.append(
                    Seat(
                        e.product,
                        False,
                        frozenset(),
                        qualified_fields(rules, "hidden"),
                        qualified_fields(rules, "read_only"),
                    )
                )
            allows = frozenset(
                (mod, a) for mod, acts in profiles[u.profile].allows.items() for a in expand(acts)
            )
            self._users[u.id] = User(u.id, u.email, u.crm_admin, allows, seats, org)
        self._records: dict[tuple[str, str], Record] = {}
        for name, info in catalogue.modules.items():
            status = "draft" if info.transaction else "active"
            self._records[(name, NEW_RECORD_ENTITY_ID)] = Record(
                NEW_RECORD_ENTITY_ID,
                name,
                list(info.products),
                status,
                None,
                None,
                None,
                name in approval_on,
                list(raw.approval_products(name)),
            )
        for rec in raw.records:
            info = catalogue.modules[rec.type]
            self._records[(rec.type, rec.id)] = Record(
                rec.id,
                rec.type,
                list(info.products),
                default_status(rec, catalogue),
                rec.submitted_by,
                rec.folder,
                rec.title,
                rec.type in approval_on,
                list(raw.approval_products(rec.type)),
            )

    def _args(self, request: Request) -> tuple[User, Any, Context]:
        user = self._users[request.subject]
        kind, rid = request.resource_type, request.resource_id
        resource: Any
        if kind == "user":
            resource = self._users[rid or ""]
        elif kind == "org":
            resource = self._org
        else:
            resource = self._records[(kind, rid or NEW_RECORD_ENTITY_ID)]
        ctx = request.context
        context = Context(
            channel=request.channel,
            fields=[f"{kind}.{f}" for f in request.fields],
            acting_as=_str(ctx.get("acting_as")),
            sender=_str(ctx.get("sender")),
            product=_str(ctx.get("product")),
            enrolments=int(ctx.get("enrolments", 0)),  # type: ignore[call-overload]
            acting_as_user=self._users.get(str(ctx.get("acting_as"))),
        )
        return user, resource, context

    def _grants(self, user: User, action: str, resource: Any, ctx: Context) -> list[GrantRef]:
        found = self._oso.query_rule(
            "grant", user, action, resource, ctx, Variable("rule"), Variable("product")
        )
        return sorted(
            {GrantRef(str(r["bindings"]["rule"]), str(r["bindings"]["product"])) for r in found}
        )

    def answer(self, request: Request) -> RawAnswer:
        user, resource, ctx = self._args(request)
        grants = self._grants(user, request.action, resource, ctx)
        found = self._oso.query_rule(
            "restrict", user, request.action, resource, ctx, Variable("rule")
        )
        restrictions = tuple(sorted({str(r["bindings"]["rule"]) for r in found}))
        if not grants or restrictions:
            return RawAnswer(allowed=False, restrictions=restrictions)
        obligations = polar_obligations(
            self._oso,
            (user, request.action, resource, ctx),
            grants,
            self._products,
        )
        if isinstance(obligations, str):  # fail closed, as the Cedar side does
            return RawAnswer(allowed=False, errors=(obligations,))
        return RawAnswer(allowed=True, grants=tuple(grants), obligations=obligations)

    def answer_many(self, requests: Sequence[Request]) -> list[RawAnswer]:
        return [self.answer(r) for r in requests]

    def record_classes(self, template: Request) -> Callable[[str], Hashable] | None:
        return None  # oso exposes no form of the rules to read a class key from

    def seat_rules(self) -> dict[tuple[str, str], tuple[str, ...]]:
        out: dict[tuple[str, str], tuple[str, ...]] = {}
        for product in self._products:
            for seat in ("member", "integration"):
                found = self._oso.query_rule("seat_rule", product, seat, Variable("rule"))
                out[(product, seat)] = tuple(sorted({str(r["bindings"]["rule"]) for r in found}))
        return out

    def grants_many(self, requests: Sequence[Request]) -> list[RawAnswer]:
        out = []
        for request in requests:
            user, resource, ctx = self._args(request)
            grants = self._grants(user, request.action, resource, ctx)
            out.append(RawAnswer(allowed=bool(grants), determining=(), grants=tuple(grants)))
        return out


_LOADED: dict[tuple[Path, str], Any] = {}


def _load(directory: Path, files: dict[str, str]) -> Any:
    """One Oso per set of rule files (by content): the rules are static, org data is not."""
    if not files:
        raise PolicyError(f"{directory}: no .polar files")
    texts = "\0".join(f"{name}\0{text}" for name, text in sorted(files.items()))
    key = (directory, texts)
    if key not in _LOADED:
        # Our decision rule is `allowed/4` (it needs the context); oso's warning that there is
        # no `allow/3` does not apply.
        os.environ.setdefault("POLAR_IGNORE_NO_ALLOW_WARNING", "1")
        oso: Any = Oso()
        for cls in (Org, Seat, User, Record, Context):
            oso.register_class(cls)
        try:
            # oso reads files by name; the texts are already read (and may come from the store)
            oso._load_sources([Source(text, str(directory / name)) for name, text in files.items()])
        except Exception as exc:  # oso raises its own family; name the files
            raise PolicyError(f"{directory}: {exc}") from None
        _LOADED[key] = oso
    return _LOADED[key]


def _str(value: object) -> str | None:
    return None if value is None else str(value)
