"""The decision core: the org and the request in, one decision out.

model (an org's facts), request (what is asked), catalogue (the actions and record types),
policies and policy_files (a policy set, checked against the schema), decide (`Engine`, whose
`decide` is the one entry point), backends (Cedar, and Polar as the second encoding),
explain (the reason a decision gives), cache (decisions kept per class of request),
errors (every refusal a kind of `AuthzError`), reading (files and JSON texts given to the
engine), suggestions (did-you-mean for an unknown id).

This `__init__` is the room's front door: the names adapters may import from it.
"""

from typing import TYPE_CHECKING

from suite_authz.engine.lazy_door import lazy_door

if TYPE_CHECKING:
    from suite_authz.engine.core.backends.cedar_eval import ClassCacheStatus
    from suite_authz.engine.core.cache import DecisionCache
    from suite_authz.engine.core.catalogue import RECORD_ACTIONS, Catalogue
    from suite_authz.engine.core.decide import BACKENDS, Engine
    from suite_authz.engine.core.decision import ActingAs, Decision
    from suite_authz.engine.core.errors import (
        AuthzError,
        Conflict,
        InvalidOrg,
        InvalidRequest,
        PolicyError,
        Refused,
        Unavailable,
        one_line,
    )
    from suite_authz.engine.core.model import Org, load_org
    from suite_authz.engine.core.plan import Plan, Unplannable
    from suite_authz.engine.core.policies import (
        PolicySet,
        build_policies,
        default_policies_dir,
        is_installed_copy,
        load_policies,
    )
    from suite_authz.engine.core.policy_files import policy_stamp, read_source
    from suite_authz.engine.core.reading import read_file, strict_loads
    from suite_authz.engine.core.request import (
        NEW_RECORD_ID,
        Request,
        context_value,
        parse_resource,
    )

__getattr__, __dir__ = lazy_door(__name__, __file__)

__all__ = [
    "BACKENDS",
    "NEW_RECORD_ID",
    "RECORD_ACTIONS",
    "ActingAs",
    "AuthzError",
    "Catalogue",
    "ClassCacheStatus",
    "Conflict",
    "Decision",
    "DecisionCache",
    "Engine",
    "InvalidOrg",
    "InvalidRequest",
    "Org",
    "Plan",
    "PolicyError",
    "PolicySet",
    "Refused",
    "Request",
    "Unavailable",
    "Unplannable",
    "build_policies",
    "context_value",
    "default_policies_dir",
    "is_installed_copy",
    "load_org",
    "load_policies",
    "one_line",
    "parse_resource",
    "policy_stamp",
    "read_file",
    "read_source",
    "strict_loads",
]
