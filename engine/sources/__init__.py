"""Where a policy set comes from: a directory, the shipped set, a store version, a git revision.

policy_ref (`PolicyRef`: parse a reference, resolve it to a policy set), revisions (a git
revision's policies/ read from the object store, never checked out).

This `__init__` is the room's front door: the names adapters may import from it.
"""

from typing import TYPE_CHECKING

from suite_authz.engine.lazy_door import lazy_door

if TYPE_CHECKING:
    from suite_authz.engine.sources.policy_ref import (
        PolicyRef,
        Resolved,
        Source,
        check_directory,
        history_names,
        resolve_catalogue,
        resolve_policies,
    )

__getattr__, __dir__ = lazy_door(__name__, __file__)

__all__ = [
    "PolicyRef",
    "Resolved",
    "Source",
    "check_directory",
    "history_names",
    "resolve_catalogue",
    "resolve_policies",
]
