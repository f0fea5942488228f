"""Whether a served org's policy set plans: what /readyz shows beside the class cache.

Read from the policies before any request (engine/review/plannable.py: a record read the
planner does not follow, such as `like` on `resource.title`, names its policy), and from the
backend (plans come from Cedar's partial evaluation: the Polar backend plans nothing). A set
that does not plan still decides: its record searches ask record by record, and a plan
request is a 422.
"""

from __future__ import annotations

from dataclasses import dataclass

from suite_authz.engine.core.backends.cedar import CedarBackend
from suite_authz.engine.core.decide import Engine
from suite_authz.engine.review.plannable import why_unplannable


@dataclass(frozen=True, slots=True)
class PlanStatus:
    on: bool  # the policy set plans, on this engine's backend
    reason: str  # what was checked, or why it does not plan


def plan_status(engine: Engine) -> PlanStatus:
    backend = engine.backend
    if not isinstance(backend, CedarBackend):
        return PlanStatus(False, f"the {backend.name} backend does not plan: plans come from Cedar")
    why = why_unplannable(engine.policies.deciding.items())
    if why is not None:
        return PlanStatus(False, why)
    return PlanStatus(True, "every policy reads a record only in ways the planner follows")
