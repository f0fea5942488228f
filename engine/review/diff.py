"""Semantic diff of two policy sets: who gains or loses what, by decisions, not text.

Every request of each org (`crosscheck.request_space`) is compared: the demo org, any orgs
given, and the built-in coverage org. Both sets are asked the requests some differing policy's
scope can match (engine/review/scope.py); on the others they answer alike, which is known without
asking. Requests whose answer changed are grouped by kind
of user, action, resource type and direction, each group with the policies and rules
responsible and one concrete example.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite_authz.engine.core.catalogue import RECORD_ACTIONS
from suite_authz.engine.core.decide import Engine
from suite_authz.engine.core.decision import Decision
from suite_authz.engine.core.errors import AuthzError
from suite_authz.engine.core.model import Org, load_org
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.core.reading import read_file
from suite_authz.engine.core.request import Request
from suite_authz.engine.review.coverage_org import coverage_org
from suite_authz.engine.review.crosscheck import request_space, space_size
from suite_authz.engine.review.scope import Changed

KEYS = ("who", "action", "type", "was", "now")


@dataclass
class DiffGroup:
    who: str
    action: str
    type: str
    was: str
    now: str
    count: int = 0
    rules: set[str] = field(default_factory=set)
    policies: set[str] = field(default_factory=set)
    orgs: set[str] = field(default_factory=set)
    example: dict[str, Any] = field(default_factory=dict)
    non_member: bool = True  # every user in the group lacks a finance membership
    # An allow that stays an allow but carries less (fewer fields hidden, another sender) widens
    # too; None: by the decisions alone.
    widens: bool | None = None
    # The user's seats in words (`who` without "CRM admin, "): what a proof groups by
    seats: str = ""
    # Under --prove (engine/review/symbolic/review.py `merged_report`): whether the proof
    # found this change (None: not a question the proof asks), and its counterexample when
    # the example above is an enumerated one
    proven: bool | None = None
    counterexample: dict[str, Any] | None = None

    @property
    def widening(self) -> bool:
        if self.widens is not None:
            return self.widens
        return self.was == "deny" and self.now == "allow"

    def key(self) -> tuple[str, ...]:
        return (self.who, self.action, self.type, self.was, self.now)

    def extent(self) -> str:
        """How big the change is, in words: its enumerated requests, and whether the proof
        found it."""
        if self.proven is None:
            return f"{self.count} requests"
        if not self.count:
            return "proven; in no enumerated org"
        return f"{self.count} requests, " + ("proven" if self.proven else "NOT proven")

    def to_dict(self) -> dict[str, Any]:
        out = {
            "who": self.who,
            "action": self.action,
            "type": self.type,
            "was": self.was,
            "now": self.now,
            "requests": self.count,
            "rules": sorted(self.rules, key=lambda r: int(r[1:])),
            "policies": sorted(self.policies),
            "orgs": sorted(self.orgs),
            "example": self.example,
        }
        if self.proven is not None:
            out["proven"] = self.proven
        if self.counterexample is not None and self.counterexample is not self.example:
            out["counterexample"] = self.counterexample
        return out


@dataclass(frozen=True, slots=True)
class DiffReport:
    base: str
    head: str
    compared: int
    orgs: tuple[str, ...]
    groups: tuple[DiffGroup, ...]  # widenings first, then narrowings; sorted within
    # Under --prove: the enumerated changes the proof says cannot happen, one line each (an
    # encoding error: exit 3)
    contradictions: tuple[str, ...] = ()
    # Of `compared`, those both sets were asked (the others no differing scope matches)
    asked: int = 0

    @property
    def widenings(self) -> tuple[DiffGroup, ...]:
        return tuple(g for g in self.groups if g.widening)

    @property
    def narrowings(self) -> tuple[DiffGroup, ...]:
        return tuple(g for g in self.groups if not g.widening)


# Often enough to move a bar, rarely enough to cost nothing (a request costs ~100 µs).
PROGRESS_EVERY = 500


def who(org: Org, user_id: str, action: str, policies: PolicySet) -> tuple[str, bool]:
    """A user's kind in words, from their seats (and the admin flag, for the admin actions
    that read it); and whether they are a member of no product."""
    user = next(u for u in org.users if u.id == user_id)
    kind = seat_words(org, user_id, policies)
    if user.crm_admin and action not in RECORD_ACTIONS:
        kind = f"CRM admin, {kind}"
    return kind, not user.memberships


def seat_words(org: Org, user_id: str, policies: PolicySet) -> str:
    """A user's seats in words: what a proof tells one group of changes from another by."""
    user = next(u for u in org.users if u.id == user_id)
    parts = []
    for prod in policies.catalogue.products:
        label = policies.catalogue.label(prod)
        if any(m.product == prod for m in user.memberships):
            parts.append(f"member of {label}")
        elif any(e.product == prod for e in user.enrolments):
            parts.append(f"integration user of {label}")
    return " and ".join(parts) or "user with no finance seat"


