"""The Cerbos side of `make bench-serve`: a policy equivalent to our Cedar policies for the
record actions the traces send, and our AuthZEN bodies rewritten for it.

Cerbos holds no org data: the caller sends what a rule needs as attributes, worked out from the
org as our engine reads it (the org loaded with the policy set's module catalogue, as
engine/core/entities.py turns it into Cedar entities), as a CRM would from its own data, before
the load starts. Each body carries only the facts the rules for its record types need:

- the user (subject): the org's data centre and edition; their seat (`member` or
  `integration`) in each product that owns one of the record types asked about; and per record
  type: the actions their CRM profile allows on it (when asked from the CRM), the actions the
  role of each product they are a member of grants on it, and (for an edit naming fields) the
  fields hidden or read-only for them by the role of any of their seats that reaches it;
  their address when a mail names a sender;
- the record (resource): the channel, `acting_as` and `sender` as the request gave them, the
  fields an edit touches; the record's status (a new record's: draft for a transaction, else
  active), the products that switched approval on for its module, who submitted it; a report's
  folder and title, a dashboard's title. Cerbos's AuthZEN batch checks the evaluations of one
  user on one resource id together, with the first one's attributes, so the resource id names
  the record and, when it is not a plain CRM request, what the request says about it
  (`invoice-7?channel=direct&fields=discount`); the record's own facts are the same whatever
  the action.

The rules (one resource policy per record type, `write_cerbos_policies`; a deny wins, and
nothing is allowed that no rule allows), each named after the Cedar policy it translates:

- D12 rollout-not-reached: nothing in the US data centre at Enterprise edition or above;
- D1 own-identity-only: an `acting_as` other than the user is denied;
- D11 sender-own-address: a mail names no sender but the user's own address;
- D2 no-finance-identity: no seat in a product owning the record type, no access;
- D5 integration-users-crm-only: not from the CRM, only a member of an owning product;
- D3 crm-profile-gate: from the CRM, the profile must allow the action on the module;
- D10 subscriptions-scope-needs-subscriptions: subscriptions, reports in the "Subscriptions
  Reports" folder and the two Subscriptions dashboards need a seat in Subscriptions;
- D7 hidden-field-edit, readonly-field-edit: an edit touches no field hidden or read-only;
- D8 approve-pending-only, approve-through-approving-product, approve-not-own-submission,
  send-convert-after-approval, pending-edit-approvers-only, submit-drafts-only;
- D6 books-member-role, subscriptions-member-role (allow): what a member's role grants on a
  module of its product, approving only through a product that switched approval on for it;
- D4 books-integration-user (allow): integration users of Books view, create and edit the four
  transaction types from the CRM;
- D10 subscriptions-integration-records, -reports, -dashboards (allow): integration users of
  Subscriptions view and create subscriptions, view the reports of the "Subscriptions Reports"
  folder and the two Subscriptions dashboards, from the CRM.

Not modelled: the admin actions (enrol_integration_user, run_migration; the traces never send
them), obligations (redacted fields, who the action runs as), and the engine's refusal of
invalid requests or unknown ids before any rule (the traces name only the org's users and
records).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from suite_authz.engine.core.catalogue import RECORD_ACTIONS, Catalogue, parse_catalogue
from suite_authz.engine.core.model import Org, Record, User, default_status, expand, load_org
from suite_authz.engine.core.policies import default_policies_dir
from suite_authz.engine.core.policy_files import CATALOGUE_FILE


def _catalogue() -> Catalogue:
    path = default_policies_dir() / CATALOGUE_FILE
    return parse_catalogue(path.read_text(), str(path))


CATALOGUE = _catalogue()
PRODUCTS = tuple(CATALOGUE.products)

# What the Cedar policies name literally.
NEW_RECORD_ID = "#new"
ROLLOUT_EDITIONS = ("free", "standard", "professional")  # in the US data centre (D12)
BOOKS_INTEGRATION = {  # D4: what integration users of Books may do, on which modules
    "estimate": ("view", "create", "edit"),
    "sales_order": ("view", "create", "edit"),
    "invoice": ("view", "create", "edit"),
    "purchase_order": ("view", "create", "edit"),
}
SUBSCRIPTIONS_FOLDER = "Subscriptions Reports"  # D10
SUBSCRIPTIONS_DASHBOARDS = ("Subscriptions Overview", "Subscriptions Insights")  # D10

# --- the policy ------------------------------------------------------------------------------

CRM = 'R.attr.channel == "crm"'
NOT_CRM = 'R.attr.channel != "crm"'
APPROVAL_ON = "size(R.attr.approval_by) > 0"  # the module's `approval` in entities.py


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _seat(product: str, kind: str | None = None) -> str:
    """The user has a seat in `product` (of that kind: `member` or `integration`)."""
    found = f"has(P.attr.seats.{product})"
    return found if kind is None else f'{found} && P.attr.seats.{product} == "{kind}"'


def _granted(fact: str, action: str) -> str:
    """`action` is among the user's actions `fact` (profile, or a product's role) on the module."""
    return f'(has(V.rights.{fact}) && "{action}" in V.rights.{fact})'


def _approves_through(product: str) -> str:
    """R2: the user's role in `product` grants approve, and `product` switched approval on."""
    return f'({_granted(product, "approve")} && "{product}" in R.attr.approval_by)'


