"""How a migration refuses: each a kind of the engine's errors, so every adapter maps it alike."""

from suite_authz.engine.core.errors import AuthzError, Conflict, Refused


class MigrationError(AuthzError):
    """A migration that cannot be planned or applied as asked; nothing is changed."""


class MigrationRefused(MigrationError, Refused):
    """The engine denied the migration or an enrolment (D12): a deny, recorded in the audit."""


class StalePlan(MigrationError, Conflict):
    """The org changed since the plan was made: make a new plan."""