def semantic_diff(
    base: PolicySet,
    head: PolicySet,
    orgs: Iterable[tuple[str, OrgSource]],
    base_label: str = "base",
    head_label: str = "head",
    progress: Callable[[int, int], None] | None = None,
) -> DiffReport:
    """`progress(done, total)`: called every PROGRESS_EVERY requests and at the end."""
    groups: dict[tuple[str, ...], DiffGroup] = {}
    compared = asked = 0
    touched = Changed(base, head)
    loaded = [(name, load_org(source, head.catalogue)) for name, source in orgs]
    names = [name for name, _ in loaded]
    total = sum(space_size(org, head) for _, org in loaded) if progress is not None else 0
    for name, org in loaded:
        before, after = Engine(base, org), Engine(head, org)
        for request in request_space(org, head):
            compared += 1
            if progress is not None and compared % PROGRESS_EVERY == 0:
                progress(compared, total)
            if not touched.may_change(request):
                continue
            asked += 1
            old, new = before.decide(request, probe=False), after.decide(request, probe=False)
            if old.allowed != new.allowed:
                was, now, widens = old.decision, new.decision, None
            elif old.allowed and (changed := carried_change(org, request, old, new)):
                was, now, widens = changed
            else:
                continue
            kind, non_member = who(org, request.subject, request.action, head)
            group = groups.setdefault(
                (kind, request.action, request.resource_type, was, now),
                DiffGroup(
                    kind,
                    request.action,
                    request.resource_type,
                    was,
                    now,
                    widens=widens,
                    seats=seat_words(org, request.subject, head),
                ),
            )
            group.count += 1
            group.orgs.add(name)
            group.non_member &= non_member
            # responsible: what allows now (widening) or what allowed before and what forbids now
            for d in (new, old):
                group.policies.update(d.policies)
                group.rules.update(d.rules)
            if not group.example:
                group.example = {"org": name, **request.to_dict()}
    if progress is not None:
        progress(compared, total)
    ordered = sorted(groups.values(), key=group_order)
    return DiffReport(base_label, head_label, compared, tuple(names), tuple(ordered), asked=asked)


def group_order(g: DiffGroup) -> tuple[bool, str, int, str]:
    """Widenings first, then by who, action (in the catalogue's order) and type."""
    return (not g.widening, g.who, _order(g.action), g.type)


def carried_change(
    org: Org, request: Request, old: Decision, new: Decision
) -> tuple[str, str, bool] | None:
    """Two allows that carry different obligations, in words, and whether the new one widens:
    it hides fewer fields, mails from an address that is not the user's own, or runs in another
    product (D1: whose rights and audit trail the action lands in; a guard must see it)."""
    if _carried(old) == _carried(new):
        return None
    own = next((u.email for u in org.users if u.id == request.subject), None)
    moved = _product(old) != _product(new)

    def words(d: Decision) -> str:
        parts = ["allow"]
        if moved:
            parts.append(f"acting in {_product(d)}")
        if request.action == "view":
            parts.append("hiding " + (", ".join(d.redact_fields) or "nothing"))
        if request.action == "send_email":
            parts.append("from their own address" if d.sender == own else "from another address")
        return ", ".join(parts)

    hides_less = not set(old.redact_fields) <= set(new.redact_fields)
    other_sender = new.sender != old.sender and new.sender != own
    was, now = words(old), words(new)
    if was == now:  # a sender that changed between two addresses not the user's own
        now += " (changed)"
    return was, now, hides_less or other_sender or moved


def _carried(d: Decision) -> tuple[Any, ...]:
    return (d.redact_fields, d.sender, _product(d))


def _product(d: Decision) -> str | None:
    return d.acting_as.product if d.acting_as is not None else None


def _order(action: str) -> int:
    return RECORD_ACTIONS.index(action) if action in RECORD_ACTIONS else len(RECORD_ACTIONS)


OrgSource = dict[str, Any] | Path | str  # a snapshot: parsed, a file, or its text


def default_orgs(
    head: PolicySet, extra: list[tuple[str, OrgSource]]
) -> list[tuple[str, OrgSource]]:
    """The demo org beside the head set, then `extra` (name, snapshot), then the coverage org."""
    out: list[tuple[str, OrgSource]] = []
    demo = head.directory / "examples" / "demo-org.json"
    if demo.is_file():
        out.append(("demo", demo))
    out += extra
    out.append(("coverage", coverage_org(head.catalogue)))
    return out


def unexpected_changes(
    report: DiffReport, fail_on: str | None, expected: list[dict[str, Any]] | None
) -> list[str]:
    """What fails the diff: changes that --fail-on names and --expect does not declare, and
    declared changes that did not happen."""
    declared = {tuple(str(e.get(k, "")) for k in KEYS) for e in expected or []}
    problems = []
    for g in report.groups:
        if fail_on == "non-member-gain" and not (g.widening and g.non_member):
            continue
        if fail_on == "any-widening" and not g.widening:
            continue
        if fail_on is None and expected is None:
            continue
        if g.key() not in declared:
            what = "gains" if g.widening else "loses"
            problems.append(
                f"undeclared: {g.who} {what} `{g.action}` on {g.type} "
                f"({g.was} -> {g.now}, {g.extent()})"
            )
    happened = {g.key() for g in report.groups}
    for key in sorted(declared - happened):
        problems.append(f"declared but did not happen: {dict(zip(KEYS, key, strict=True))}")
    return problems


def load_expected(path: Path) -> list[dict[str, Any]]:
    text = read_file(path, "the expected changes", AuthzError)  # bounded; a FIFO refused
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise AuthzError(f"{path}: cannot read the expected changes: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise AuthzError(f"{path}: expected changes are a JSON list of groups")
    for n, entry in enumerate(data):
        missing = [k for k in KEYS if k not in entry]
        if missing:
            raise AuthzError(f"{path}: [{n}].{missing[0]}: required")
    return data
