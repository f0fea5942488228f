"""The Cerbos side of `make bench-serve`: a policy equivalent to the rules the traces exercise,
and our AuthZEN bodies rewritten for it.

Cerbos holds no org data: the caller sends what a rule needs as attributes. So each body
carries the user's facts (their seat in each product, the `module:action` pairs their roles
grant, those their CRM profile allows) and the record's (status, submitter, whether its module
goes through approval), worked out from the generated org as a CRM would from its own data,
before the load starts. The rules (CERBOS_RULES, one resource policy per record type):

- D1: an `acting_as` other than the user is denied;
- D6 and D3: a member's role must grant the action on the module, and from the CRM the
  profile must allow it too;
- D4 and D10: integration users of Books may view, create and edit the four transaction types
  from the CRM, those of Subscriptions view and create subscriptions, with the profile's leave;
- D8: approve only a record pending approval and not one's own submission; a record of a module
  with approval switched on is sent or converted only once approved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.genorg import MODULES, TRANSACTIONS

ACTIONS = ("view", "create", "edit", "delete", "approve", "submit", "send_email", "convert",
           "void")  # fmt: skip

HEAD = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: default
  resource: "{kind}"
  rules:
    - actions: ["*"]
      effect: EFFECT_DENY
      roles: ["user"]
      condition:
        match:
          expr: has(R.attr.acting_as) && R.attr.acting_as != P.id
    - actions: ["approve"]
      effect: EFFECT_DENY
      roles: ["user"]
      condition:
        match:
          any:
            of:
              - expr: R.attr.status != "pending_approval"
              - expr: R.attr.submitted_by == P.id
    - actions: ["send_email", "convert"]
      effect: EFFECT_DENY
      roles: ["user"]
      condition:
        match:
          expr: R.attr.approval && R.attr.status != "approved"
"""
MEMBER = """    - actions: ["{action}"]
      effect: EFFECT_ALLOW
      roles: ["user"]
      condition:
        match:
          all:
            of:
              - expr: '"{kind}:{action}" in P.attr.grants'
              - expr: R.attr.channel != "crm" || "{kind}:{action}" in P.attr.profile
"""
INTEGRATION = """    - actions: ["{action}"]
      effect: EFFECT_ALLOW
      roles: ["user"]
      condition:
        match:
          all:
            of:
              - expr: R.attr.channel == "crm"
              - expr: P.attr.{product} == "integration"
              - expr: '"{kind}:{action}" in P.attr.profile'
"""


def write_cerbos_policies(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind in MODULES:
        text = HEAD.format(kind=kind)
        for action in ACTIONS:
            text += MEMBER.format(kind=kind, action=action)
        for product, action in _integration_grants(kind):
            text += INTEGRATION.format(kind=kind, action=action, product=product)
        (folder / f"{kind}.yaml").write_text(text)


def _integration_grants(kind: str) -> list[tuple[str, str]]:
    if kind in TRANSACTIONS:
        return [("books", a) for a in ("view", "create", "edit")]
    if kind == "subscription":
        return [("subscriptions", a) for a in ("view", "create")]
    return []


def cerbos_bodies(bodies: list[dict[str, Any]], org: dict[str, Any]) -> list[dict[str, Any]]:
    facts = _Facts(org)
    out = []
    for body in bodies:
        subject = facts.subject(body["subject"]["id"])
        if "evaluations" in body:
            out.append(
                {
                    "subject": subject,
                    "evaluations": [
                        {"action": e["action"], "resource": facts.resource(e, subject["id"])}
                        for e in body["evaluations"]
                    ],
                }
            )
        else:
            out.append(
                {
                    "subject": subject,
                    "action": body["action"],
                    "resource": facts.resource(body, subject["id"]),
                }
            )
    return out


class _Facts:
    def __init__(self, org: dict[str, Any]) -> None:
        self.users = {u["id"]: u for u in org["users"]}
        self.records = {r["id"]: r for r in org["records"]}
        self.roles = {r["id"]: r for r in org["roles"]}
        self.profiles = {p["id"]: p for p in org["profiles"]}
        self.approval = {m for ms in org.get("approval", {}).values() for m in ms}
        self._subjects: dict[str, dict[str, Any]] = {}

    def subject(self, user_id: str) -> dict[str, Any]:
        found = self._subjects.get(user_id)
        if found is None:
            found = self._subjects[user_id] = self._subject(user_id)
        return found

    def _subject(self, user_id: str) -> dict[str, Any]:
        user = self.users[user_id]
        properties: dict[str, Any] = {"cerbos.roles": ["user"]}
        grants: set[str] = set()
        for m in user.get("memberships", []):
            properties[m["product"]] = "member"
            grants |= _pairs(self.roles[m["role"]]["grants"])
        for e in user.get("enrolments", []):
            properties.setdefault(e["product"], "integration")
        properties["grants"] = sorted(grants)
        properties["profile"] = sorted(_pairs(self.profiles[user["profile"]]["allows"]))
        return {"type": "user", "id": user_id, "properties": properties}

    def resource(self, item: dict[str, Any], user_id: str) -> dict[str, Any]:
        resource = item["resource"]
        kind, rid = resource["type"], resource["id"]
        record = self.records.get(rid, {})
        context = item.get("context", {})
        properties: dict[str, Any] = {
            "channel": context.get("channel", "crm"),
            "status": record.get("status", "draft"),
            "submitted_by": record.get("submitted_by", ""),
            "approval": kind in self.approval,
        }
        if "acting_as" in context:
            properties["acting_as"] = context["acting_as"]
        return {"type": kind, "id": "new" if rid == "#new" else rid, "properties": properties}


def _pairs(table: dict[str, list[str]]) -> set[str]:
    return {
        f"{module}:{action}"
        for module, actions in table.items()
        for action in (ACTIONS if "*" in actions else actions)
    }
