"""What a Cedar policy set reads of a request, derived from the policies' JSON (Cedar's EST).

A Cedar answer is a function of the values its policies read: attribute chains rooted at
`principal`, `resource` and `context` (`principal.books.role`, `resource.submitted_by`), the
ancestors of whatever stands left of `in`, the action and the types of principal and resource.
Two requests that agree on all of those get the same answer, and so do two that agree up to a
renaming of identities the policies can only compare with each other:

- an entity of a type no policy names in a literal (User, the records, Role, Profile, Org in
  the shipped set): nothing can tell `User::"asha"` from `User::"ben"` but `==`, `in` and the
  attributes read, so only which of the request's entities are the same one counts;
- the value of a chain used only in `==` / `!=` against other such chains (`context.sender`
  and `principal.email`): only whether the two are equal counts.

engine/core/backends/cedar_classes.py builds a request's class key from exactly these reads. What
this module cannot account for (an operator it does not know, an attribute of a computed
value, entity tags) raises Unaccounted with the policy and the construct, and class caching
is off for that policy set: never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ROOTS = ("principal", "resource", "context", "action")
ANCESTORS = "<in>"  # a chain step: the ancestors of the entity reached so far

Chain = tuple[str, ...]  # (root, attr, attr, ...)

_BOOLEAN = ("&&", "||")
_EQUALITY = ("==", "!=")
_BINARY = ("<", "<=", ">", ">=", "+", "-", "*", "contains", "containsAll", "containsAny")
_UNARY = ("!", "neg", "isEmpty")
# Extension functions: pure functions of their arguments, which are read as values.
_EXTENSIONS = frozenset(
    {
        "ip",
        "decimal",
        "datetime",
        "duration",
        "isIpv4",
        "isIpv6",
        "isLoopback",
        "isMulticast",
        "isInRange",
        "lessThan",
        "lessThanOrEqual",
        "greaterThan",
        "greaterThanOrEqual",
        "offset",
        "durationSince",
        "toDate",
        "toTime",
        "toDays",
        "toHours",
        "toMinutes",
        "toSeconds",
        "toMilliseconds",
    }
)


class Unaccounted(Exception):
    """A policy reads the request in a way the class key cannot account for."""


@dataclass(frozen=True, slots=True)
class Reads:
    """Everything a policy set reads of a request, as chains from the roots."""

    chains: tuple[Chain, ...]  # sorted; a chain's value includes everything below it
    # Entity types named by a literal somewhere: their ids are read as they are.
    literal_types: frozenset[str]
    # Chains used only in == / != against each other: their values are renamed.
    opaque: frozenset[Chain]

    def rooted(self, root: str) -> tuple[tuple[str, ...], ...]:
        """The chains under one root, without it: the paths to read from its value."""
        return tuple(c[1:] for c in self.chains if c[0] == root)


def derive(policies: Iterable[tuple[str, Any]]) -> Reads:
    """The reads of (policy id, EST) pairs; Unaccounted for a construct it cannot follow."""
    walker = _Walker()
    for pid, est in policies:
        walker.policy = pid
        walker.scope(est)
        for condition in est.get("conditions", ()):
            walker.expr(condition["body"], equality=False)
    return walker.reads()


class _Walker:
    def __init__(self) -> None:
        self.policy = ""
        self.chains: set[Chain] = set()
        self.literal_types: set[str] = set()
        self.other_uses: set[Chain] = set()  # chains whose value is used beyond equality
        self.partners: dict[Chain, set[Chain]] = {}

    def reads(self) -> Reads:
        opaque = set(self.partners) - self.other_uses
        changed = True
        while changed:  # a partner read as it is must be compared as it is
            changed = False
            for chain in list(opaque):
                if not self.partners[chain] <= opaque:
                    opaque.discard(chain)
                    changed = True
        return Reads(
            chains=tuple(sorted(self.chains)),
            literal_types=frozenset(self.literal_types),
            opaque=frozenset(opaque),
        )

    def fail(self, what: str) -> Unaccounted:
        return Unaccounted(f"policy `{self.policy}`: {what}")

    def scope(self, est: dict[str, Any]) -> None:
        for root in ("principal", "action", "resource"):
            constraint = est.get(root, {"op": "All"})
            op = constraint.get("op")
            if op == "All" or op == "is":
                continue  # `is` reads the type, which every key holds
            if op in ("==", "in", "is_in"):
                if "slot" in constraint:
                    raise self.fail(f"a template slot in its {root} scope")
                for entity in _scope_entities(constraint):
                    self.literal_types.add(str(entity["type"]))
                chain: Chain = (root,)
                self.use(chain, equality=False)
                if op != "==":
                    self.use((*chain, ANCESTORS), equality=False)
                continue
            raise self.fail(f"a {root} scope `{op}` it cannot read")

    def use(self, chain: Chain, *, equality: bool) -> None:
        self.chains.add(chain)
        if not equality:
            self.other_uses.add(chain)

    def chain_of(self, node: Any) -> Chain | None:
        """The chain a `Var` / `.` / `has` node reads, None for any other expression."""
        path: list[str] = []
        while isinstance(node, dict) and len(node) == 1:
            ((op, body),) = node.items()
            if op == "Var":
                if body not in ROOTS:
                    raise self.fail(f"the variable `{body}`")
                return (body, *reversed(path))
            if op not in (".", "has"):
                return None
            path.append(str(body["attr"]))
            node = body["left"]
        return None

    def expr(self, node: Any, *, equality: bool) -> None:
        if not isinstance(node, dict) or len(node) != 1:
            raise self.fail(f"an expression it cannot read: {node!r:.80}")
        ((op, body),) = node.items()
        if op in ("Var", ".", "has"):
            chain = self.chain_of(node)
            if chain is None:
                raise self.fail(f"`{op}` on a computed value, not on a chain from a variable")
            # `has` reads presence, which a renamed value keeps (absence is never renamed).
            self.use(chain, equality=equality or op == "has")
            return
        if op == "Value":
            self.literal(body)
            return
        if op in _EQUALITY:
            left, right = self.chain_of(body["left"]), self.chain_of(body["right"])
            both = left is not None and right is not None
            if both and left is not None and right is not None:
                self.partners.setdefault(left, set()).add(right)
                self.partners.setdefault(right, set()).add(left)
            self.expr(body["left"], equality=both)
            self.expr(body["right"], equality=both)
            return
        if op == "in":
            self.expr(body["left"], equality=False)
            chain = self.chain_of(body["left"])
            if chain is not None:
                self.use((*chain, ANCESTORS), equality=False)
            elif "Value" not in body["left"]:
                raise self.fail("`in` on a computed value: its ancestors cannot be read")
            self.expr(body["right"], equality=False)
            return
        if op in _BOOLEAN or op in _BINARY:
            self.expr(body["left"], equality=False)
            self.expr(body["right"], equality=False)
            return
        if op in _UNARY:
            self.expr(body["arg"], equality=False)
            return
        if op == "is":
            self.expr(body["left"], equality=False)
            if "in" in body:
                self.expr({"in": {"left": body["left"], "right": body["in"]}}, equality=False)
            return
        if op == "like":
            self.expr(body["left"], equality=False)
            return
        if op == "if-then-else":
            for part in ("if", "then", "else"):
                self.expr(body[part], equality=False)
            return
        if op == "Set":
            for item in body:
                self.expr(item, equality=False)
            return
        if op == "Record":
            for item in body.values():
                self.expr(item, equality=False)
            return
        if op in _EXTENSIONS:
            for item in body:
                self.expr(item, equality=False)
            return
        raise self.fail(f"the operator `{op}`, which the class key does not know")

    def literal(self, value: Any) -> None:
        if isinstance(value, dict):
            if "__entity" in value:
                self.literal_types.add(str(value["__entity"]["type"]))
                return
            for item in value.values():
                self.literal(item)
        elif isinstance(value, list):
            for item in value:
                self.literal(item)


def _scope_entities(constraint: dict[str, Any]) -> list[dict[str, Any]]:
    if "entity" in constraint:
        return [constraint["entity"]]
    if "entities" in constraint:
        return list(constraint["entities"])
    if "in" in constraint:
        return _scope_entities(constraint["in"])
    return []