def _rule(actions: list[str] | str, effect: str, expr: str, name: str) -> dict[str, Any]:
    return {
        "actions": [actions] if isinstance(actions, str) else actions,
        "effect": f"EFFECT_{effect}",
        "roles": ["user"],
        "name": name.replace("-", "_"),
        "condition": {"match": {"expr": expr}},
    }


def _deny(actions: list[str] | str, expr: str, name: str) -> dict[str, Any]:
    return _rule(actions, "DENY", expr, name)


def _allow(actions: list[str] | str, expr: str, name: str) -> dict[str, Any]:
    return _rule(actions, "ALLOW", expr, name)


def _scope(kind: str) -> str | None:
    """D10: when a record of `kind` is in the scope that needs the user's Subscriptions rights."""
    if kind == "subscription":
        return "true"
    if kind == "report":
        return f'R.attr.folder == "{SUBSCRIPTIONS_FOLDER}"'
    if kind == "dashboard":
        return f"R.attr.title in {_list(SUBSCRIPTIONS_DASHBOARDS)}"
    return None


def resource_policy(kind: str) -> dict[str, Any]:
    owners = CATALOGUE.modules[kind].products
    any_seat = " || ".join(_seat(p) for p in owners)
    any_membership = " || ".join(f"({_seat(p, 'member')})" for p in owners)
    approver = " || ".join(_approves_through(p) for p in PRODUCTS)
    us_only = f"!(P.attr.org.edition in {_list(ROLLOUT_EDITIONS)})"
    rules = [
        _deny("*", f'P.attr.org.data_centre == "US" && {us_only}', "rollout-not-reached"),
        _deny("*", "has(R.attr.acting_as) && R.attr.acting_as != P.id", "own-identity-only"),
        _deny(
            "send_email",
            "has(R.attr.sender) && R.attr.sender != P.attr.email",
            "sender-own-address",
        ),
        _deny("*", f"!({any_seat})", "no-finance-identity"),
        _deny("*", f"{NOT_CRM} && !({any_membership})", "integration-users-crm-only"),
    ]
    rules += [
        _deny(a, f"{CRM} && !{_granted('profile', a)}", f"crm-profile-gate-{a}")
        for a in RECORD_ACTIONS
    ]
    scope = _scope(kind)
    if scope is not None:
        rules.append(
            _deny(
                "*",
                f"{scope} && !{_seat('subscriptions')}",
                "subscriptions-scope-needs-subscriptions",
            )
        )
    for fact in ("hidden", "readonly"):
        rules.append(
            _deny(
                "edit",
                f"has(R.attr.fields) && has(V.rights.{fact})"
                f" && R.attr.fields.exists(f, f in V.rights.{fact})",
                f"{fact}-field-edit",
            )
        )
    rules += [
        _deny(
            "approve",
            f'!({APPROVAL_ON} && R.attr.status == "pending_approval")',
            "approve-pending-only",
        ),
        _deny("approve", f"!({approver})", "approve-through-approving-product"),
        _deny(
            "approve",
            "has(R.attr.submitted_by) && R.attr.submitted_by == P.id",
            "approve-not-own-submission",
        ),
        _deny(
            ["send_email", "convert"],
            f'{APPROVAL_ON} && R.attr.status != "approved"',
            "send-convert-after-approval",
        ),
        _deny(
            "edit",
            f'R.attr.status == "pending_approval" && !({approver})',
            "pending-edit-approvers-only",
        ),
        _deny("submit", f'!({APPROVAL_ON} && R.attr.status == "draft")', "submit-drafts-only"),
    ]
    for product in owners:
        for action in RECORD_ACTIONS:
            through = f' && "{product}" in R.attr.approval_by' if action == "approve" else ""
            rules.append(
                _allow(
                    action, _granted(product, action) + through, f"{product}-member-role-{action}"
                )
            )
    integration = f"{CRM} && {_seat('books', 'integration')}"
    if kind in BOOKS_INTEGRATION:
        rules.append(_allow(list(BOOKS_INTEGRATION[kind]), integration, "books-integration-user"))
    subscriptions = f"{CRM} && {_seat('subscriptions', 'integration')}"
    if kind == "subscription":
        rules.append(_allow(["view", "create"], subscriptions, "subscriptions-integration-records"))
    if kind in ("report", "dashboard"):
        rules.append(
            _allow("view", f"{subscriptions} && {scope}", f"subscriptions-integration-{kind}s")
        )
    return {
        "apiVersion": "api.cerbos.dev/v1",
        "resourcePolicy": {
            "version": "default",
            "resource": kind,
            # the user's facts about this module (D3, D6, D7, D8): always sent, maybe empty
            "variables": {"local": {"rights": f"P.attr.rights.{kind}"}},
            "rules": rules,
        },
    }


