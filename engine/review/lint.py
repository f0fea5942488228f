"""Lint a policy set: everything load refuses, plus what a reviewer should not have to spot.

Findings name file, line and policy id, sorted, like the load errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cedarpy

from suite_authz.engine.core.errors import PolicyError
from suite_authz.engine.core.policies import (
    default_policies_dir,
    inspect_texts,
    missing_obligations,
)
from suite_authz.engine.core.policy_files import SCHEMA_FILE, PolicySource, read_source

DETAILS = ("hidden_fields", "readonly_fields", "profile")
# "borrowed": the old model's seat, the integration owner's (policies/legacy only).
SEATS = ("member", "integration", "admin", "borrowed")


def lint_policies(directory: Path | None = None) -> list[str]:
    directory = (directory or default_policies_dir()).resolve()
    try:
        source = read_source(directory)
    except PolicyError as exc:
        return [str(exc)]
    return lint_source(source)


def lint_source(source: PolicySource) -> list[str]:
    """The findings for a set already read (what `authz policy publish` refuses on)."""
    try:
        schema = cedarpy.Schema.from_str(source.schema)
    except ValueError as exc:
        return [f"{SCHEMA_FILE}: cannot use the schema: {exc}"]
    findings, infos, static = inspect_texts(source.directory, source.cedar, schema)
    if source.servable:
        findings += missing_obligations(infos)
    for key, info in infos.items():
        where = f"{info.file}:{info.line}: {info.label}"
        est = static[key]
        if info.obligation is not None:
            if info.product or info.seat:
                findings.append(f"{where}: an @obligation grants nothing: no @product or @seat")
        elif info.effect == "permit":
            if not _conditions_on(est, ("principal", "resource")):
                findings.append(f"{where}: a permit with no condition on principal or resource")
            if info.seat not in SEATS or not info.product:
                findings.append(f"{where}: a permit needs @product and @seat ({', '.join(SEATS)})")
        else:
            if not info.missing:
                findings.append(f"{where}: a forbid needs @missing: what would have been needed")
        if info.detail is not None and info.detail not in DETAILS:
            findings.append(f"{where}: @detail `{info.detail}` is not one of {', '.join(DETAILS)}")
    return sorted(set(findings))


def _conditions_on(est: dict[str, Any], variables: tuple[str, ...]) -> bool:
    """Does the policy constrain any of these variables, in its scope or its conditions?"""
    for var in variables:
        if est.get(var, {}).get("op", "All") != "All":
            return True
    return any(_mentions(c.get("body"), variables) for c in est.get("conditions", []))


def _mentions(node: Any, variables: tuple[str, ...]) -> bool:
    if isinstance(node, dict):
        if node.get("Var") in variables:
            return True
        return any(_mentions(v, variables) for v in node.values())
    if isinstance(node, list):
        return any(_mentions(v, variables) for v in node)
    return False
