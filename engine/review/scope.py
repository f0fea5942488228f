"""Which requests a change of policies can touch: the scopes of the policies that differ.

Cedar reads a policy only on the requests its scope (principal, action, resource) matches, so
two sets that differ in some policies answer alike, in the decision and in everything an allow
carries, on every request no differing policy's scope matches: the same policies apply there,
with the same annotations. The enumerated diff asks both sets only the requests some differing
scope can match and counts the rest as compared and unchanged; that is exact, not a sample.
A scope here is a superset of what Cedar matches (`principal in`, `resource in` are read as
"any"), so the pruning can only ask more than it must.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from suite_authz.engine.core.catalogue import ACTIONS, ADMIN_ACTIONS, RECORD_ACTIONS
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.core.request import Request

# The entity type an admin action's resource is (engine/core/entities.py)
ADMIN_RESOURCE = {"user": "User", "org": "Org"}


@dataclass(frozen=True)
class Scope:
    """What a policy's scope can match: actions, resource entity types (None: any), a
    resource id and a principal id where it names one."""

    actions: frozenset[str]
    types: frozenset[str] | None
    resource_id: str | None
    principal: str | None

    @classmethod
    def of(cls, est: dict[str, Any]) -> Scope:
        resource, principal = est["resource"], est["principal"]
        types: frozenset[str] | None = None
        rid = None
        if resource["op"] in ("is", "is_in"):
            types = frozenset((str(resource["entity_type"]),))
        elif resource["op"] == "==":
            types = frozenset((str(resource["entity"]["type"]),))
            rid = str(resource["entity"]["id"])
        who = str(principal["entity"]["id"]) if principal["op"] == "==" else None
        return cls(frozenset(scope_actions(est["action"])), types, rid, who)

    def matches(self, request: Request, entity_type: str) -> bool:
        """Can the scope match `request`, whose resource is an `entity_type`?"""
        return (
            request.action in self.actions
            and (self.types is None or entity_type in self.types)
            and (self.resource_id is None or (request.resource_id or "") == self.resource_id)
            and (self.principal is None or request.subject == self.principal)
        )


def scope_actions(action: dict[str, Any]) -> set[str]:
    """The actions an action scope can match."""
    op = action["op"]
    if op == "All":
        return set(ACTIONS)
    refs = [action["entity"]] if "entity" in action else list(action.get("entities", []))
    out: set[str] = set()
    for ref in refs:
        if ref["id"] == "record_action" and op == "in":
            out |= set(RECORD_ACTIONS)
        else:
            out.add(str(ref["id"]))
    return out


def changed_policies(base: PolicySet, head: PolicySet) -> list[dict[str, Any]]:
    """Both versions of each policy, deciding or @obligation, that one set has otherwise than
    the other (its text or its annotations), or has and the other does not."""
    out = []
    for mine, theirs in ((base.deciding, head.deciding), (base.obligations, head.obligations)):
        for key in mine.keys() | theirs.keys():
            if mine.get(key) != theirs.get(key):
                out += [e for e in (mine.get(key), theirs.get(key)) if e is not None]
    return out


class Changed:
    """The requests on which `base` and `head` may answer differently."""

    def __init__(self, base: PolicySet, head: PolicySet) -> None:
        # Sets that differ beyond their policies (the schema the entities are built by, the
        # module catalogue) may answer any request otherwise: nothing is pruned.
        self.everything = base.schema_text != head.schema_text or base.catalogue != head.catalogue
        self.scopes = tuple({Scope.of(e) for e in changed_policies(base, head)})
        self._entity = {m: i.entity for m, i in head.catalogue.modules.items()}

    def may_change(self, request: Request) -> bool:
        if self.everything:
            return True
        kind = entity_type(request, self._entity)
        if kind is None:  # a type the catalogue does not have: ask, never assume
            return True
        return any(s.matches(request, kind) for s in self.scopes)


def entity_type(request: Request, entity_of: dict[str, str]) -> str | None:
    """The Cedar entity type of a request's resource (a record's, or an admin action's); None
    for a record type `entity_of` (module -> entity type) does not hold."""
    admin = ADMIN_ACTIONS.get(request.action)
    return ADMIN_RESOURCE[admin] if admin else entity_of.get(request.resource_type)
