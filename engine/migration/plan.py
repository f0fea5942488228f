"""A migration plan: for every user and every product the org runs, what the migration does.

The plan is a JSON document that carries the org version it was made against and a digest of
its own content (`plan_id`), so that apply can refuse a stale or edited plan and recognise a
plan it has applied already.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from suite_authz.engine.core.decide import Engine
from suite_authz.engine.core.model import Org, User
from suite_authz.engine.core.request import Request
from suite_authz.engine.migration.errors import MigrationError
from suite_authz.engine.migration.usage import Activity, org_products

PLAN_KIND = "suite-authz/migration-plan"
PLAN_FORMAT = 2  # 2: the limit counts every integration user (R1)
WINDOW_MONTHS = 3  # D12: an org has three months from the start of its migration window
# What a plan says of a user in a product; `enrol` is the only one apply acts on.
OUTCOMES = ("enrol", "member", "enrolled", "over_limit", "pending", "none")


@dataclass(frozen=True, slots=True)
class Window:
    start: date
    end: date  # the first day after the window
    ended: bool  # on the plan's as-of date

    def to_dict(self) -> dict[str, object]:
        return {"start": str(self.start), "end": str(self.end), "ended": self.ended}


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def window_of(org: Org, as_of: date) -> Window:
    start = org.migration.window_start
    if start is None:
        raise MigrationError(
            f"org `{org.id}` has no migration window (migration.window_start is not set): "
            "there is nothing to plan yet"
        )
    if as_of < start:
        raise MigrationError(
            f"org `{org.id}`: its migration window opens on {start}, after the as-of date {as_of}"
        )
    end = add_months(start, WINDOW_MONTHS)
    return Window(start, end, as_of >= end)


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """What the plan does for one user in one product, and why in words."""

    user: str
    product: str
    outcome: str  # one of OUTCOMES
    reason: str
    events: int | None = None  # finance events in the window, for those who used the product

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "user": self.user,
            "product": self.product,
            "outcome": self.outcome,
            "reason": self.reason,
        }
        if self.events is not None:
            out["events"] = self.events
        return out


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan as made; `to_dict` is its JSON form (the one apply reads), `plan_id` included."""

    org: str
    org_version: int
    policy_version: str
    as_of: date
    window: Window
    limit: int
    integration_users_before: int
    usage: str
    users: tuple[PlanEntry, ...]

    @property
    def completes(self) -> bool:
        # Past the window, applying the plan also closes the migration: those with no
        # activity stay without finance access, and the org has nothing left to migrate.
        return self.window.ended

    @property
    def enrolments(self) -> tuple[PlanEntry, ...]:
        return tuple(e for e in self.users if e.outcome == "enrol")

    def counts(self) -> dict[str, int]:
        return {o: sum(1 for e in self.users if e.outcome == o) for o in OUTCOMES}

    def to_dict(self) -> dict[str, Any]:
        plan: dict[str, Any] = {
            "kind": PLAN_KIND,
            "format": PLAN_FORMAT,
            "org": self.org,
            "org_version": self.org_version,
            "policy_version": self.policy_version,
            "as_of": str(self.as_of),
            "window": self.window.to_dict(),
            "limit": self.limit,
            "integration_users_before": self.integration_users_before,
            "usage": self.usage,
            "completes": self.completes,
            "counts": self.counts(),
            "enrolments": [{"user": e.user, "product": e.product} for e in self.enrolments],
            "users": [e.to_dict() for e in self.users],
        }
        plan["plan_id"] = plan_id(plan)
        return plan


def make_plan(
    engine: Engine,
    usage: Iterable[Activity],
    as_of: date,
    org_version: int,
    usage_source: str = "",
) -> Plan:
    """Raises MigrationError for an org the migration does not apply to, or one with nothing
    left to migrate; otherwise the plan."""
    org = engine.org
    if org.migration.completed_on is not None:
        raise MigrationError(
            f"org `{org.id}` has nothing left to migrate: its migration was completed on "
            f"{org.migration.completed_on}"
        )
    _check_org_may_migrate(engine)
    window = window_of(org, as_of)
    activity = _activity_in_window(usage, window, as_of)
    label = engine.policies.catalogue.label
    products = org_products(org, engine.policies.catalogue)  # once: it reads every user
    entries = [
        _entry(user, product, label(product), activity.get((user.id, product)), window)
        for user in org.users
        for product in products
    ]
    if all(e.outcome in ("member", "enrolled") for e in entries):
        raise MigrationError(
            f"org `{org.id}` has nothing left to migrate: every user already holds a seat in "
            "every product the org runs"
        )
    return Plan(
        org=org.id,
        org_version=org_version,
        policy_version=engine.version,
        as_of=as_of,
        window=window,
        limit=org.migration.limit,
        integration_users_before=org.integration_users,
        usage=usage_source,
        users=tuple(_within_limit(entries, org, label)),
    )


