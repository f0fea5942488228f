"""The migration as the CLI and the sidecar ask for it: plan (with its impact) and apply, on an
org in the store. Both adapters call these and only print or serve what comes back."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from suite_authz.engine.core.decide import Engine
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet, build_policies, default_policies_dir
from suite_authz.engine.core.policy_files import read_source
from suite_authz.engine.migration.apply import planned_snapshot
from suite_authz.engine.migration.errors import MigrationError
from suite_authz.engine.migration.impact import impact
from suite_authz.engine.migration.plan import PLAN_KEY, make_plan, signature
from suite_authz.engine.migration.usage import Activity, load_usage
from suite_authz.engine.store.org_store import AuditEntry, OrgStore

LEGACY_DIR = "legacy"


def load_legacy(policies: PolicySet) -> PolicySet:
    """The old model (policies/legacy beside the served set), to compare against; a published
    set has no directory beside it, so the shipped old model stands in."""
    beside = policies.directory / LEGACY_DIR
    if not beside.is_dir():
        beside = default_policies_dir() / LEGACY_DIR
    source = read_source(beside)
    # Parsed once per content: every plan with an impact report asks for it.
    key = (source.directory, source.digest())
    if key not in _LEGACY:
        _LEGACY.clear()  # one old model at a time is all a process uses
        _LEGACY[key] = build_policies(source)
    return _LEGACY[key]


_LEGACY: dict[tuple[Path, str], PolicySet] = {}


def plan_org(
    store: OrgStore,
    policies: PolicySet,
    org_id: str,
    usage: Path | str | list[Any] | None,
    as_of: date,
    with_impact: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """`progress(done, total)` after each stage: on a large org, reading it into entities and
    the impact's two models are seconds each."""
    stages = 4 if with_impact else 2
    step = progress or (lambda done, total: None)
    version, text = store.snapshot(org_id)
    org = load_org(text, policies.catalogue, f"org `{org_id}`")
    engine = Engine(policies, org)
    step(1, stages)
    activity: list[Activity] = (
        load_usage(usage, org, policies.catalogue) if usage is not None else []
    )
    source = str(usage) if isinstance(usage, Path) else ("inline" if usage else "none")
    try:
        plan = make_plan(engine, activity, as_of, version, source).to_dict()
    except OverflowError:  # a window or a count of days past year 9999
        raise MigrationError(
            f"as_of: `{as_of}` is out of the range of dates a plan covers"
        ) from None
    plan["signature"] = signature(store.secret(PLAN_KEY), plan)
    step(2, stages)
    if with_impact:
        legacy = Engine(load_legacy(policies), org, index=engine.index)
        after = load_org(planned_snapshot(json.loads(text), plan), policies.catalogue)
        planned = Engine(policies, after)
        step(3, stages)
        plan["impact"] = impact(legacy, planned)
        step(4, stages)
    return plan


def migration_history(store: OrgStore, org_id: str) -> list[AuditEntry]:
    store.version(org_id)  # an unknown org is an error, not an empty history
    return [e for e in store.audit(org_id) if e.action.startswith("migration.")]