def write_cerbos_policies(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind in CATALOGUE.modules:
        text = yaml.safe_dump(resource_policy(kind), sort_keys=False, width=float("inf"))
        (folder / f"{kind}.yaml").write_text(text)


# --- the bodies ------------------------------------------------------------------------------


def cerbos_bodies(bodies: list[dict[str, Any]], org: dict[str, Any]) -> list[dict[str, Any]]:
    facts = _Facts(org)
    out = []
    for body in bodies:
        user_id = body["subject"]["id"]
        if "evaluations" in body:
            items = body["evaluations"]
            out.append(
                {
                    "subject": facts.subject(user_id, items),
                    "evaluations": [
                        {"action": i["action"], "resource": facts.resource(i)} for i in items
                    ],
                }
            )
        else:
            out.append(
                {
                    "subject": facts.subject(user_id, [body]),
                    "action": body["action"],
                    "resource": facts.resource(body),
                }
            )
    return out


class _Facts:
    """The org's facts as our engine reads them (engine/core/entities.py), for Cerbos."""

    def __init__(self, raw: dict[str, Any]) -> None:
        org: Org = load_org(raw, CATALOGUE)
        self.org = {"data_centre": org.data_centre, "edition": org.edition}
        self.users = {u.id: u for u in org.users}
        self.records = {(r.type, r.id): r for r in org.records}
        self.roles = {r.id: r for r in org.roles}
        self.profiles = {p.id: p for p in org.profiles}
        self.integration_fields = org.integration_user_fields
        self.approval_by = {m: list(org.approval_products(m)) for m in CATALOGUE.modules}
        self._subjects: dict[tuple[Any, ...], dict[str, Any]] = {}

    def subject(self, user_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """The user's facts for the record types and ways `items` ask about."""
        kinds: dict[str, tuple[bool, bool]] = {}  # kind -> (asked from the CRM, edits fields)
        sender = False
        for item in items:
            context = item.get("context", {})
            kind = item["resource"]["type"]
            crm, fields = kinds.get(kind, (False, False))
            kinds[kind] = (
                crm or context.get("channel", "crm") == "crm",
                fields or "fields" in (item["resource"].get("properties") or {}),
            )
            sender = sender or "sender" in context
        key = (user_id, sender, *sorted(kinds.items()))
        found = self._subjects.get(key)
        if found is None:
            found = self._subjects[key] = self._subject(user_id, kinds, sender)
        return found

    def _subject(
        self, user_id: str, kinds: dict[str, tuple[bool, bool]], sender: bool
    ) -> dict[str, Any]:
        user = self.users[user_id]
        owners = {p for kind in kinds for p in CATALOGUE.modules[kind].products}
        seats = {m.product: "member" for m in user.memberships}
        seats |= {e.product: "integration" for e in user.enrolments}
        rights = {
            kind: self._rights(user, kind, crm, fields) for kind, (crm, fields) in kinds.items()
        }
        properties: dict[str, Any] = {
            "cerbos.roles": ["user"],
            "org": self.org,
            "seats": {p: s for p, s in seats.items() if p in owners},
            "rights": rights,
        }
        if sender:
            properties["email"] = user.email
        return {"type": "user", "id": user_id, "properties": properties}

    def _rights(self, user: User, kind: str, crm: bool, fields: bool) -> dict[str, Any]:
        """The user's facts about one module: what their profile allows on it (asked from the
        CRM), what each of their member roles grants on it, and (for an edit naming fields) the
        fields hidden or read-only for them by the role of any seat in a product owning it."""
        out: dict[str, Any] = {}
        if crm:
            out["profile"] = list(expand(self.profiles[user.profile].allows.get(kind, [])))
        for m in user.memberships:
            granted = expand(self.roles[m.role].grants.get(kind, []))
            if granted:
                out[m.product] = list(granted)
        if fields:
            owners = CATALOGUE.modules[kind].products
            rules = [self.roles[m.role].fields for m in user.memberships if m.product in owners]
            rules += [
                self.integration_fields.get(e.product, {})
                for e in user.enrolments
                if e.product in owners
            ]
            for fact, access in (("hidden", "hidden"), ("readonly", "read_only")):
                found = {f for r in rules for f, a in r.get(kind, {}).items() if a == access}
                if found:
                    out[fact] = sorted(found)
        return out

    def resource(self, item: dict[str, Any]) -> dict[str, Any]:
        """The record's facts, and what the request says about it (its context, the fields an
        edit touches), under an id naming both: Cerbos's AuthZEN batch checks the evaluations of
        one user on one resource id together, with the first one's attributes."""
        resource = item["resource"]
        kind, rid = resource["type"], resource["id"]
        context = item.get("context", {})
        asked: dict[str, Any] = {"channel": context.get("channel", "crm")}
        for name in ("acting_as", "sender"):
            if name in context:
                asked[name] = context[name]
        fields = (resource.get("properties") or {}).get("fields")
        if fields:
            asked["fields"] = fields
        record = None if rid == NEW_RECORD_ID else self.records[kind, rid]
        properties = {**asked, "status": _status(kind, record)}
        properties["approval_by"] = self.approval_by[kind]
        if record is not None and record.submitted_by is not None:
            properties["submitted_by"] = record.submitted_by
        if kind == "report":  # D10's scope
            properties["folder"] = (record and record.folder) or ""
        if kind in ("report", "dashboard"):
            properties["title"] = (record and record.title) or ""
        cerbos_id = "new" if rid == NEW_RECORD_ID else rid
        if asked != {"channel": "crm"}:
            cerbos_id += "?" + "&".join(
                f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in asked.items()
            )
        return {"type": kind, "id": cerbos_id, "properties": properties}


def _status(kind: str, record: Record | None) -> str:
    """As entities.py has it: the record's status, or its module's default; a new record's."""
    if record is not None:
        return default_status(record, CATALOGUE)
    return "draft" if CATALOGUE.modules[kind].transaction else "active"
