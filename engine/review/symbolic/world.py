"""The symbolic world of a request: one acting user, one record (or the user enrolled, or the
org migrated), one request, and every org our model allows around them, as z3 variables and
the constraints an org snapshot obeys.

A Cedar decision reads the principal (id, email, admin flag, profile, seats and their roles,
org), the resource (a record: its module and that module's approval settings, status,
submitter, folder, title, each where its type has it; a user; the org) and the context
(channel, fields, acting_as, sender, product, enrolments, each present only where the engine
sets it). Anything else in an org cannot change it, so this world is every org that matters,
up to renaming: a satisfying assignment decodes (`decode`) into a small org snapshot and a
request that the real engines then answer.

The world is total over what a policy can ask, or it refuses: every attribute of every entity
the schema declares is a variable (people.py models the acting user and the other one, who is
a submitter, the user enrolled, the one named in `acting_as`); presence (`has`) is a variable
where the engine may leave an attribute out; every id a policy names is a possible value of
the ids it can be compared with; and reading an entity the world does not hold (a record named
by a literal, another user than these two) is refused by name (`Unreadable`), never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import z3

from suite_authz.engine.core.catalogue import ACTIONS, RECORD_ACTIONS, Catalogue
from suite_authz.engine.core.model import (
    DataCentre,
    Edition,
    Org,
    Status,
    User,
    default_status,
    expand,
    qualified_fields,
)
from suite_authz.engine.core.request import Request
from suite_authz.engine.review.symbolic import values as v
from suite_authz.engine.review.symbolic.people import Options, Person, one_of, same_entities
from suite_authz.engine.review.symbolic.values import (
    Bool,
    Choice,
    Long,
    Record,
    Set,
    Value,
    all_of,
    any_of,
    literal,
)

PRINCIPAL = "u"
OTHER = "v"  # the record's submitter, the user enrolled
THIRD = "w"  # the user `acting_as` names, when neither of the two
OWNER = "x"  # the integration owner, when none of the three
OWNER_EMAIL = "x@proof.example"
ORG = "proof"
RECORD = "r"
NEW_ID = ""  # engine/core/entities.py NEW_RECORD_ENTITY_ID: the id of "a new record of this type"
EMAILS = {t: f"{t}@proof.example" for t in (PRINCIPAL, OTHER, THIRD)}
OTHER_STRING = "#other"  # any string no policy names: they all decide alike
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]
DATA_CENTRES: tuple[str, ...] = DataCentre.__args__  # type: ignore[attr-defined]
EDITIONS: tuple[str, ...] = Edition.__args__  # type: ignore[attr-defined]
CHANNELS = ("crm", "direct")
_ID = re.compile(r"^[^#\x00-\x1f][^\x00-\x1f]*$")  # engine/core/model.py Id
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")  # engine/core/model.py Email
# the entity types whose ids a policy may name and the world offers as values
NAMED_TYPES = ("User", "Profile", "Role", "Org")
# entity types the catalogue fixes: a named one is what it is in every org
FIXED_TYPES = ("Product", "Module", "Action")


def valid_id(value: str) -> bool:
    return 0 < len(value) <= 256 and bool(_ID.match(value))


@dataclass
class RecordWorld:
    """`strings`: every string literal the policies compare with, so that each can be the
    value of a folder, a title, an email, a sender (plus OTHER_STRING, standing for all the
    others). `named`: entity type -> the ids the policies name."""

    catalogue: Catalogue
    strings: frozenset[str]
    named: dict[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cat = self.catalogue
        self.products = tuple(cat.products)
        self.modules = tuple(cat.modules)
        self.record_actions = RECORD_ACTIONS
        self.actions = ACTIONS  # the record actions, then the admin actions of D12
        self.constraints: list[Any] = []
        self.redacted: dict[str, Any] = {}  # field -> hidden on a view (compile.redactions)
        # what is worked out once per world: an entity's attributes, and each policy's formula
        # by its text (the two sets of a diff share most of their policies)
        self._attributes: dict[tuple[str, str], Record] = {}
        self.compiled: dict[tuple[str, str, str], Any] = {}
        # the formulas decode reads, packed into one bit-vector (_reader), and those not yet
        self._packed: tuple[Any, tuple[Any, ...]] = (None, ())
        self._unpacked: dict[int, Any] = {}
        add = self.constraints.append
        self.entity_of = {m: cat.modules[m].entity for m in self.modules}
        self.record_types = tuple(dict.fromkeys(self.entity_of.values()))
        self.ids = {
            t: tuple(sorted(i for i in self.named.get(t, ()) if valid_id(i)))
            for t in (*NAMED_TYPES, *self.record_types)
        }
        self.action_var, self.action = one_of("action", self.actions, add)
        self.module_var, self.module = one_of("module", self.modules, add)
        self.module_products = {m: tuple(cat.modules[m].products) for m in self.modules}
        self.fields = {m: tuple(f"{m}.{f}" for f in cat.modules[m].fields) for m in self.modules}
        self.on_record = any_of([self.action[a] for a in self.record_actions])
        # an admin action has no record: its module is fixed, so that it makes one group
        add(z3.Implies(z3.Not(self.on_record), self.module_var == 0))
        texts = tuple(sorted(self.strings | {OTHER_STRING, ""}))
        self.texts = texts
        emails = tuple(s for s in texts if _EMAIL.match(s) and s not in EMAILS.values())
        self._people(emails)
        self._org()
        self._record()
        self._context()
        self._admin()

    # -- the two users ----------------------------------------------------------------------
    def _people(self, emails: tuple[str, ...]) -> None:
        add = self.constraints.append
        modules_of = {
            p: [m for m in self.modules if p in self.module_products[m]] for p in self.products
        }
        fields_of = {p: [f for m in modules_of[p] for f in self.fields[m]] for p in self.products}
        named = {t: self.ids[t] for t in NAMED_TYPES}
        self.u, self.v, self.w = (
            Person(
                tag,
                tag,
                EMAILS[tag],
                self.products,
                modules_of,
                fields_of,
                self.record_actions,
                self.modules,
                named,
                emails,
                add,
            )
            for tag in (PRINCIPAL, OTHER, THIRD)
        )
        self.people = (self.u, self.v, self.w)
        for n, a in enumerate(self.people):
            for b in self.people[n + 1 :]:
                same_entities(a, b, add)
        # the acting user's variables by the names the theorems read
        u = self.u
        self.seat, self.member, self.grants = u.seat, u.member, u.grants
        self.hidden, self.readonly, self.allows = u.hidden, u.readonly, u.allows
        self.crm_admin = u.crm_admin
        self.other_seat, self.other_member = self.v.seat, self.v.member

    def _org(self) -> None:
        add = self.constraints.append
        self.data_centre_var, self.data_centre = one_of("data_centre", DATA_CENTRES, add)
        self.edition_var, self.edition = one_of("edition", EDITIONS, add)
        self.org_var, self.org_id = one_of("org.id", (ORG, *self.ids["Org"]), add)
        self.new_org = z3.Bool("new_org")
        # a field rule of a role no one of the request holds (it makes the field a candidate
        # for redaction: engine/core/backends/cedar_obligations.py _restricted_fields)
        self.rule_elsewhere = {
            f: z3.Bool(f"org.rule_elsewhere.{f}") for m in self.modules for f in self.fields[m]
        }
        self.approval_by = {
            m: {p: z3.Bool(f"approval.{p}.{m}") for p in self.module_products[m]}
            for m in self.modules
        }

    # -- the record -----------------------------------------------------------------------
    def _record(self) -> None:
        add = self.constraints.append
        cat = self.catalogue
        self.new = z3.Bool("record.new")
        self.status_var, self.status = one_of("record.status", STATUSES, add)
        named = tuple(sorted({i for t in self.record_types for i in self.ids[t]}))
        self.record_id_var, self.record_id = one_of("record.id", (RECORD, *named), add)
        self.submitted = z3.Bool("record.submitted")
        self.submitted_by_self = z3.Bool("record.submitted_by_self")
        self.folder_var, self.folder = one_of("record.folder", self.texts, add)
        self.title_var, self.title = one_of("record.title", self.texts, add)
        for m in self.modules:
            here = self.module[m]
            new_status = "draft" if cat.modules[m].transaction else "active"
            approval_on = any_of(list(self.approval_by[m].values()) or [z3.BoolVal(False)])
            # a new record (id "#new") is a draft, or active where there is no approval cycle
            add(z3.Implies(all_of(here, self.new), self.status[new_status]))
            # a record pending approval needs approval on for its module (the model's check)
            add(z3.Implies(all_of(here, self.status["pending_approval"]), approval_on))
            if self.entity_of[m] in ("Report", "Dashboard"):  # no submitter attribute
                add(z3.Implies(here, z3.Not(self.submitted)))
        add(
            z3.Implies(
                self.new,
                all_of(
                    z3.Not(self.submitted), self.folder[""], self.title[""], self.record_id[RECORD]
                ),
            )
        )

    # -- the request's context ------------------------------------------------------------
    def _context(self) -> None:
        add = self.constraints.append
        self.channel_var, self.channel = one_of("channel", CHANNELS, add)
        every = {f: m for m in self.modules for f in self.fields[m]}
        self.touched = {f: z3.Bool(f"touched.{f}") for f in every}
        for f, m in every.items():  # R4: only the record's module's fields; only an edit
            add(z3.Implies(self.touched[f], all_of(self.module[m], self.action["edit"])))
        self.acting = z3.Bool("context.has_acting_as")
        self.acting_self = z3.Bool("context.acting_as_self")
        self.acting_other = z3.Bool("context.acting_as_other")  # else the third user
        self.sending = z3.Bool("context.has_sender")
        senders = (*self.texts, *EMAILS.values(), OWNER_EMAIL)
        self.sender_var, self.sender = one_of("context.sender", senders, add)
        # the org's integration owner, whose address is a candidate sender of every mail
        # (engine/core/backends/cedar_obligations.py _senders): none, one of the three, or another
        # user, known by nothing but their address
        _, self.owner = one_of("org.owner", ("none", PRINCIPAL, OTHER, THIRD, OWNER), add)
        emails = (
            OWNER_EMAIL,
            *(s for s in self.texts if _EMAIL.match(s) and s not in EMAILS.values()),
        )
        _, self.owner_email_of_own = one_of("org.owner.email", emails, add)
        # D11's question: is the sender the acting user's own address
        self.sender_is_own = v.equal(Choice(dict(self.sender)), self._email(self.u))

    def _admin(self) -> None:
        """D12's admin actions: the user enrolled (the acting one, or another with seats of
        their own), the product, the org's integration-user count and limit, a migration's
        enrolments."""
        add = self.constraints.append
        self.target_self = z3.Bool("target.self")
        self.product_var, self.product = one_of("context.product", self.products, add)
        self.enrolments = z3.Int("context.enrolments")
        self.limit = z3.Int("org.integration_user_limit")
        self.integration_users = z3.Int("org.integration_users")
        add(all_of(self.enrolments >= 0, self.limit >= 0))
        # R1: the count holds every user enrolled anywhere: the acting user and the other one
        # among them when they are integration users (filler users make up the rest)
        enrolled = [all_of(self.seat[p], z3.Not(self.member[p])) for p in self.products]
        self.fillers = self.integration_users - z3.If(any_of(enrolled), 1, 0)
        for x in (self.v, self.w):
            theirs = [all_of(x.seat[p], z3.Not(x.member[p])) for p in self.products]
            self.fillers = self.fillers - z3.If(any_of(theirs), 1, 0)
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
        # fresh ids and addresses unless a named one is what the question needs
        out += [z3.Not(self.org_id[ORG]), z3.Not(self.record_id[RECORD])]
        for person in self.people:
            out += [z3.Not(person.id[person.fresh_id]), z3.Not(person.email[person.fresh_email])]
            out += [z3.Not(person.profile[f"profile.{person.tag}"]), person.crm_admin]
        out += [*self.other_seat.values(), *self.other_member.values()]
        out += [*self.w.seat.values(), *self.w.member.values()]
        for p in self.products:
            out += [self.seat[p], self.member[p], *self.grants[p].values()]
            out += [*self.hidden[p].values(), *self.readonly[p].values()]
        out += list(self.allows.values())
        out += [f for by in self.approval_by.values() for f in by.values()]
        out += list(self.touched.values())
        out += list(self.rule_elsewhere.values())
        out += [z3.Not(self.owner["none"])]
        return out

    # -- entities as the policies see them --------------------------------------------------
    def person_ref(self, is_u: Any) -> Choice:
        """A user that is the acting one where `is_u` holds, else the other: by their ids."""
        return self.people_ref([(self.u, is_u), (self.v, z3.Not(is_u))])

    def _acting_as(self) -> list[tuple[Person, Any]]:
        not_self = z3.Not(self.acting_self)
        return [
            (self.u, self.acting_self),
            (self.v, all_of(not_self, self.acting_other)),
            (self.w, all_of(not_self, z3.Not(self.acting_other))),
        ]

    def people_ref(self, who: list[tuple[Person, Any]]) -> Choice:
        """A user who is each person where their guard holds: by their ids."""
        options: dict[Any, Any] = {}
        for person, guard in who:
            for uid, f in person.id.items():
                key = ("User", uid)
                options[key] = any_of(options.get(key, z3.BoolVal(False)), all_of(guard, f))
        return Choice(options)

    def var(self, name: str) -> Value:
        if name == "principal":
            return Choice({("User", uid): f for uid, f in self.u.id.items()})
        if name == "action":
            return Choice({("Action", a): f for a, f in self.action.items()})
        if name == "resource":
            return self._resource_ref()
        if name == "principal_email":  # not Cedar's: the acting user's address, for D11
            return self._email(self.u)
        if name == "context":
            return Record(
                {
                    "channel": Choice(dict(self.channel)),
                    "fields": Set(dict(self.touched)),
                    "acting_as": self.people_ref(self._acting_as()),
                    "sender": Choice(dict(self.sender)),
                    "product": Choice({("Product", p): f for p, f in self.product.items()}),
                    "enrolments": Long(self.enrolments),
                },
                # present only where the engine sets it (backends/cedar.py cedar_request)
                {
                    "fields": self.on_record,
                    "acting_as": self.acting,
                    "sender": self.sending,
                    "product": self.action["enrol_integration_user"],
                    "enrolments": self.action["run_migration"],
                },
            )
        raise KeyError(name)

    def _resource_ref(self) -> Choice:
        enrol, migrate = self.action["enrol_integration_user"], self.action["run_migration"]
        options: dict[Any, Any] = {}

        def put(key: Any, guard: Any) -> None:
            options[key] = any_of(options.get(key, z3.BoolVal(False)), guard)

        for m, here in self.module.items():
            kind = self.entity_of[m]
            on = all_of(self.on_record, here)
            put((kind, NEW_ID), all_of(on, self.new))
            for rid, f in self.record_id.items():
                put((kind, rid), all_of(on, z3.Not(self.new), f))
        for key, guard in self.person_ref(self.target_self).options.items():
            put(key, all_of(enrol, guard))
        for oid, f in self.org_id.items():
            put(("Org", oid), all_of(migrate, f))
        return Choice(options)

    def ancestors(self, entity: tuple[str, str]) -> dict[tuple[str, str], Any]:
        """The entities `entity` is `in` (itself excluded), each with its formula."""
        kind, eid = entity
        if kind == "User":
            return {
                ("Product", p): any_of(
                    [all_of(x.id[eid], x.seat[p]) for x in self.people if eid in x.id]
                    or [z3.BoolVal(False)]
                )
                for p in self.products
            }
        if kind == "Action":
            return {("Action", "record_action"): z3.BoolVal(eid in self.record_actions)}
        return {}

    def attributes(self, entity: tuple[str, str]) -> Record:
        found = self._attributes.get(entity)
        if found is None:
            found = self._attributes[entity] = self._attributes_of(entity)
        return found

    def _attributes_of(self, entity: tuple[str, str]) -> Record:
        kind, eid = entity
        if kind == "User":
            found = [(x.id[eid], self._person(x)) for x in self.people if eid in x.id]
            return self._merged(found, entity)
        if kind == "Role":
            found = [
                (x.role[p][eid], self._role(x, p))
                for x in self.people
                for p in self.products
                if eid in x.role[p]
            ]
            return self._merged(found, entity)
        if kind == "Profile":
            found = [(x.profile[eid], self._profile(x)) for x in self.people if eid in x.profile]
            return self._merged(found, entity)
        if kind == "Org" and eid in self.org_id:
            return Record(
                {
                    "data_centre": Choice(dict(self.data_centre)),
                    "edition": Choice(dict(self.edition)),
                    "new_org": Bool(self.new_org),
                    "integration_user_limit": Long(self.limit),
                    "integration_users": Long(self.integration_users),
                }
            )
        if kind == "Module" and eid in self.module:
            return self._module(eid)
        if kind in ("Product", "Action"):
            return Record({})  # the schema gives them no attributes
        if kind in self.record_types and (eid == NEW_ID or eid in self.record_id):
            return self._resource(kind)
        raise Unreadable(f"the attributes of {kind}::{eid!r}")

    def _merged(self, found: list[tuple[Any, Record]], entity: tuple[str, str]) -> Record:
        if not found:
            raise Unreadable(f"the attributes of {entity[0]}::{entity[1]!r}")
        merged = v.merge(list[tuple[Any, Value]](found))
        assert isinstance(merged, Record)
        return merged

    def _email(self, person: Person) -> Choice:
        return Choice(dict(person.email))

    def owner_email(self) -> tuple[Any, Choice]:
        """Whether the org has an integration owner, and their address."""
        found: list[tuple[Any, Value]] = [(self.owner[x.tag], self._email(x)) for x in self.people]
        found.append((self.owner[OWNER], Choice(dict(self.owner_email_of_own))))
        merged = v.merge(found)
        assert isinstance(merged, Choice)
        return z3.Not(self.owner["none"]), merged

    def _person(self, x: Person) -> Record:
        attrs: dict[str, Value] = {
            "org": Choice({("Org", oid): f for oid, f in self.org_id.items()}),
            "email": self._email(x),
            "crm_admin": Bool(x.crm_admin),
            "profile": Choice({("Profile", pid): f for pid, f in x.profile.items()}),
        }
        for p in self.products:
            attrs[p] = Record(
                {
                    "member": Bool(x.member[p]),
                    "role": Choice({("Role", rid): f for rid, f in x.role[p].items()}),
                }
            )
        return Record(attrs, {p: x.seat[p] for p in self.products})

    def _profile(self, x: Person) -> Record:
        return Record({"allows": Set({_grant(m, a): f for (m, a), f in x.allows.items()})})

    def _role(self, x: Person, product: str) -> Record:
        return Record(
            {
                "product": literal(("Product", product)),
                "grants": Set({_grant(m, a): f for (m, a), f in x.grants[product].items()}),
                "hidden_fields": Set(dict(x.hidden[product])),
                "readonly_fields": Set(dict(x.readonly[product])),
            }
        )

    def asked_about(self, module: str) -> tuple[tuple[str, str], Record]:
        """The new record of `module`, as an obligation's question asks about the module as a
        whole: its key and its attributes (engine/core/entities.py _new_record)."""
        kind = self.entity_of[module]
        status = "draft" if self.catalogue.modules[module].transaction else "active"
        attrs: dict[str, Value] = {"module": literal(("Module", module)), "status": literal(status)}
        if kind == "Report":
            attrs["folder"] = literal("")
        if kind in ("Report", "Dashboard"):
            attrs["title"] = literal("")
        return (kind, NEW_ID), Record(attrs)

    def rule_names(self, qualified: str) -> Any:
        """Some field rule of the org names this field (hidden or read-only): a role of one
        of the people, the integration rules of a product, or a role nobody here holds."""
        named = [self.rule_elsewhere[qualified]]
        for x in self.people:
            for p in self.products:
                if qualified in x.hidden[p]:
                    named += [x.hidden[p][qualified], x.readonly[p][qualified]]
        return any_of(named)

    def _module(self, module: str) -> Record:
        by = self.approval_by[module]
        return Record(
            {
                "products": Set(
                    {("Product", p): z3.BoolVal(True) for p in self.module_products[module]}
                ),
                "approval": Bool(any_of(list(by.values()) or [z3.BoolVal(False)])),
                "approval_by": Set({("Product", p): f for p, f in by.items()}),
            }
        )

    def _resource(self, kind: str) -> Record:
        """A record of entity type `kind`, with the attributes the engine gives that type
        (engine/core/entities.py _record_entity)."""
        attrs: dict[str, Value] = {
            "module": Choice(
                {("Module", m): f for m, f in self.module.items() if self.entity_of[m] == kind}
            ),
            "status": Choice(dict(self.status)),
        }
        present: dict[str, Any] = {}
        if kind == "Report":
            attrs["folder"] = Choice(dict(self.folder))
            attrs["title"] = Choice(dict(self.title))
        elif kind == "Dashboard":
            attrs["title"] = Choice(dict(self.title))
        else:
            attrs["submitted_by"] = self.person_ref(self.submitted_by_self)
            present["submitted_by"] = self.submitted
        return Record(attrs, present)

    # -- a concrete org and request, as values of the world (the encoding's own test) ---------
    def pin(self, org: Org, request: Request) -> list[Any]:
        """Constraints that fix the world to one request of one org, for comparing what the
        encoding decides with what Cedar decides (tests/property/test_symbolic.py). The acting
        user is `u`; the other user, where the request names one, is `v`."""
        users = {x.id: x for x in org.users}
        user = users[request.subject]
        acting = request.context.get("acting_as")
        out = [
            self.action[request.action],
            self.data_centre[org.data_centre],
            self.edition[org.edition],
            self.new_org == org.new_org,
            self._pick(self.org_id, org.id, ORG),
            self.channel[request.channel],
            self.acting == (acting is not None),
            self.acting_self == (acting == user.id),
            *self._pin_person(self.u, org, user),
        ]
        out += self._pin_owner(org, user, request)
        other = None  # v: the submitter, or the user enrolled
        if request.action not in self.record_actions:
            out += self._pin_admin(org, user, request)
            if request.action == "enrol_integration_user" and request.resource_id != user.id:
                other = users[str(request.resource_id)]
            return out + self._pin_acting(org, user, other, acting)
        out.append(self.module[request.resource_type])
        out += [
            f == (p in org.approval_products(m))
            for m, by in self.approval_by.items()
            for p, f in by.items()
        ]
        record_pins, submitter = self._pin_record(org, request)
        out += record_pins
        if submitter is not None and submitter is not user:
            other = submitter
            out += self._pin_person(self.v, org, other)
        out += self._pin_acting(org, user, other, acting)
        touched = {f"{request.resource_type}.{f}" for f in request.fields}
        out += [f == (name in touched) for name, f in self.touched.items()]
        sender = request.context.get("sender")
        out.append(self.sending == (sender is not None))
        if sender is not None:
            if sender == user.email and sender not in self.sender:  # a fresh address
                out.append(self.sender[self.u.fresh_email])
            else:
                out.append(self._pick(self.sender, str(sender), OTHER_STRING))
        return out

    def _pin_owner(self, org: Org, user: User, request: Request) -> list[Any]:
        """The owner as u, or as the fourth address (a v or w the request names is pinned
        elsewhere; an owner who is them is taken as another user with their address)."""
        if org.integration_owner is None:
            return [self.owner["none"]]
        if org.integration_owner == user.id:
            return [self.owner[PRINCIPAL]]
        owner = next(x for x in org.users if x.id == org.integration_owner)
        return [self.owner[OWNER], self._pick(self.owner_email_of_own, owner.email, OWNER_EMAIL)]

    def _pin_acting(self, org: Org, user: User, other: User | None, acting: Any) -> list[Any]:
        """`acting_as`: the acting user, the other one (v), or a third (w)."""
        if acting is None or acting == user.id:
            return []
        named = next(x for x in org.users if x.id == acting)
        if other is not None and named is other:
            return [self.acting_other]
        return [z3.Not(self.acting_other), *self._pin_person(self.w, org, named)]

    def _pick(self, table: dict[Any, Any], value: Any, fresh: Any) -> Any:
        return table[value] if value in table else table[fresh]

    def _pin_person(self, person: Person, org: Org, user: User) -> list[Any]:
        out = [
            self._pick(person.id, user.id, person.fresh_id),
            self._pick(person.email, user.email, person.fresh_email),
            person.crm_admin == user.crm_admin,
            self._pick(person.profile, user.profile, f"profile.{person.tag}"),
        ]
        profile = next(p for p in org.profiles if p.id == user.profile)
        allowed = {(m, a) for m, acts in profile.allows.items() for a in expand(acts)}
        out += [f == ((m, a) in allowed) for (m, a), f in person.allows.items()]
        roles = {r.id: r for r in org.roles}
        for p in self.products:
            member = next((m for m in user.memberships if m.product == p), None)
            enrolled = any(e.product == p for e in user.enrolments)
            role = roles[member.role] if member is not None else None
            out += [
                person.seat[p] == (member is not None or enrolled),
                person.member[p] == (member is not None),
            ]
            if member is not None:
                out.append(self._pick(person.role[p], member.role, f"role.{person.tag}.{p}"))
            grants = (
                set()
                if role is None
                else {(m, a) for m, acts in role.grants.items() for a in expand(acts)}
            )
            out += [f == (key in grants) for key, f in person.grants[p].items()]
            if role is not None:
                rules = role.fields
            else:
                rules = org.integration_user_fields.get(p, {}) if enrolled else {}  # type: ignore[call-overload]
            hidden = set(qualified_fields(rules, "hidden"))
            readonly = set(qualified_fields(rules, "read_only"))
            out += [f == (name in hidden) for name, f in person.hidden[p].items()]
            out += [f == (name in readonly) for name, f in person.readonly[p].items()]
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
            out += self._pin_person(self.v, org, target)
        return out

    def _pin_record(self, org: Org, request: Request) -> tuple[list[Any], User | None]:
        if request.resource_id is None:
            return [self.new], None
        record = next(
            r
            for r in org.records
            if r.type == request.resource_type and r.id == request.resource_id
        )
        kind = self.entity_of[record.type]
        submitted = record.submitted_by is not None and kind not in ("Report", "Dashboard")
        submitter = next((x for x in org.users if x.id == record.submitted_by), None)
        return [
            z3.Not(self.new),
            self._pick(self.record_id, record.id, RECORD),
            self.status[default_status(record, self.catalogue)],
            self.submitted == submitted,
            self.submitted_by_self == (record.submitted_by == request.subject),
            self._text(self.folder, record.folder or ""),
            self._text(self.title, record.title or ""),
        ], submitter if submitted else None

    def _text(self, table: dict[str, Any], value: str) -> Any:
        return table[value] if value in table else table[OTHER_STRING]

    # -- a model back into an org snapshot and a request -------------------------------------
    def _reader(self, model: Any) -> Callable[[Any], bool]:
        """`true(formula)` in `model`. A counterexample reads ~700 formulas, mostly the same
        ones for every model of a world: those packed (`_pack`) are evaluated in one call, as
        one bit-vector, instead of one z3 call each (7 s of a proof with 342 groups)."""
        packed, order = self._packed
        known: dict[int, bool] = {}
        if packed is not None:
            bits = model.eval(packed, model_completion=True).as_long()
            top = len(order) - 1
            known = {id(f): bool(bits >> (top - n) & 1) for n, f in enumerate(order)}

        def true(f: Any) -> bool:
            found = known.get(id(f))
            if found is None:
                found = known[id(f)] = bool(z3.is_true(model.eval(f, model_completion=True)))
                self._unpacked[id(f)] = f  # kept alive, so that its id names it alone
            return found

        return true

    def _pack(self) -> None:
        """Pack the formulas read one by one once they are a quarter of those packed: a few
        packings per world, not one per model."""
        order = self._packed[1]
        if len(self._unpacked) * 4 > len(order) and len(order) + len(self._unpacked) > 1:
            order = (*order, *self._unpacked.values())
            one, zero = z3.BitVecVal(1, 1), z3.BitVecVal(0, 1)
            self._packed = (z3.Concat([z3.If(f, one, zero) for f in order]), order)
            self._unpacked = {}

    def decode(self, model: Any) -> tuple[dict[str, Any], Request]:
        try:
            return self._decode(model, self._reader(model))
        finally:
            self._pack()

    def _decode(self, model: Any, true: Callable[[Any], bool]) -> tuple[dict[str, Any], Request]:

        def pick(table: dict[Any, Any]) -> Any:
            if isinstance(table, Options):
                return table.order[model.eval(table.var, model_completion=True).as_long()]
            return next(k for k, f in table.items() if true(f))

        module, action = pick(self.module), pick(self.action)
        approval: dict[str, list[str]] = {}
        for m, by in self.approval_by.items():
            for p, f in by.items():
                if true(f):
                    approval.setdefault(p, []).append(m)
        admin = action not in self.record_actions
        new = true(self.new)
        ids = {x.tag: pick(x.id) for x in self.people}
        roles: dict[str, dict[str, Any]] = {}
        profiles: dict[str, dict[str, Any]] = {}
        integration_fields: dict[str, Any] = {}
        users = [
            self._decoded_person(x, ids[x.tag], true, pick, roles, profiles, integration_fields)
            for x in self.people
        ]
        records = [] if new or admin else [self._decoded_record(module, ids, true, pick)]
        owner = pick(self.owner)
        if owner == OWNER:
            name = next(
                n for n in (OWNER, *(f"owner-{k}" for k in range(9))) if n not in ids.values()
            )
            ids[OWNER] = name
            users.append(
                {"id": name, "email": pick(self.owner_email_of_own), "profile": users[0]["profile"]}
            )
        org = {
            "id": pick(self.org_id),
            "data_centre": pick(self.data_centre),
            "edition": pick(self.edition),
            "new_org": true(self.new_org),
            "migration": {"limit": model.eval(self.limit, model_completion=True).as_long()},
            "integration_owner": None if owner == "none" else ids[owner],
            "approval": approval,
            "integration_user_fields": integration_fields,
            "profiles": list(profiles.values()),
            "roles": [*roles.values(), *self._unheld_roles(true)],
            "users": [*users, *self._fillers(model, set(ids.values()), str(users[0]["profile"]))],
            "records": records,
        }
        context: dict[str, Any] = {}
        if true(self.acting):
            context["acting_as"] = next(ids[x.tag] for x, g in self._acting_as() if true(g))
        if true(self.sending):
            sender = pick(self.sender)
            context["sender"] = "someone@elsewhere.example" if sender == OTHER_STRING else sender
        touched = tuple(f.split(".", 1)[1] for f, val in self.touched.items() if true(val))
        channel = pick(self.channel)
        subject = ids[PRINCIPAL]
        if action == "run_migration":
            enrolments = model.eval(self.enrolments, model_completion=True).as_long()
            return org, Request(
                subject,
                action,
                "org",
                org["id"],
                channel,
                (),
                {**context, "enrolments": enrolments},
            )
        if action == "enrol_integration_user":
            target = ids[PRINCIPAL] if true(self.target_self) else ids[OTHER]
            return org, Request(
                subject,
                action,
                "user",
                target,
                channel,
                (),
                {**context, "product": pick(self.product)},
            )
        rid = None if new else pick(self.record_id)
        return org, Request(subject, action, module, rid, channel, touched, context)

    def _decoded_person(
        self,
        x: Person,
        uid: str,
        true: Any,
        pick: Any,
        roles: dict[str, dict[str, Any]],
        profiles: dict[str, dict[str, Any]],
        integration_fields: dict[str, Any],
    ) -> dict[str, Any]:
        """One user of the counterexample org, adding their profile and roles to the org's."""
        profile = pick(x.profile)
        allows: dict[str, list[str]] = {}
        for (m, a), f in x.allows.items():
            if true(f):
                allows.setdefault(m, []).append(a)
        profiles.setdefault(profile, {"id": profile, "allows": allows})
        memberships, enrolments = [], []
        for p in self.products:
            if not true(x.seat[p]):
                continue
            fields = _field_rules(
                {f for f, val in x.hidden[p].items() if true(val)},
                {f for f, val in x.readonly[p].items() if true(val)},
            )
            if true(x.member[p]):
                grants: dict[str, list[str]] = {}
                for (m, a), f in x.grants[p].items():
                    if true(f):
                        grants.setdefault(m, []).append(a)
                rid = pick(x.role[p])
                roles.setdefault(rid, {"id": rid, "product": p, "grants": grants, "fields": fields})
                memberships.append({"product": p, "role": rid})
            else:
                enrolments.append({"product": p})
                if fields:
                    integration_fields[p] = fields
        return {
            "id": uid,
            "email": pick(x.email),
            "crm_admin": true(x.crm_admin),
            "profile": profile,
            "memberships": memberships,
            "enrolments": enrolments,
        }

    def _unheld_roles(self, true: Any) -> list[dict[str, Any]]:
        """A role per product, held by no one, for the field rules `rule_elsewhere` names."""
        fields: dict[str, dict[str, dict[str, str]]] = {}
        for qualified, f in self.rule_elsewhere.items():
            if true(f):
                module, name = qualified.split(".", 1)
                product = self.module_products[module][0]
                fields.setdefault(product, {}).setdefault(module, {})[name] = "hidden"
        return [
            {"id": f"rules.{p}", "product": p, "grants": {}, "fields": rules}
            for p, rules in fields.items()
        ]

    def _fillers(self, model: Any, taken: set[str], profile: str) -> list[dict[str, Any]]:
        """As many enrolled filler users as the org's integration-user count needs beside the
        two (R1)."""
        fillers = model.eval(self.fillers, model_completion=True).as_long()
        names = (f"filler-{n}" for n in range(fillers + len(taken)))
        return [
            {
                "id": name,
                "email": f"{name}@proof.example",
                "profile": profile,  # one the org has (the acting user's)
                "enrolments": [{"product": self.products[0]}],
            }
            for name in [n for n in names if n not in taken][:fillers]
        ]

    def _decoded_record(
        self, module: str, ids: dict[str, str], true: Any, pick: Any
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": pick(self.record_id),
            "type": module,
            "status": pick(self.status),
        }
        kind = self.entity_of[module]
        if kind == "Report":
            record["folder"] = _text(pick(self.folder))
            record["title"] = _text(pick(self.title))
        elif kind == "Dashboard":
            record["title"] = _text(pick(self.title))
        elif true(self.submitted):
            record["submitted_by"] = ids[PRINCIPAL] if true(self.submitted_by_self) else ids[OTHER]
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
