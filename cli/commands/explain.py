"""authz explain: one decision, in words or JSON; exit 0 allow, 1 deny, 2 bad input."""

from __future__ import annotations

import json

import click

from suite_authz.cli.exits import ALLOW, DENY, CommandFailed
from suite_authz.cli.loading import OrgRef, load_engine
from suite_authz.cli.options import (
    context_pairs,
    format_option,
    org_option,
    served_policies_option,
    store_option,
)
from suite_authz.cli.render import render
from suite_authz.engine.core import BACKENDS, AuthzError, Request, parse_resource
from suite_authz.engine.sources import PolicyRef
from suite_authz.engine.store import StoreLocation


@click.command()
@org_option(required=True, help="The org the user belongs to.")
@store_option
@click.option("--subject", required=True, help="The acting CRM user's id.")
@click.option("--action", required=True, help="view, create, edit, ... (see docs/rules.md).")
@click.option(
    "--resource",
    required=True,
    metavar="TYPE[:ID]",
    help="Resource type, and the record's id when it exists.",
)
@click.option("--channel", default="crm", show_default=True, help="crm or direct.")
@click.option(
    "--field",
    "fields",
    multiple=True,
    help="A field the edit touches, as policies/modules.json spells it (repeatable).",
)
@click.option(
    "--context",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="acting_as, sender, product (enrolment), enrolments (migration).",
)
@format_option()
@served_policies_option
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="cedar",
    show_default=True,
    help="Which encoding decides: Cedar (primary) or Polar (the second, independent one).",
)
def explain(
    org: OrgRef,
    store_path: StoreLocation | None,
    subject: str,
    action: str,
    resource: str,
    channel: str,
    fields: tuple[str, ...],
    pairs: tuple[str, ...],
    output_format: str,
    policies: PolicyRef,
    backend: str,
) -> None:
    """Explain one decision: allow or deny, which rules and policies, what was missing, as whom."""
    engine, resolved = load_engine(org, policies, store_path, backend)
    kind, rid = parse_resource(resource)
    request = Request(subject, action, kind, rid, channel, fields, context_pairs(pairs))
    try:
        decision = engine.decide(engine.validate(request))
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    if output_format == "json":
        out = {"request": request.to_dict(), **decision.to_dict()}
        out["policy_source"] = resolved.source.value
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(render(decision, request, engine.policies.catalogue, resolved.describe()))
    raise SystemExit(ALLOW if decision.allowed else DENY)