def _entry(
    user: User, product: str, name: str, used: tuple[int, date] | None, window: Window
) -> PlanEntry:
    """The outcome for one user in one product, before the limit is applied."""
    member = next((m for m in user.memberships if m.product == product), None)
    enrolment = next((e for e in user.enrolments if e.product == product), None)
    if member is not None:
        return PlanEntry(
            user.id,
            product,
            "member",
            f"already a member of {name} (role `{member.role}`): keeps their own seat",
        )
    if enrolment is not None:
        by = "the migration" if enrolment.source == "migration" else "an admin"
        on = f" on {enrolment.enrolled_on}" if enrolment.enrolled_on else ""
        return PlanEntry(
            user.id,
            product,
            "enrolled",
            f"already an integration user of {name} (enrolled{on} by {by})",
        )
    if used is not None:
        events, last = used
        return PlanEntry(
            user.id,
            product,
            "enrol",
            f"used {name} in the window ({events} events, last on {last}): "
            "becomes its integration user",
            events,
        )
    if window.ended:
        return PlanEntry(
            user.id,
            product,
            "none",
            f"no {name} activity in the window ({window.start} to "
            f"{window.end - timedelta(days=1)}): left without {name} access",
        )
    return PlanEntry(
        user.id,
        product,
        "pending",
        f"no {name} activity since the window opened on {window.start}: "
        f"enrolled automatically only if they use {name} before {window.end}",
    )


def _within_limit(
    entries: list[PlanEntry], org: Org, label: Callable[[str], str]
) -> list[PlanEntry]:
    """The limit (D12) admits the most active first; ties by user id, so a plan is
    reproducible. R1: a user already counted (enrolled in another product, or admitted for one
    just now) takes no room; anybody else takes one place while places are left."""
    before = org.integration_users
    room = max(org.migration.limit - before, 0)
    counted = {u.id for u in org.users if u.enrolments}
    candidates = sorted(
        (i for i, e in enumerate(entries) if e.outcome == "enrol"),
        key=lambda i: (-(entries[i].events or 0), entries[i].user, entries[i].product),
    )
    out = list(entries)
    for i in candidates:
        entry = entries[i]
        if entry.user in counted:
            continue
        if room > 0:
            room -= 1
            counted.add(entry.user)
            continue
        out[i] = replace(
            entry,
            outcome="over_limit",
            reason=f"used {label(entry.product)} in the window, but the org's limit of "
            f"{org.migration.limit:,} integration users is reached ({before:,} before this "
            "plan, however enrolled): raising it needs the vendor's support",
        )
    return out


def plan_id(plan: dict[str, Any]) -> str:
    """A digest of everything a plan decides (not of its impact report, which it explains)."""
    body = {k: v for k, v in plan.items() if k not in ("plan_id", "impact", "signature")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


PLAN_KEY = "migration-plans"  # the store secret plans are signed with


def signature(key: bytes, plan: dict[str, Any]) -> str:
    """An HMAC of the plan's id under the store's key: a plan_id anyone can recompute after an
    edit; this, only a holder of the store can."""
    return hmac.new(key, str(plan.get("plan_id", "")).encode(), hashlib.sha256).hexdigest()


def _activity_in_window(
    usage: Iterable[Activity], window: Window, as_of: date
) -> dict[tuple[str, str], tuple[int, date]]:
    """(user, product) -> (events, last day used), counting only use inside the window and on
    or before the as-of date."""
    until = min(window.end, as_of + timedelta(days=1))
    out: dict[tuple[str, str], tuple[int, date]] = {}
    for a in usage:
        if a.events > 0 and window.start <= a.last_used < until:
            events, last = out.get((a.user, a.product), (0, a.last_used))
            out[(a.user, a.product)] = (events + a.events, max(last, a.last_used))
    return out


def _check_org_may_migrate(engine: Engine) -> None:
    """Ask the engine itself whether this org may run a migration at all (the rollout, new
    orgs: D12), as one of its CRM admins would, so the policies stay the one place it is said."""
    org = engine.org
    admin = next((u.id for u in org.users if u.crm_admin), None)
    if admin is None:
        raise MigrationError(f"org `{org.id}` has no CRM admin, and only a CRM admin may migrate")
    decision = engine.decide(
        Request(admin, "run_migration", "org", org.id, context={"enrolments": 0})
    )
    if not decision.allowed:
        raise MigrationError(
            f"org `{org.id}` cannot be migrated: " + "; ".join(decision.reasons or decision.errors)
        )
