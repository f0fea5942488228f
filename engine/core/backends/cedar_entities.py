"""Cedar's parsed entities for an org: the shared index's entity JSON, parsed once.

Handing entities to Cedar: the whole org is parsed once into one `cedarpy.Entities` handle and
reused for every request. `make bench` measures that the per-request cost stays flat from the
demo org to 110,000 entities, so no per-request slicing is needed (slicing would cost a parse
of the slice on every request).

Only the Cedar backend asks for the handle, so an engine on Polar never builds it. It is kept
for as long as its index lives, one per schema: the migration's impact asks the old model
(policies/legacy, which borrows the served set's schema) over the same index, and so shares the
parse.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from weakref import WeakKeyDictionary

import cedarpy

from suite_authz.engine.core.entities import OrgIndex, org_entities
from suite_authz.engine.core.errors import InvalidOrg
from suite_authz.engine.core.policies import PolicySet

_PARSED: WeakKeyDictionary[OrgIndex, dict[str, Any]] = WeakKeyDictionary()
_LOCK = threading.Lock()


def cedar_entities(index: OrgIndex, policies: PolicySet) -> Any:
    """The `cedarpy.Entities` of the index's org, parsed against the set's schema."""
    with _LOCK:
        by_schema = _PARSED.setdefault(index, {})
        handle = by_schema.get(policies.schema_text)
    if handle is None:
        # Parsed outside the lock: a big org takes seconds, and two engines of different orgs
        # must not wait on each other. Two threads on one index may both parse; one is kept.
        handle = _parse(index, policies)
        with _LOCK:
            handle = by_schema.setdefault(policies.schema_text, handle)
    return handle


def entity_count(index: OrgIndex) -> int:
    return sum(1 for _ in org_entities(index.org, index.catalogue))


# Entities dumped to JSON so many at a time: one json.dumps call holds the GIL to its end,
# and a server answers on another thread meanwhile (tests/unit/test_reload_latency.py).
DUMP_CHUNK = 2000


def entities_json(index: OrgIndex) -> str:
    """The org's entities as one JSON array, built a few thousand entities per C call."""
    parts: list[str] = []
    chunk: list[dict[str, Any]] = []
    for entity in org_entities(index.org, index.catalogue):
        chunk.append(entity)
        if len(chunk) == DUMP_CHUNK:
            parts.append(json.dumps(chunk)[1:-1])
            chunk = []
    if chunk:
        parts.append(json.dumps(chunk)[1:-1])
    return "[" + ",".join(parts) + "]"


def _parse(index: OrgIndex, policies: PolicySet) -> Any:
    try:
        # release_gil: Cedar's parse of a big org takes seconds, and answers must not wait
        return cedarpy.Entities.from_json_str(
            entities_json(index), policies.schema, release_gil=True
        )
    except ValueError as exc:  # the model's checks should make this unreachable
        raise InvalidOrg(f"org `{index.org.id}` does not fit the policy schema: {exc}") from None
