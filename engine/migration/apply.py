"""Apply a migration plan to the org store: all of it in one transaction, or nothing.

Order of checks, each of which refuses with the org untouched:
1. the plan is a plan, and its `plan_id` matches its content (no hand edits);
2. a plan already applied to this org changes nothing and says when it was applied;
3. in the transaction (BEGIN IMMEDIATE, so two applies cannot interleave): the stored version is
   the one the plan was made against (else the plan is stale);
4. the engine decides `run_migration` for the whole plan (the limit and CRM-admin rules live in
   the policies, D12) and `enrol_integration_user` for each enrolment, as the acting admin;
5. the org as the plan leaves it validates whole; it is written as the next version with one
   audit entry naming who applied what, when, and every decision taken.
A refusal at 4 is itself written to the audit table, after the rollback.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from suite_authz.engine.core.decide import Engine
from suite_authz.engine.core.decision import Decision
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.core.request import Request
from suite_authz.engine.migration.errors import MigrationError, MigrationRefused, StalePlan
from suite_authz.engine.migration.plan import PLAN_FORMAT, PLAN_KEY, PLAN_KIND, plan_id, signature
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.engine.store.signing import Signer

APPLIED = "migration.apply"
REFUSED = "migration.refused"


@dataclass(frozen=True, slots=True)
class Applied:
    org: str
    plan_id: str
    changed: bool  # False: this plan had been applied already
    version: int  # the org's version after
    enrolled: int
    at: str
    actor: str


def check_plan(plan: Any) -> dict[str, Any]:
    """The plan if it is one of ours and unedited; MigrationError naming what is wrong."""
    if not isinstance(plan, dict):
        raise MigrationError(f"plan: must be a JSON object, got {type(plan).__name__}")
    if plan.get("kind") != PLAN_KIND or plan.get("format") != PLAN_FORMAT:
        raise MigrationError(
            f"plan: not a migration plan (kind must be `{PLAN_KIND}`, format {PLAN_FORMAT}): "
            "make one with `authz migrate plan --format json`"
        )
    for key, kind in (
        ("org", str),
        ("org_version", int),
        ("as_of", str),
        ("completes", bool),
        ("enrolments", list),
        ("plan_id", str),
    ):
        if not isinstance(plan.get(key), kind):
            raise MigrationError(f"plan.{key}: missing or not a {kind.__name__}")
    if plan_id(plan) != plan["plan_id"]:
        raise MigrationError(
            "plan: its content does not match its plan_id: it was edited after it was made; "
            "make a new plan instead"
        )
    return plan


def planned_snapshot(data: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """The org snapshot (decoded JSON) as the plan leaves it; `data` is not changed."""
    out: dict[str, Any] = json.loads(json.dumps(data))
    by_id = {u["id"]: u for u in out.get("users", [])}
    for e in plan["enrolments"]:
        user = by_id.get(e.get("user")) if isinstance(e, dict) else None
        if user is None:
            raise MigrationError(f"plan.enrolments: `{e}` names no user of org `{plan['org']}`")
        user.setdefault("enrolments", []).append(
            {"product": e["product"], "source": "migration", "enrolled_on": plan["as_of"]}
        )
    if plan["completes"]:
        out.setdefault("migration", {})["completed_on"] = plan["as_of"]
    return out


DecisionSink = Callable[[list[tuple[Request, Decision]]], None]


def apply_plan(
    store: OrgStore,
    policies: PolicySet,
    plan: Any,
    actor: str,
    log: DecisionSink | None = None,
    signer: Signer | None = None,
) -> Applied:
    """`log` is given every decision the engine took for this apply (allowed or not), before
    anything is written: the caller's decision log. `signer`: the migrated org is stored
    signed (engine/store/signing.py), else unsigned."""
    plan = check_plan(plan)
    given = plan.get("signature")
    if not isinstance(given, str) or not hmac.compare_digest(
        given, signature(store.secret(PLAN_KEY), plan)
    ):
        # a plan_id is a plain sha256 anyone can recompute after editing a plan: only a plan
        # signed with this store's key was made from this store's org and usage
        raise MigrationError(
            "plan: not signed by this store: it was edited, or made over another store; "
            "make a new plan with `authz migrate plan`"
        )
    org_id = plan["org"]
    for e in store.audit(org_id, APPLIED):
        if e.detail.get("plan_id") == plan["plan_id"]:
            return Applied(org_id, plan["plan_id"], False, store.version(org_id), 0, e.at, e.actor)
    refusal: tuple[str, dict[str, Any]] | None = None
    with store.transaction() as db:
        version, text = store.snapshot(org_id, db)
        if version != plan["org_version"]:
            raise StalePlan(
                f"plan is stale: it was made against version {plan['org_version']} of org "
                f"`{org_id}`, and the store holds version {version}; make a new plan"
            )
        data = json.loads(text)
        engine = Engine(policies, load_org(data, policies.catalogue, f"org `{org_id}`"))
        decisions = _decide(engine, plan, actor)
        if log is not None:
            log(decisions)
        denied = [(r, d) for r, d in decisions if not d.allowed]
        if denied:
            refusal = _refusal(denied)
        else:
            after = planned_snapshot(data, plan)
            load_org(after, policies.catalogue, f"org `{org_id}` after the plan")
            new_version = store.replace_snapshot(
                db, org_id, json.dumps(after, indent=2, ensure_ascii=False) + "\n", version, signer
            )
            store.append_audit(
                db, org_id, actor, APPLIED, _detail(plan, decisions, version, new_version)
            )
    if refusal is not None:
        message, detail = refusal
        with store.transaction() as db:
            store.append_audit(db, org_id, actor, REFUSED, {"plan_id": plan["plan_id"], **detail})
        raise MigrationRefused(message)
    entry = store.audit(org_id, APPLIED)[-1]
    return Applied(
        org_id, plan["plan_id"], True, new_version, len(plan["enrolments"]), entry.at, actor
    )


def _decide(engine: Engine, plan: dict[str, Any], actor: str) -> list[tuple[Request, Decision]]:
    """D12 as the policies say it: the migration as a whole, then each enrolment."""
    requests = [
        Request(
            actor,
            "run_migration",
            "org",
            plan["org"],
            # R1: the limit counts users, so the migration adds those not yet integration users.
            context={
                "enrolments": engine.org.new_integration_users(
                    [(str(e.get("user")), str(e.get("product"))) for e in plan["enrolments"]]
                )
            },
        )
    ]
    requests += [
        Request(
            actor,
            "enrol_integration_user",
            "user",
            str(e.get("user")),
            context={"product": str(e.get("product"))},
        )
        for e in plan["enrolments"]
    ]
    return list(zip(requests, engine.decide_many(requests), strict=True))


def _summary(request: Request, decision: Decision) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action": request.action,
        "resource": request.resource,
        "decision": decision.decision,
        "policies": list(decision.policies),
    }
    if "product" in request.context:
        out["product"] = request.context["product"]
    if not decision.allowed or request.action == "run_migration":
        out["reasons"] = list(decision.reasons or decision.errors)
    return out


def _detail(
    plan: dict[str, Any], decisions: list[tuple[Request, Decision]], before: int, after: int
) -> dict[str, Any]:
    return {
        "plan_id": plan["plan_id"],
        "as_of": plan["as_of"],
        "version_before": before,
        "version_after": after,
        "completes": plan["completes"],
        "enrolments": plan["enrolments"],
        "policy_version": decisions[0][1].policy_version,
        "decisions": [_summary(r, d) for r, d in decisions],
    }


def _refusal(denied: list[tuple[Request, Decision]]) -> tuple[str, dict[str, Any]]:
    first_request, first = denied[0]
    what = (
        "the migration"
        if first_request.action == "run_migration"
        else f"enrolling `{first_request.resource_id}` in {first_request.context['product']}"
    )
    message = f"refused: {what}: " + "; ".join(first.reasons or first.errors)
    if len(denied) > 1:
        message += f" (and {len(denied) - 1} more refusals)"
    return message, {"refused": [_summary(r, d) for r, d in denied]}
