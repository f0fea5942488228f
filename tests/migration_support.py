"""Shared by the migration tests: the legacy example in a fresh store, plans made on it."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.migration.run import plan_org
from suite_authz.engine.store.org_store import OrgStore
from tests.conftest import POLICIES

LEGACY = POLICIES / "examples" / "legacy-org.json"
USAGE = POLICIES / "examples" / "legacy-usage.csv"
IN_WINDOW = date(2026, 11, 25)
AFTER_WINDOW = date(2027, 1, 2)


def legacy_store(tmp_path: Path, policies: PolicySet, text: str | None = None) -> OrgStore:
    store = OrgStore(tmp_path / "orgs.sqlite3")
    store.import_snapshot(text or LEGACY.read_text(), policies.catalogue)
    return store


def outcomes(plan: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(e["user"], e["product"]): e["outcome"] for e in plan["users"]}


def legacy_plan(
    store: OrgStore, policies: PolicySet, on: date = IN_WINDOW, impact: bool = False
) -> dict[str, Any]:
    return plan_org(store, policies, "legacy", USAGE, on, impact)
