"""D12: moving an org from the admin-borrowed model to per-user rights.

usage.py reads finance activity, plan.py decides who becomes what, impact.py compares each
user's rights in the old model (policies/legacy) with the new, apply.py writes a plan to the
org store in one transaction.
"""

from suite_authz.engine.errors import AuthzError, Conflict, Refused


class MigrationError(AuthzError):
    """A migration that cannot be planned or applied as asked; nothing is changed."""


class MigrationRefused(MigrationError, Refused):
    """The engine denied the migration or an enrolment (D12): a deny, recorded in the audit."""


class StalePlan(MigrationError, Conflict):
    """The org changed since the plan was made: make a new plan."""
