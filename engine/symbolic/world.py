"""The symbolic world of a record action: one acting user, one record, one request, and every
org our model allows around them, as z3 variables and the constraints an org snapshot obeys.

A Cedar decision on a record action reads the principal (its seats, roles, profile, org), the
record (its module and that module's approval settings, status, submitter, folder, title) and
the context (channel, fields, acting_as, sender). Anything else in an org (other users' seats,
other records) cannot change it, so this world is every org that matters, up to renaming: a
satisfying assignment decodes (`decode`) into a small org snapshot and a request that the real
engines then answer.

A second user, `other`, exists to be named: as the record's submitter, in `acting_as`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import z3

from suite_authz.engine.catalogue import ACTIONS, RECORD_ACTIONS, Catalogue
from suite_authz.engine.model import (
    DataCentre,
    Edition,
    Org,
    Status,
    User,
    default_status,
    expand,
    qualified_fields,
)
from suite_authz.engine.request import Request
from suite_authz.engine.symbolic.values import Bool, Choice, Long, Record, Set, Value, literal

PRINCIPAL = "u"
OTHER = "v"
ORG = "proof"
RECORD = "r"
EMAILS = {PRINCIPAL: "u@proof.example", OTHER: "v@proof.example"}
OTHER_STRING = "#other"  # any string no policy names: they all decide alike
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]
DATA_CENTRES: tuple[str, ...] = DataCentre.__args__  # type: ignore[attr-defined]
EDITIONS: tuple[str, ...] = Edition.__args__  # type: ignore[attr-defined]
CHANNELS = ("crm", "direct")


def _one_of(name: str, options: tuple[Any, ...]) -> tuple[Any, dict[Any, Any]]:
    """An integer variable over `options`, and the formula for each option."""
    var = z3.Int(name)
    return var, {o: var == i for i, o in enumerate(options)}


@dataclass
class RecordWorld:
    """`strings`: every string literal the policies compare with, so that each can be the
    value of a folder, a title, a sender (plus OTHER_STRING, standing for all the others)."""

    catalogue: Catalogue
    strings: frozenset[str]

    def __post_init__(self) -> None:
        cat = self.catalogue
        self.products = tuple(cat.products)
        self.modules = tuple(cat.modules)
        self.record_actions = RECORD_ACTIONS
        self.actions = ACTIONS  # the record actions, then the admin actions of D12
        self.constraints: list[Any] = []
        add = self.constraints.append
        self.action_var, self.action = _one_of("action", self.actions)
        self.module_var, self.module = _one_of("module", self.modules)
        add(z3.And(self.action_var >= 0, self.action_var < len(self.actions)))
        add(z3.And(self.module_var >= 0, self.module_var < len(self.modules)))
        self.module_products = {m: tuple(cat.modules[m].products) for m in self.modules}
        self.fields = {m: tuple(f"{m}.{f}" for f in cat.modules[m].fields) for m in self.modules}
        self.on_record = z3.Or([self.action[a] for a in self.record_actions])
        # an admin action has no record: its module is fixed, so that it makes one group
        add(z3.Implies(z3.Not(self.on_record), self.module_var == 0))
        self._seats()
        self._org()
        self._record()
        self._context()
        self._admin()

    # -- the acting user ----------------------------------------------------------------
    def _seats(self) -> None:
        add = self.constraints.append
        self.seat = {p: z3.Bool(f"seat.{p}") for p in self.products}
        self.member = {p: z3.Bool(f"member.{p}") for p in self.products}
        self.grants: dict[str, dict[tuple[str, str], Any]] = {}
        self.hidden: dict[str, dict[str, Any]] = {}
        self.readonly: dict[str, dict[str, Any]] = {}
        for p in self.products:
            mine = [m for m in self.modules if p in self.module_products[m]]
            self.grants[p] = {
                (m, a): z3.Bool(f"grant.{p}.{m}.{a}") for m in mine for a in self.record_actions
            }
            fields = [f for m in mine for f in self.fields[m]]
            self.hidden[p] = {f: z3.Bool(f"hidden.{p}.{f}") for f in fields}
            self.readonly[p] = {f: z3.Bool(f"readonly.{p}.{f}") for f in fields}
            for f in fields:  # a field has one access or none
                add(z3.Not(z3.And(self.hidden[p][f], self.readonly[p][f])))
            # integration users' grants are policy (D4, D10): their role holds none
            add(z3.Implies(z3.Not(self.member[p]), z3.Not(z3.Or(list(self.grants[p].values())))))
            add(z3.Implies(z3.Not(self.seat[p]), z3.Not(self.member[p])))
        self.allows = {
            (m, a): z3.Bool(f"allows.{m}.{a}") for m in self.modules for a in self.record_actions
        }
        self.crm_admin = z3.Bool("crm_admin")

    def _org(self) -> None:
        self.data_centre_var, self.data_centre = _one_of("data_centre", DATA_CENTRES)
        self.edition_var, self.edition = _one_of("edition", EDITIONS)
        self.new_org = z3.Bool("new_org")
        add = self.constraints.append
        add(z3.And(self.data_centre_var >= 0, self.data_centre_var < len(DATA_CENTRES)))
        add(z3.And(self.edition_var >= 0, self.edition_var < len(EDITIONS)))
        self.approval_by = {
            m: {p: z3.Bool(f"approval.{p}.{m}") for p in self.module_products[m]}
            for m in self.modules
        }

    # -- the record -----------------------------------------------------------------------
    def _record(self) -> None:
        add = self.constraints.append
        cat = self.catalogue
        self.new = z3.Bool("record.new")
        self.status_var, self.status = _one_of("record.status", STATUSES)
        add(z3.And(self.status_var >= 0, self.status_var < len(STATUSES)))
        self.submitted = z3.Bool("record.submitted")
        self.submitted_by_self = z3.Bool("record.submitted_by_self")
        texts = tuple(sorted(self.strings | {OTHER_STRING, ""}))
        self.texts = texts
        self.folder_var, self.folder = _one_of("record.folder", texts)
        self.title_var, self.title = _one_of("record.title", texts)
        add(z3.And(self.folder_var >= 0, self.folder_var < len(texts)))
        add(z3.And(self.title_var >= 0, self.title_var < len(texts)))
        for m in self.modules:
            here = self.module[m]
            new_status = "draft" if cat.modules[m].transaction else "active"
            approval_on = z3.Or(list(self.approval_by[m].values()) or [z3.BoolVal(False)])
            # a new record (id "#new") is a draft, or active where there is no approval cycle
            add(z3.Implies(z3.And(here, self.new), self.status[new_status]))
            # a record pending approval needs approval on for its module (the model's check)
            add(z3.Implies(z3.And(here, self.status["pending_approval"]), approval_on))
            if cat.modules[m].entity in ("Report", "Dashboard"):  # no submitter attribute
                add(z3.Implies(here, z3.Not(self.submitted)))
        add(z3.Implies(self.new, z3.And(z3.Not(self.submitted), self.folder[""], self.title[""])))

    # -- the request's context ------------------------------------------------------------
    def _context(self) -> None:
        add = self.constraints.append
        self.channel_var, self.channel = _one_of("channel", CHANNELS)
        add(z3.And(self.channel_var >= 0, self.channel_var < len(CHANNELS)))
        every = {f: m for m in self.modules for f in self.fields[m]}
        self.touched = {f: z3.Bool(f"touched.{f}") for f in every}
        for f, m in every.items():  # R4: only the record's module's fields; only an edit
            add(z3.Implies(self.touched[f], z3.And(self.module[m], self.action["edit"])))
        self.acting = z3.Bool("context.has_acting_as")
        self.acting_self = z3.Bool("context.acting_as_self")
        self.sending = z3.Bool("context.has_sender")
        self.sender_var, self.sender = _one_of("context.sender", (*self.texts, *EMAILS.values()))
        add(z3.And(self.sender_var >= 0, self.sender_var < len(self.texts) + len(EMAILS)))

    def _admin(self) -> None:
        """D12's admin actions: the user enrolled (the acting one, or another with seats of
        their own), the product, the org's integration-user count and limit, a migration's
        enrolments."""
        add = self.constraints.append
        self.target_self = z3.Bool("target.self")
        self.other_seat = {p: z3.Bool(f"other.seat.{p}") for p in self.products}
        self.other_member = {p: z3.Bool(f"other.member.{p}") for p in self.products}
        for p in self.products:
            add(z3.Implies(z3.Not(self.other_seat[p]), z3.Not(self.other_member[p])))
        self.product_var, self.product = _one_of("context.product", self.products)
        add(z3.And(self.product_var >= 0, self.product_var < len(self.products)))
        self.enrolments = z3.Int("context.enrolments")
        self.limit = z3.Int("org.integration_user_limit")
        self.integration_users = z3.Int("org.integration_users")
        add(z3.And(self.enrolments >= 0, self.limit >= 0))
        # R1: the count holds every user enrolled anywhere: the acting user and the other one
        # among them when they are integration users (filler users make up the rest)
        enrolled = [z3.And(self.seat[p], z3.Not(self.member[p])) for p in self.products]
        other = [z3.And(self.other_seat[p], z3.Not(self.other_member[p])) for p in self.products]
        self.fillers = (
            self.integration_users - z3.If(z3.Or(enrolled), 1, 0) - z3.If(z3.Or(other), 1, 0)
        )
        add(self.fillers >= 0)
        # a mail's sender and an edit's fields belong to record actions
        add(z3.Implies(z3.Not(self.on_record), z3.Not(self.sending)))

    def group(self) -> list[Any]:
        """What tells one group of counterexamples from another: the action, the record type
        and the user's seats (none, member or integration user, in each product)."""
        seats = [x for p in self.products for x in (self.seat[p], self.member[p])]
        return [self.action_var, self.module_var, *seats]

    def minimal(self) -> list[Any]:
        """The choices a readable counterexample makes as few of as it can."""
        out = [self.crm_admin, self.new_org, self.acting, self.sending, self.submitted]
        out += [self.integration_users > 1, self.limit > 1, self.enrolments > 1]
        out += [*self.other_seat.values(), *self.other_member.values()]
        for p in self.products:
            out += [self.seat[p], self.member[p], *self.grants[p].values()]
            out += [*self.hidden[p].values(), *self.readonly[p].values()]
        out += list(self.allows.values())
        out += [f for by in self.approval_by.values() for f in by.values()]
        out += list(self.touched.values())
        return out

    # -- entities as the policies see them --------------------------------------------------
    def var(self, name: str) -> Value:
        if name == "principal":
            return literal(("User", PRINCIPAL))
        if name == "action":
            return Choice({("Action", a): f for a, f in self.action.items()})
        if name == "resource":
            enrol, migrate = self.action["enrol_integration_user"], self.action["run_migration"]
            options = {
                (self.catalogue.modules[m].entity, RECORD): z3.And(self.on_record, f)
                for m, f in self.module.items()
            }
            options[("User", PRINCIPAL)] = z3.And(enrol, self.target_self)
            options[("User", OTHER)] = z3.And(enrol, z3.Not(self.target_self))
            options[("Org", ORG)] = migrate
            return Choice(options)
        if name == "context":
            user = self._user_choice(self.acting_self)
            return Record(
                {
                    "channel": Choice(dict(self.channel)),
                    "fields": Set(dict(self.touched)),
                    "acting_as": user,
                    "sender": Choice(dict(self.sender)),
                    "product": Choice({("Product", p): f for p, f in self.product.items()}),
                    "enrolments": Long(self.enrolments),
                },
                {"acting_as": self.acting, "sender": self.sending},
            )
        raise KeyError(name)

    def _user_choice(self, is_self: Any) -> Choice:
        return Choice({("User", PRINCIPAL): is_self, ("User", OTHER): z3.Not(is_self)})

    def ancestors(self, entity: tuple[str, str]) -> dict[tuple[str, str], Any]:
        """The entities `entity` is `in` (itself excluded), each with its formula."""
        kind, eid = entity
        if kind == "User" and eid == PRINCIPAL:
            return {("Product", p): self.seat[p] for p in self.products}
        if kind == "User" and eid == OTHER:
            return {("Product", p): self.other_seat[p] for p in self.products}
        if kind == "Action":
            return {("Action", "record_action"): z3.BoolVal(eid in self.record_actions)}
        return {}

    def attributes(self, entity: tuple[str, str]) -> Record:
        kind, eid = entity
        if kind == "User" and eid == PRINCIPAL:
            return self._principal()
        if kind == "User" and eid == OTHER:
            return self._other()
        if kind == "Role" and eid.startswith("role."):
            return self._role(eid.removeprefix("role."))
        if kind == "Profile":
            return Record({"allows": Set({_grant(m, a): f for (m, a), f in self.allows.items()})})
        if kind == "Org":
            return Record(
                {
                    "data_centre": Choice(dict(self.data_centre)),
                    "edition": Choice(dict(self.edition)),
                    "new_org": Bool(self.new_org),
                    "integration_user_limit": Long(self.limit),
                    "integration_users": Long(self.integration_users),
                }
            )
        if kind == "Module":
            return self._module(eid)
        if eid == RECORD:
            return self._resource()
        raise Unreadable(f"the attributes of {kind}::{eid!r}")

    def _principal(self) -> Record:
        attrs: dict[str, Value] = {
            "org": literal(("Org", ORG)),
            "email": literal(EMAILS[PRINCIPAL]),
            "crm_admin": Bool(self.crm_admin),
            "profile": literal(("Profile", "profile")),
        }
        for p in self.products:
            attrs[p] = Record(
                {"member": Bool(self.member[p]), "role": literal(("Role", f"role.{p}"))}
            )
        return Record(attrs, {p: self.seat[p] for p in self.products})

    def _other(self) -> Record:
        """The other user, as far as a policy may read them: their seats (D12: enrolling them).
        Their role's grants and field rules are not modelled: reading them is refused."""
        attrs: dict[str, Value] = {
            p: Record(
                {"member": Bool(self.other_member[p]), "role": literal(("Role", f"other.{p}"))}
            )
            for p in self.products
        }
        return Record(attrs, dict(self.other_seat))

    def _role(self, product: str) -> Record:
        return Record(
            {
                "product": literal(("Product", product)),
                "grants": Set({_grant(m, a): f for (m, a), f in self.grants[product].items()}),
                "hidden_fields": Set(dict(self.hidden[product])),
                "readonly_fields": Set(dict(self.readonly[product])),
            }
        )

    def _module(self, module: str) -> Record:
        by = self.approval_by[module]
        return Record(
            {
                "products": Set(
                    {("Product", p): z3.BoolVal(True) for p in self.module_products[module]}
                ),
                "approval": Bool(z3.Or(list(by.values()) or [z3.BoolVal(False)])),
                "approval_by": Set({("Product", p): f for p, f in by.items()}),
            }
        )

    def _resource(self) -> Record:
        return Record(
            {
                "module": Choice({("Module", m): f for m, f in self.module.items()}),
                "status": Choice(dict(self.status)),
                "submitted_by": self._user_choice(self.submitted_by_self),
                "folder": Choice(dict(self.folder)),
                "title": Choice(dict(self.title)),
            },
            {"submitted_by": self.submitted},
        )

    # -- a concrete org and request, as values of the world (the encoding's own test) ---------
    def pin(self, org: Org, request: Request) -> list[Any]:
        """Constraints that fix the world to one request of one org, for comparing what the
        encoding decides with what Cedar decides (tests/property/test_symbolic.py)."""
        user = next(u for u in org.users if u.id == request.subject)
        acting = request.context.get("acting_as")
        out = [
            self.action[request.action],
            self.crm_admin == user.crm_admin,
            self.data_centre[org.data_centre],
            self.edition[org.edition],
            self.new_org == org.new_org,
            self.channel[request.channel],
            self.acting == (acting is not None),
            self.acting_self == (acting == user.id),
            *self._pin_seats(org, user),
        ]
        if request.action not in self.record_actions:
            return out + self._pin_admin(org, user, request)
        out.append(self.module[request.resource_type])
        profile = next(p for p in org.profiles if p.id == user.profile)
        allowed = {(m, a) for m, acts in profile.allows.items() for a in expand(acts)}
        out += [f == ((m, a) in allowed) for (m, a), f in self.allows.items()]
        out += [
            f == (p in org.approval_products(m))
            for m, by in self.approval_by.items()
            for p, f in by.items()
        ]
        out += self._pin_record(org, request)
        touched = {f"{request.resource_type}.{f}" for f in request.fields}
        out += [f == (name in touched) for name, f in self.touched.items()]
        sender = request.context.get("sender")
        out.append(self.sending == (sender is not None))
        if sender is not None:
            text = EMAILS[PRINCIPAL] if sender == user.email else sender
            out.append(self.sender[text if text in self.sender else OTHER_STRING])
        return out

    def _pin_admin(self, org: Org, user: User, request: Request) -> list[Any]:
        """What an admin action adds: the org's count and limit, the enrolment's target."""
        out = [self.limit == org.migration.limit, self.integration_users == org.integration_users]
        if request.action == "run_migration":
            count = request.context.get("enrolments", 0)
            assert isinstance(count, int)  # Engine.validate has checked the request
            return [*out, self.enrolments == count]
        target = next(u for u in org.users if u.id == request.resource_id)
        out += [self.product[str(request.context["product"])], self.target_self == (target is user)]
        if target is not user:
            for p in self.products:
                member = any(m.product == p for m in target.memberships)
                enrolled = any(e.product == p for e in target.enrolments)
                out += [self.other_seat[p] == (member or enrolled), self.other_member[p] == member]
        return out

    def _pin_seats(self, org: Org, user: User) -> list[Any]:
        out = []
        roles = {r.id: r for r in org.roles}
        for p in self.products:
            member = next((roles[m.role] for m in user.memberships if m.product == p), None)
            enrolled = any(e.product == p for e in user.enrolments)
            out += [
                self.seat[p] == (member is not None or enrolled),
                self.member[p] == (member is not None),
            ]
            grants = (
                set()
                if member is None
                else {(m, a) for m, acts in member.grants.items() for a in expand(acts)}
            )
            out += [f == (key in grants) for key, f in self.grants[p].items()]
            if member is not None:
                rules = member.fields
            else:
                rules = org.integration_user_fields.get(p, {}) if enrolled else {}  # type: ignore[call-overload]
            hidden = set(qualified_fields(rules, "hidden"))
            readonly = set(qualified_fields(rules, "read_only"))
            out += [f == (name in hidden) for name, f in self.hidden[p].items()]
            out += [f == (name in readonly) for name, f in self.readonly[p].items()]
        return out

    def _pin_record(self, org: Org, request: Request) -> list[Any]:
        if request.resource_id is None:
            return [self.new]
        record = next(
            r
            for r in org.records
            if r.type == request.resource_type and r.id == request.resource_id
        )
        kind = self.catalogue.modules[record.type].entity
        submitted = record.submitted_by is not None and kind not in ("Report", "Dashboard")
        return [
            z3.Not(self.new),
            self.status[default_status(record, self.catalogue)],
            self.submitted == submitted,
            self.submitted_by_self == (record.submitted_by == request.subject),
            self.folder[self._text(record.folder or "")],
            self.title[self._text(record.title or "")],
        ]

    def _text(self, value: str) -> str:
        return value if value in self.folder else OTHER_STRING

    # -- a model back into an org snapshot and a request -------------------------------------
    def decode(self, model: Any) -> tuple[dict[str, Any], Request]:
        def true(f: Any) -> bool:
            return bool(z3.is_true(model.eval(f, model_completion=True)))

        def pick(table: dict[Any, Any]) -> Any:
            return next(k for k, f in table.items() if true(f))

        module, action = pick(self.module), pick(self.action)
        roles, memberships, enrolments, integration_fields = self._decoded_seats(true)
        allows: dict[str, list[str]] = {}
        for (m, a), f in self.allows.items():
            if true(f):
                allows.setdefault(m, []).append(a)
        approval: dict[str, list[str]] = {}
        for m, by in self.approval_by.items():
            for p, f in by.items():
                if true(f):
                    approval.setdefault(p, []).append(m)
        admin = action not in self.record_actions
        new = true(self.new)
        records = [] if new or admin else [self._decoded_record(module, model)]
        others = self._decoded_others(model, roles)
        org = {
            "id": ORG,
            "data_centre": pick(self.data_centre),
            "edition": pick(self.edition),
            "new_org": true(self.new_org),
            "migration": {"limit": model.eval(self.limit, model_completion=True).as_long()},
            "approval": approval,
            "integration_user_fields": integration_fields,
            "profiles": [{"id": "profile", "allows": allows}],
            "roles": roles,
            "users": [
                {
                    "id": PRINCIPAL,
                    "email": EMAILS[PRINCIPAL],
                    "crm_admin": true(self.crm_admin),
                    "profile": "profile",
                    "memberships": memberships,
                    "enrolments": enrolments,
                },
                *others,
            ],
            "records": records,
        }
        context: dict[str, Any] = {}
        if true(self.acting):
            context["acting_as"] = PRINCIPAL if true(self.acting_self) else OTHER
        if true(self.sending):
            sender = pick(self.sender)
            context["sender"] = "someone@elsewhere.example" if sender == OTHER_STRING else sender
        touched = tuple(f.split(".", 1)[1] for f, v in self.touched.items() if true(v))
        if admin:
            return org, self._admin_request(model, action, context)
        request = Request(
            PRINCIPAL,
            action,
            module,
            None if new else RECORD,
            pick(self.channel),
            touched,
            context,
        )
        return org, request

    def _decoded_seats(
        self, true: Any
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]], list[dict[str, str]], dict[str, Any]]:
        """The acting user's roles, memberships, enrolments and integration field rules."""
        roles: list[dict[str, Any]] = []
        memberships: list[dict[str, str]] = []
        enrolments: list[dict[str, str]] = []
        integration_fields: dict[str, Any] = {}
        for p in self.products:
            if not true(self.seat[p]):
                continue
            fields = _field_rules(
                {f for f, v in self.hidden[p].items() if true(v)},
                {f for f, v in self.readonly[p].items() if true(v)},
            )
            if true(self.member[p]):
                grants: dict[str, list[str]] = {}
                for (m, a), f in self.grants[p].items():
                    if true(f):
                        grants.setdefault(m, []).append(a)
                roles.append({"id": f"role.{p}", "product": p, "grants": grants, "fields": fields})
                memberships.append({"product": p, "role": f"role.{p}"})
            else:
                enrolments.append({"product": p})
                if fields:
                    integration_fields[p] = fields
        return roles, memberships, enrolments, integration_fields

    def _decoded_others(self, model: Any, roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The other user with their seats, and as many enrolled filler users as the org's
        integration-user count needs beside the two (R1)."""
        memberships, enrolments = [], []
        for p in self.products:
            if z3.is_true(model.eval(self.other_member[p], model_completion=True)):
                roles.append({"id": f"other.{p}", "product": p})
                memberships.append({"product": p, "role": f"other.{p}"})
            elif z3.is_true(model.eval(self.other_seat[p], model_completion=True)):
                enrolments.append({"product": p})
        other = {
            "id": OTHER,
            "email": EMAILS[OTHER],
            "profile": "profile",
            "memberships": memberships,
            "enrolments": enrolments,
        }
        fillers = model.eval(self.fillers, model_completion=True).as_long()
        return [other] + [
            {
                "id": f"filler-{n}",
                "email": f"filler-{n}@proof.example",
                "profile": "profile",
                "enrolments": [{"product": self.products[0]}],
            }
            for n in range(fillers)
        ]

    def _admin_request(self, model: Any, action: str, context: dict[str, Any]) -> Request:
        channel = next(c for c, f in self.channel.items() if z3.is_true(model.eval(f, True)))
        if action == "run_migration":
            enrolments = model.eval(self.enrolments, model_completion=True).as_long()
            return Request(
                PRINCIPAL, action, "org", ORG, channel, (), {**context, "enrolments": enrolments}
            )
        product = next(p for p, f in self.product.items() if z3.is_true(model.eval(f, True)))
        target = PRINCIPAL if z3.is_true(model.eval(self.target_self, True)) else OTHER
        return Request(
            PRINCIPAL, action, "user", target, channel, (), {**context, "product": product}
        )

    def _decoded_record(self, module: str, model: Any) -> dict[str, Any]:
        def true(f: Any) -> bool:
            return bool(z3.is_true(model.eval(f, model_completion=True)))

        def pick(table: dict[Any, Any]) -> Any:
            return next(k for k, f in table.items() if true(f))

        record: dict[str, Any] = {"id": RECORD, "type": module, "status": pick(self.status)}
        kind = self.catalogue.modules[module].entity
        if kind == "Report":
            record["folder"] = _text(pick(self.folder))
            record["title"] = _text(pick(self.title))
        elif kind == "Dashboard":
            record["title"] = _text(pick(self.title))
        elif true(self.submitted):
            record["submitted_by"] = PRINCIPAL if true(self.submitted_by_self) else OTHER
        return record


class Unreadable(Exception):
    """A policy reads something this world does not model: the question is refused."""


def _grant(module: str, action: str) -> tuple[tuple[str, Any], ...]:
    return (("action", ("Action", action)), ("module", ("Module", module)))


def _field_rules(hidden: set[str], readonly: set[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for access, names in (("hidden", hidden), ("read_only", readonly)):
        for qualified in sorted(names):
            module, name = qualified.split(".", 1)
            out.setdefault(module, {})[name] = access
    return out


def _text(value: str) -> str:
    return "Other" if value == OTHER_STRING else value
