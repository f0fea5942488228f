"""authz validate: the policy set against its schema (strict), and an org if given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from suite_authz.cli.exits import BAD_INPUT, CommandFailed
from suite_authz.cli.loading import OrgRef, org_source
from suite_authz.cli.options import format_option, org_option, policies_option, store_option
from suite_authz.engine.core import AuthzError, load_org
from suite_authz.engine.sources import PolicyRef, resolve_policies
from suite_authz.engine.store import StoreLocation


@click.command()
@policies_option
@org_option(required=False, help="Also validate this org.")
@store_option
@format_option()
def validate(
    policies: PolicyRef, org: OrgRef | None, store_path: StoreLocation | None, output_format: str
) -> None:
    """Validate policies (file, line and policy id of each problem) and optionally an org.
    Every problem is reported, each with its place; exit 2 when there is any."""
    result: dict[str, Any] = {"valid": False, "policies": None, "org": None, "problems": []}
    try:
        loaded_set = resolve_policies(policies).policies
        permits = sum(1 for p in loaded_set.policies.values() if p.effect == "permit")
        result["policies"] = {
            "directory": str(loaded_set.directory),
            "version": loaded_set.version,
            "policies": len(loaded_set.policies),
            "permits": permits,
            "forbids": len(loaded_set.policies) - permits,
            "files": len(loaded_set.texts),
        }
        if org is not None:
            source, where = org_source(org, store_path)
            loaded = load_org(
                source, loaded_set.catalogue, where if isinstance(source, str) else ""
            )
            result["org"] = {
                "id": loaded.id,
                "users": len(loaded.users),
                "records": len(loaded.records),
                "from": where,
            }
    except (AuthzError, CommandFailed) as exc:
        if output_format != "json":
            _text(result)
            raise exc if isinstance(exc, CommandFailed) else CommandFailed(exc) from None
        result["problems"] = list(exc.problems)
        click.echo(json.dumps(result, indent=2))
        raise SystemExit(BAD_INPUT) from None
    result["valid"] = True
    if output_format == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        _text(result)


def _text(result: dict[str, Any]) -> None:
    p, o = result["policies"], result["org"]
    if p is not None:
        click.echo(
            f"ok: {p['policies']} policies ({p['permits']} permit, {p['forbids']} forbid) in "
            f"{p['files']} files validate against {Path(p['directory']).name}/"
            f"schema.cedarschema; version {p['version']}"
        )
    if o is not None:
        click.echo(
            f"ok: org `{o['id']}` ({o['users']} users, {o['records']} records) from {o['from']}"
        )
