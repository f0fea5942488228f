"""D12: moving an org from the admin-borrowed model to per-user rights.

usage.py reads finance activity, plan.py decides who becomes what, impact.py compares each
user's rights in the old model (policies/legacy) with the new, apply.py writes a plan to the
org store in one transaction, run.py ties them to a store, errors.py says how each refuses.

This `__init__` is the room's front door: the names adapters may import from it.
"""

from typing import TYPE_CHECKING

from suite_authz.engine.lazy_door import lazy_door

if TYPE_CHECKING:
    from suite_authz.engine.migration.apply import apply_plan
    from suite_authz.engine.migration.errors import MigrationError, MigrationRefused, StalePlan
    from suite_authz.engine.migration.run import migration_history, plan_org

__getattr__, __dir__ = lazy_door(__name__, __file__)

__all__ = [
    "MigrationError",
    "MigrationRefused",
    "StalePlan",
    "apply_plan",
    "migration_history",
    "plan_org",
]
