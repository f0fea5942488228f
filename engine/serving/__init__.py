"""What a server serves, without the server: the served set, its decision log, search.

served_set (`ServedSet`: the policy version and the engines per org, built by pure loaders,
with typed refusals), decision_log (one line per decision, masked, and the one JSON encoder
`json_bytes`), search (AuthZEN's search endpoints, over an engine; a record search from the
query plan), planning (whether a served policy set plans, for /readyz).

This `__init__` is the room's front door: the names adapters may import from it.
"""

from typing import TYPE_CHECKING

from suite_authz.engine.lazy_door import lazy_door

if TYPE_CHECKING:
    from suite_authz.engine.serving.decision_log import (
        DecisionLog,
        as_evaluation,
        decision_sink,
        json_bytes,
    )
    from suite_authz.engine.serving.planning import PlanStatus, plan_status
    from suite_authz.engine.serving.search import Found, search_page
    from suite_authz.engine.serving.served_set import (
        Cause,
        LoadOptions,
        NotServed,
        Refusal,
        ServedSet,
        compacted,
        load_served,
        needs_compacting,
        next_orgs,
        next_policies,
    )
    from suite_authz.engine.serving.shards import MAX_SHARDS, OrgSelection, Shard, shard_of

__getattr__, __dir__ = lazy_door(__name__, __file__)

__all__ = [
    "MAX_SHARDS",
    "Cause",
    "DecisionLog",
    "Found",
    "LoadOptions",
    "NotServed",
    "OrgSelection",
    "PlanStatus",
    "Refusal",
    "ServedSet",
    "Shard",
    "as_evaluation",
    "compacted",
    "decision_sink",
    "json_bytes",
    "load_served",
    "needs_compacting",
    "next_orgs",
    "next_policies",
    "plan_status",
    "search_page",
    "shard_of",
]
