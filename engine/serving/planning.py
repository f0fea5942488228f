"""Whether a served org's policy set plans: what /readyz shows beside the class cache.

A plan is made per request (engine/core/plan.py), and whether the planner can follow the
policies depends on what the request leaves for Cedar to read of the record: a policy the
user's seats already rule out leaves no residual. So the probe asks, for the org's user with
the most seats (the one whose requests reach the most policies), every record action on every
record type: about 80 plans, 2.5 ms each on the demo org, once per served engine, when first
asked. A request the probe did not cover can still be unplannable; the server then answers it
record by record (search) or with a 422 (plan), and /readyz says so from then on.
"""

from __future__ import annotations

from dataclasses import dataclass

from suite_authz.engine.core.catalogue import RECORD_ACTIONS
from suite_authz.engine.core.decide import Engine
from suite_authz.engine.core.plan import Unplannable
from suite_authz.engine.core.request import Request


@dataclass(frozen=True, slots=True)
class PlanStatus:
    on: bool  # every probe planned
    reason: str  # what was probed, or why a request did not plan


def plan_status(engine: Engine) -> PlanStatus:
    """Every record action on every record type, planned for the org's user with the most
    seats; the first that does not plan names why."""
    index = engine.index
    if not index.users:
        return PlanStatus(True, "the org has no users: every plan admits nothing")
    user = max(index.users, key=lambda u: len(index.seats.get(u, ())))
    for kind in sorted(engine.policies.catalogue.modules):
        for action in RECORD_ACTIONS:
            try:
                engine.plan(Request(user, action, kind))
            except Unplannable as exc:
                return PlanStatus(False, f"`{action}` on `{kind}` (as `{user}`): {exc}")
    return PlanStatus(True, f"every record action on every record type plans (as `{user}`)")
