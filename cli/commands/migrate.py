"""authz migrate plan | apply | history: D12's move of an org off the admin-borrowed model."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from suite_authz.cli.commands.keys import signer_from, signing_key_option
from suite_authz.cli.exits import DENY, CommandFailed
from suite_authz.cli.options import (
    decision_log_option,
    format_option,
    served_policies_option,
    store_option,
    stored_org_option,
)
from suite_authz.cli.render_plan import render_impact, render_plan
from suite_authz.cli.terminal import progress
from suite_authz.engine.core import AuthzError, read_file, strict_loads
from suite_authz.engine.migration import MigrationRefused, apply_plan, migration_history, plan_org
from suite_authz.engine.serving import DecisionLog, decision_sink
from suite_authz.engine.sources import PolicyRef, resolve_policies
from suite_authz.engine.store import OrgStore, StoreLocation

org_id_option = stored_org_option("a migration", help="The org's id in the store.")


@click.group()
def migrate() -> None:
    """Move an org from the admin-borrowed model to per-user rights (D12)."""


@migrate.command()
@org_id_option
@store_option
@served_policies_option
@click.option(
    "--usage",
    type=click.Path(path_type=Path),
    help="Finance-module activity per user: CSV (user,product,module,events,last_used) or JSON.",
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day the plan is for (default: today, UTC): decides whether the window has ended.",
)
@click.option("--impact", is_flag=True, help="Also compare every user's rights, old and new.")
@click.option("--out", type=click.Path(path_type=Path), help="Also write the plan (JSON) here.")
@format_option()
def plan(
    org_id: str,
    store_path: StoreLocation | None,
    policies: PolicyRef,
    usage: Path | None,
    as_of: datetime | None,
    impact: bool,
    out: Path | None,
    output_format: str,
) -> None:
    """Who becomes an integration user of which product, who stays a member, who gets nothing,
    and why. The plan (JSON) is what `authz migrate apply` takes."""
    day = as_of.date() if as_of else datetime.now(UTC).date()
    try:
        store = OrgStore(store_path)
        policy_set = resolve_policies(policies, store).policies
        with progress("planning") as bar:
            made = plan_org(store, policy_set, org_id, usage, day, impact, bar)
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    text = json.dumps(made, indent=2) + "\n"
    if out is not None:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandFailed(f"{out}: cannot write the plan: {exc.strerror}") from None
    if output_format == "json":
        click.echo(text, nl=False)
        return
    click.echo(render_plan(made, policy_set.catalogue.label, out))
    if impact:
        click.echo()
        click.echo(render_impact(made["impact"]))


@migrate.command()
@org_id_option
@click.option("--plan", "plan_file", required=True, type=click.Path(path_type=Path))
@click.option(
    "--as", "actor", required=True, help="The CRM admin applying it (the engine decides, D12)."
)
@store_option
@served_policies_option
@decision_log_option(
    "Also append the engine's decisions (one JSON line each) here, as authz serve does."
)
@format_option()
@signing_key_option("the migrated org")
def apply(
    org_id: str,
    plan_file: Path,
    actor: str,
    store_path: StoreLocation | None,
    policies: PolicyRef,
    decision_log: Path | None,
    output_format: str,
    signing_key: Path | None,
) -> None:
    """Apply a plan in one transaction: all of it or nothing. A plan made against an older
    version of the org is refused; the same plan twice changes nothing the second time."""
    try:
        signer = signer_from(signing_key)
        made = strict_loads(read_file(plan_file, "the plan", AuthzError))
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    except json.JSONDecodeError as exc:
        raise CommandFailed(f"{plan_file}: not JSON: {exc.msg} at line {exc.lineno}") from None
    except ValueError as exc:  # not UTF-8, a duplicate key, too deep, a giant integer
        raise CommandFailed(f"{plan_file}: not accepted as JSON: {exc}") from None
    if isinstance(made, dict) and made.get("org") != org_id:
        raise CommandFailed(f"{plan_file}: the plan is for org `{made.get('org')}`, not `{org_id}`")
    try:
        sink = (
            decision_sink(DecisionLog(decision_log, OrgStore(store_path).secret("log-mask")), None)
            if decision_log
            else None
        )
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    try:
        store = OrgStore(store_path)
        policy_set = resolve_policies(policies, store).policies
        done = apply_plan(store, policy_set, made, actor, sink, signer)
    except MigrationRefused as exc:
        click.echo(f"authz: {exc}", err=True)
        raise SystemExit(DENY) from None
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    if output_format == "json":
        click.echo(json.dumps(asdict(done), indent=2))
        return
    if done.changed:
        click.echo(
            f"applied plan {done.plan_id[:12]} to org `{done.org}` as {done.actor}: "
            f"{done.enrolled} enrolments, now version {done.version}"
        )
    else:
        click.echo(
            f"plan {done.plan_id[:12]} was applied to org `{done.org}` already, at {done.at} by "
            f"{done.actor}: nothing changed (version {done.version})"
        )


@migrate.command()
@org_id_option
@store_option
@format_option()
def history(org_id: str, store_path: StoreLocation | None, output_format: str) -> None:
    """Who applied which plan when, and attempts the engine refused."""
    try:
        entries = migration_history(OrgStore(store_path), org_id)
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    if output_format == "json":
        click.echo(json.dumps([e.to_dict() for e in entries], indent=2))
        return
    if not entries:
        click.echo(f"org `{org_id}`: no migration applied or refused yet")
    for e in entries:
        d = e.detail
        if e.action == "migration.apply":
            click.echo(
                f"{e.at}  applied  by {e.actor}  plan {d['plan_id'][:12]}  as of {d['as_of']}  "
                f"{len(d['enrolments'])} enrolments  version {d['version_before']} -> "
                f"{d['version_after']}" + ("  (migration completed)" if d["completes"] else "")
            )
        else:
            first = d["refused"][0]
            click.echo(
                f"{e.at}  refused  by {e.actor}  plan {d['plan_id'][:12]}  "
                f"{first['action']} {first['resource']}: {'; '.join(first.get('reasons', []))}"
            )
