"""authz validate: the policy set against its schema (strict), and an org snapshot if given."""

from __future__ import annotations

from pathlib import Path

import click

from cli.exits import Trouble
from cli.loading import OrgRef, load_org_ref
from cli.options import org_option, policies_option, store_option
from engine import AuthzError
from engine.policies import load_policies


@click.command()
@policies_option
@org_option(required=False, help="Also validate this org.")
@store_option
def validate(policies_dir: Path, org: OrgRef | None, store_path: Path | None) -> None:
    """Validate policies (file, line and policy id of each problem) and optionally an org."""
    try:
        policies = load_policies(policies_dir)
    except AuthzError as exc:
        raise Trouble(exc) from None
    permits = sum(1 for p in policies.policies.values() if p.effect == "permit")
    click.echo(
        f"ok: {len(policies.policies)} policies ({permits} permit, "
        f"{len(policies.policies) - permits} forbid) in {len(policies.texts)} files validate "
        f"against {policies.directory.name}/schema.cedarschema; version {policies.version}"
    )
    if org is not None:
        loaded = load_org_ref(org, store_path, policies)
        click.echo(
            f"ok: org `{loaded.id}` ({len(loaded.users)} users, {len(loaded.records)} records) "
            f"from {org.file or 'the store'}"
        )
