"""authz plan: which records of a type a user may act on, as a condition, in words and as SQL
for the example schema; exit 0 when some record can be admitted, 1 when none, 2 when the
request is bad or the policy set cannot be planned (nothing was decided)."""

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
from suite_authz.cli.render_query_plan import sql, table_of
from suite_authz.engine.core import AuthzError, Plan, Request
from suite_authz.engine.sources import PolicyRef
from suite_authz.engine.store import StoreLocation


@click.command()
@org_option(required=True, help="The org the user belongs to.")
@store_option
@click.option("--subject", required=True, help="The acting CRM user's id.")
@click.option("--action", required=True, help="view, edit, approve, ... (see docs/rules.md).")
@click.option("--type", "kind", required=True, help="The record type: invoice, estimate, ...")
@click.option("--channel", default="crm", show_default=True, help="crm or direct.")
@click.option(
    "--field",
    "fields",
    multiple=True,
    help="A field every edit touches, as policies/modules.json spells it (repeatable).",
)
@click.option(
    "--context",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="acting_as, sender.",
)
@format_option()
@served_policies_option
def plan(
    org: OrgRef,
    store_path: StoreLocation | None,
    subject: str,
    action: str,
    kind: str,
    channel: str,
    fields: tuple[str, ...],
    pairs: tuple[str, ...],
    output_format: str,
    policies: PolicyRef,
) -> None:
    """Plan a list view: the records of --type that --subject may --action, as a condition on
    the record's own attributes (a filter your database runs), not one decision per record."""
    engine, resolved = load_engine(org, policies, store_path, "cedar")
    request = Request(subject, action, kind, None, channel, fields, context_pairs(pairs))
    try:
        planned = engine.plan(engine.validate(request))
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    out = planned.to_dict()
    if output_format == "json":
        out["sql"] = _where(planned, out)
        out["policy_source"] = resolved.source.value
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(_words(planned, out, resolved.describe()))
    raise SystemExit(DENY if planned.kind == "never" else ALLOW)


def _where(planned: Plan, out: dict[str, object]) -> str:
    tree = out["condition"]
    assert isinstance(tree, dict)
    return f"SELECT id FROM {table_of(planned.resource_type)} WHERE {sql(tree)}"


def _words(planned: Plan, out: dict[str, object], source: str) -> str:
    who, what = planned.subject, planned.resource_type
    if planned.kind == "never":
        lines = [f"{who} may {planned.action} no {what} record."]
        if planned.denied is not None:
            lines += [f"  because: {reason}" for reason in planned.denied.reasons]
            lines += [f"  missing: {item}" for item in planned.denied.missing]
        else:
            lines.append("  no policy permits it for any record (authz explain shows one)")
    else:
        lines = [
            f"{who} may {planned.action} the {what} records where:",
            f"  {planned.in_words()}",
            "",
            "as SQL on the example schema (docs/api.md):",
            f"  {_where(planned, out)}",
        ]
        if planned.action == "view":
            hidden = ", ".join(planned.redact_fields) or "none"
            lines.append(f"fields hidden in every record shown: {hidden}")
    lines.append(f"policies: {source} ({planned.policy_version})")
    return "\n".join(lines)
